package capture

import (
	"errors"
	"fmt"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	sqlmysql "github.com/go-sql-driver/mysql"

	"github.com/tidemark/tidemark/formats"
)

// ErrPurged is matched (errors.Is) by the error Stream returns when the
// binlog file it needs to resume from is no longer on the source. Nothing
// can be recovered from the binlog: the target must be re-bootstrapped.
var ErrPurged = errors.New("binlog position purged on the source")

// ErrPrerequisite is matched by errors Stream returns when the binlog
// itself shows that the source is not configured as Tidemark needs
// (statement-based logging, partial row images, no full row metadata).
var ErrPrerequisite = errors.New("source prerequisite not met")

// ErrPartialRowImage is matched (beside ErrPrerequisite) by the error
// Stream returns when a rows event of a captured table does not carry every
// column (binlog_row_image=MINIMAL or NOBLOB, set globally or by one
// session): the row's other values are unknown, so the change cannot be
// applied. The transaction holding it is never delivered.
var ErrPartialRowImage = errors.New("partial row image in the binlog")

// ErrUnloggedDelete is matched by the error Stream returns when a
// statement emptied a captured table without logging its rows (TRUNCATE
// TABLE): the deletes cannot be delivered, so the captured state would
// silently diverge from the source. Re-bootstrap the table.
var ErrUnloggedDelete = errors.New("rows of a captured table were deleted without row events")

// purgedError names the position that is gone and how to recover.
type purgedError struct {
	pos    formats.Position
	detail string
}

func (e *purgedError) Error() string {
	return fmt.Sprintf("the binlog file %s needed to resume from %s has been purged on the source (%s); "+
		"to re-bootstrap from a fresh snapshot (the changelog then records the gap and the next rebuild re-extracts from the source), "+
		"set speed.rebootstrap_on_purge: true (TIDEMARK_SPEED_REBOOTSTRAP_ON_PURGE=true) and start again; "+
		"to keep this from recurring, raise binlog retention (binlog_expire_logs_seconds / expire_logs_days)",
		e.pos.File, e.pos, e.detail)
}

func (e *purgedError) Is(target error) bool { return target == ErrPurged }

// fatalError marks an error that reconnecting cannot cure.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func fatal(err error) error { return &fatalError{err: err} }

// MySQL error codes that end a replication session for good.
var fatalCodes = map[uint16]bool{
	gomysql.ER_ACCESS_DENIED_ERROR:               true, // 1045
	gomysql.ER_DBACCESS_DENIED_ERROR:             true, // 1044
	gomysql.ER_SPECIFIC_ACCESS_DENIED_ERROR:      true, // 1227: no REPLICATION SLAVE
	gomysql.ER_TABLEACCESS_DENIED_ERROR:          true, // 1142
	gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG: true, // 1236
	gomysql.ER_NOT_SUPPORTED_AUTH_MODE:           true, // 1251
}

// classify turns a session error into what Stream does with it: a fatal
// error (returned), or a retryable one (reconnect). The 1236 family is
// split into ErrPurged and other fatal binlog errors.
func classify(err error, pos formats.Position) (retry bool, out error) {
	var fe *fatalError
	if errors.As(err, &fe) {
		return false, fe.err
	}
	if errors.Is(err, ErrPurged) {
		return false, err
	}
	var se *sqlmysql.MySQLError // from the SQL connection (SHOW BINARY LOGS)
	if errors.As(err, &se) && fatalCodes[se.Number] {
		return false, fmt.Errorf("reading binlog from %s: %w", pos, err)
	}
	var ee *replication.EventError
	if errors.As(err, &ee) {
		// The bytes were read whole (a short read is a connection error), so
		// decoding them again would fail again. Its message quotes the whole
		// event: keep the header's facts only.
		return false, fmt.Errorf("decoding binlog %s event ending at offset %d (resuming after %s): %s",
			ee.Header.EventType, ee.Header.LogPos, pos, ee.Err)
	}
	var me *gomysql.MyError
	if errors.As(err, &me) {
		if me.Code == gomysql.ER_MASTER_FATAL_ERROR_READING_BINLOG && isPurgedMessage(me.Message) {
			return false, &purgedError{pos: pos, detail: me.Message}
		}
		if fatalCodes[me.Code] {
			return false, fmt.Errorf("reading binlog from %s: %w", pos, err)
		}
	}
	return true, err
}

// isPurgedMessage recognises the texts of error 1236 that mean "the file or
// GTID you asked for is no longer in the binlog index".
func isPurgedMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "could not find first log file name") ||
		strings.Contains(m, "purged") ||
		strings.Contains(m, "could not find gtid state")
}
