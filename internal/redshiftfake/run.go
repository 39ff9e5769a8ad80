package redshiftfake

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// serializationError is Redshift's text for an aborted serializable
// transaction.
const serializationError = "ERROR: 1023 DETAIL: Serializable isolation violation on table - 142046, transactions forming the cycle are: 4118, 4120 (pid:12345)"

// sqlError is a statement's failure as the service reports it.
type sqlError struct{ msg string }

func (e *sqlError) Error() string { return e.msg }

func failf(format string, args ...any) error {
	return &sqlError{"ERROR: " + fmt.Sprintf(format, args...)}
}

// message renders an error as the Data API's Error text.
func message(err error) string {
	var se *sqlError
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &se):
		return se.msg
	case errors.As(err, &pe):
		m := "ERROR: " + pe.Message
		if pe.Detail != "" {
			m += " DETAIL: " + pe.Detail
		}
		return m
	}
	return "ERROR: " + err.Error()
}

func (s *Server) set(st *statement, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	st.updated = time.Now()
}

// run executes st in one transaction and records the outcome.
func (s *Server) run(st *statement) {
	defer close(st.done)
	time.Sleep(s.o.StartDelay)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s.set(st, func() {
		st.status = statusStarted
		for _, ss := range st.subs {
			ss.status = statusStarted
		}
		s.log = append(s.log, st.sqls...)
		if st.batch {
			s.batches = append(s.batches, st.sqls)
		}
	})
	fail := func(i int, err error) {
		msg := message(err)
		s.set(st, func() {
			st.status, st.err = statusFailed, msg
			for j, ss := range st.subs {
				switch {
				case j < i:
					ss.status = statusFinished
				case j == i:
					ss.status, ss.err = statusFailed, msg
				default:
					ss.status = statusAborted
				}
			}
		})
	}
	// The byte-limited domains the statements use are created first:
	// creating one takes a connection of its own (outside any
	// transaction), and statements each holding their transaction's
	// connection while waiting for another would exhaust the pool.
	for i, ss := range st.subs {
		if isCopy(ss.sql) {
			continue
		}
		_, domains, err := translate(ss.sql, st.batch)
		if err != nil {
			continue // runOne reports it at its statement
		}
		if err := s.ensureDomains(ctx, domains); err != nil {
			fail(i, err)
			return
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		fail(0, err)
		return
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		fail(0, err)
		return
	}
	defer tx.Rollback(context.Background())
	for i, ss := range st.subs {
		s.mu.Lock()
		s.queryID++
		ss.queryID = s.queryID
		cancelled := st.cancelled
		s.mu.Unlock()
		if cancelled {
			fail(i, failf("Query (%d) cancelled on user's request", ss.queryID))
			return
		}
		start := time.Now()
		if err := s.runOne(ctx, tx, st, ss); err != nil {
			fail(i, err)
			return
		}
		s.set(st, func() { ss.duration = time.Since(start) })
	}
	s.mu.Lock()
	inject := s.fail1023 > 0
	if inject {
		s.fail1023--
	}
	s.mu.Unlock()
	if inject {
		fail(len(st.subs)-1, &sqlError{serializationError})
		return
	}
	if err := tx.Commit(ctx); err != nil {
		fail(len(st.subs)-1, err)
		return
	}
	s.set(st, func() {
		st.status = statusFinished
		for _, ss := range st.subs {
			ss.status = statusFinished
		}
	})
}

// runOne runs one statement of st inside tx.
func (s *Server) runOne(ctx context.Context, tx pgx.Tx, st *statement, ss *subStatement) error {
	if isCopy(ss.sql) {
		n, err := s.copy(ctx, tx, ss)
		if err != nil {
			return err
		}
		s.set(st, func() { ss.rows = n })
		return nil
	}
	q, _, err := translate(ss.sql, st.batch) // its domains exist (run)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, q, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	var records [][]map[string]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		rec := make([]map[string]any, len(vals))
		for i, v := range vals {
			rec[i] = field(v)
		}
		records = append(records, rec)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	tag := rows.CommandTag()
	s.set(st, func() {
		if len(fds) > 0 && tag.Select() {
			ss.hasResult = true
			ss.rows = int64(len(records))
			ss.records = records
			for _, fd := range fds {
				ss.columns = append(ss.columns, column{name: fd.Name, typeName: typeName(fd.DataTypeOID)})
			}
		} else {
			ss.rows = tag.RowsAffected()
			if !(tag.Insert() || tag.Update() || tag.Delete()) {
				ss.rows = -1
			}
		}
	})
	return nil
}

// field is a value as a Data API Field union member.
func field(v any) map[string]any {
	switch x := v.(type) {
	case nil:
		return map[string]any{"isNull": true}
	case int16:
		return map[string]any{"longValue": int64(x)}
	case int32:
		return map[string]any{"longValue": int64(x)}
	case int64:
		return map[string]any{"longValue": x}
	case float32:
		return map[string]any{"doubleValue": float64(x)}
	case float64:
		return map[string]any{"doubleValue": x}
	case bool:
		return map[string]any{"booleanValue": x}
	case []byte:
		return map[string]any{"blobValue": base64.StdEncoding.EncodeToString(x)}
	case string:
		return map[string]any{"stringValue": x}
	case time.Time:
		return map[string]any{"stringValue": x.UTC().Format("2006-01-02 15:04:05.999999")}
	case pgtype.Numeric:
		if !x.Valid {
			return map[string]any{"isNull": true}
		}
		return map[string]any{"stringValue": numericText(x)}
	}
	return map[string]any{"stringValue": fmt.Sprint(v)}
}

// numericText is a numeric's exact decimal text.
func numericText(n pgtype.Numeric) string {
	if n.NaN {
		return "NaN"
	}
	digits := new(big.Int).Abs(n.Int).String()
	neg := n.Int.Sign() < 0
	if n.Exp >= 0 {
		digits += strings.Repeat("0", int(n.Exp))
	} else {
		scale := int(-n.Exp)
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func typeName(oid uint32) string {
	switch oid {
	case pgtype.Int2OID:
		return "int2"
	case pgtype.Int4OID:
		return "int4"
	case pgtype.Int8OID:
		return "int8"
	case pgtype.Float8OID:
		return "float8"
	case pgtype.BoolOID:
		return "bool"
	case pgtype.NumericOID:
		return "numeric"
	case pgtype.ByteaOID:
		return "varbyte"
	case pgtype.TimestamptzOID:
		return "timestamptz"
	case pgtype.TimestampOID:
		return "timestamp"
	case pgtype.DateOID:
		return "date"
	}
	return "varchar"
}
