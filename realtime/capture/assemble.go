package capture

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
)

// assembler turns the binlog's event sequence into committed transactions.
// It is fed every event of one replication session in order and returns a
// Txn at each commit: an XID event (InnoDB), a QUERY "COMMIT" (MyISAM and
// other non-transactional engines), or a statement that is an event group
// of its own (DDL). A QUERY "ROLLBACK" ends the group with its rows
// dropped.
//
// The row events of a group are appended as they arrive, so a transaction
// of n rows costs O(n); its events are handed off with the Txn and never
// copied again.
type assembler struct {
	log    *slog.Logger
	tables *tableCache
	// file is the binlog file the events come from, advanced by rotate
	// events (the first event of every session is a rotate naming the
	// file it starts in).
	file string
	gtid string
	// open: inside an event group begun by BEGIN or by a MariaDB GTID event
	// without FL_STANDALONE.
	open       bool
	events     []formats.Event
	savepoints []savepoint
	// sizeHint is the number of events of the last transaction with any,
	// at most maxSizeHint: the next transaction's events start with that
	// capacity, as transactions of one stream tend to be alike, so that a
	// large one is not grown by doubling (twice its size in garbage).
	sizeHint int
	// heartbeat is the heartbeat table (zero: none); beat is the time the
	// open group's heartbeat row holds, commitUS MySQL 8's
	// immediate_commit_timestamp of its GTID event: both stamp the Txn
	// more precisely than the event header's whole seconds.
	heartbeat formats.TableID
	beat      time.Time
	commitUS  uint64
	// lazyMeta: go-mysql leaves the table maps' optional metadata
	// undecoded (see Capture.session); raw is the raw event being fed (nil
	// inside a transaction payload), fde the stream's last format
	// description event and fdeRaw its raw event.
	lazyMeta bool
	raw      []byte
	fde      *replication.FormatDescriptionEvent
	fdeRaw   []byte
}

// maxSizeHint bounds assembler.sizeHint, and so what a small transaction
// after a large one holds unused: 16,384 events of about 150 bytes.
const maxSizeHint = 16384

type savepoint struct {
	name string
	n    int
}

func newAssembler(log *slog.Logger, tables *tableCache, file string, heartbeat formats.TableID) *assembler {
	return &assembler{log: log, tables: tables, file: file, heartbeat: heartbeat}
}

// at names the position of the event with header h, for error messages.
func (a *assembler) at(h *replication.EventHeader) string {
	return fmt.Sprintf("%s:%d", a.file, h.LogPos)
}

// feed handles one event. It returns the transaction the event commits, if
// any; the Txn has no Events when the group touched no captured table.
func (a *assembler) feed(ev *replication.BinlogEvent) (*formats.Txn, error) {
	a.raw = ev.RawData
	defer func() { a.raw = nil }()
	return a.feedEvent(ev.Header, ev.Event, ev.Header.LogPos)
}

// tableMap records a table map event whose optional metadata go-mysql
// left undecoded: its body (the event without header and checksum) is
// compared with the last one of its table id, and only a different one is
// parsed again in full, by a parser of its own (a new one each time: a
// parser keeps every table map it parsed).
func (a *assembler) tableMap(h *replication.EventHeader, tm *replication.TableMapEvent) error {
	if a.raw == nil || a.fde == nil {
		return fatal(fmt.Errorf("binlog at %s: a table map without its raw event or a format description before it", a.at(h)))
	}
	body := a.raw[replication.EventHeaderSize:]
	if a.fde.ChecksumAlgorithm == replication.BINLOG_CHECKSUM_ALG_CRC32 {
		body = body[:len(body)-replication.BinlogChecksumLength]
	}
	raw := a.raw
	full := func() (*replication.TableMapEvent, error) {
		p := replication.NewBinlogParser()
		p.SetFlavor(FlavorMariaDB)
		if _, err := p.Parse(a.fdeRaw); err != nil {
			return nil, fmt.Errorf("parsing the format description: %w", err)
		}
		ev, err := p.Parse(raw)
		if err != nil {
			return nil, err
		}
		full, ok := ev.Event.(*replication.TableMapEvent)
		if !ok {
			return nil, fmt.Errorf("parsed a %T, not a table map", ev.Event)
		}
		return full, nil
	}
	if err := a.tables.observeRaw(tm, body, full); err != nil {
		return fatal(fmt.Errorf("reading table map at %s: %w", a.at(h), err))
	}
	return nil
}

// feedEvent handles event e with header h; end is the end offset of the
// event in the binlog file (it differs from h.LogPos for events inside a
// MySQL transaction payload, whose commit ends where the payload ends).
func (a *assembler) feedEvent(h *replication.EventHeader, e replication.Event, end uint32) (*formats.Txn, error) {
	switch e := e.(type) {
	case *replication.RotateEvent:
		a.file = string(e.NextLogName)
	case *replication.FormatDescriptionEvent:
		if a.lazyMeta && a.raw != nil {
			a.fde, a.fdeRaw = e, a.raw
		}
	case *replication.TableMapEvent:
		if a.lazyMeta {
			if err := a.tableMap(h, e); err != nil {
				return nil, err
			}
		}
	case *replication.MariadbGTIDEvent:
		if err := a.begin(h); err != nil {
			return nil, err
		}
		a.gtid = e.GTID.String()
		a.open = !e.IsStandalone()
	case *replication.GTIDEvent:
		if err := a.begin(h); err != nil {
			return nil, err
		}
		a.gtid, a.commitUS = mysqlGTID(e), e.ImmediateCommitTimestamp
	case *replication.GtidTaggedLogEvent:
		if err := a.begin(h); err != nil {
			return nil, err
		}
		a.gtid, a.commitUS = mysqlGTID(&e.GTIDEvent), e.ImmediateCommitTimestamp
	case *replication.RowsEvent:
		a.open = true
		if err := decodePending(e); err != nil {
			return nil, fatal(fmt.Errorf("decoding binlog %s event ending at offset %d of %s: %w", h.EventType, h.LogPos, a.file, err))
		}
		if err := a.rows(h, e); err != nil {
			return nil, err
		}
	case *replication.XIDEvent:
		return a.commit(h, end), nil
	case *replication.QueryEvent:
		return a.query(h, e, end)
	case *replication.MariadbBinlogCheckPointEvent:
		// MariaDB writes these outside any group (at the start of every
		// binlog file, and when InnoDB has made earlier commits durable),
		// and SHOW MASTER STATUS, the snapshot position of a bootstrap or
		// verify, then ends after one. An empty Txn there lets checkpoints
		// reach that position although no transaction follows.
		if !a.open && len(a.events) == 0 {
			return a.commit(h, end), nil
		}
		return nil, nil
	case *replication.TransactionPayloadEvent:
		var txn *formats.Txn
		for _, inner := range e.Events {
			t, err := a.feedEvent(inner.Header, inner.Event, end)
			if err != nil {
				return nil, err
			}
			if t != nil {
				if txn != nil {
					return nil, fatal(fmt.Errorf("transaction payload at %s commits twice", a.at(h)))
				}
				txn = t
			}
		}
		return txn, nil
	}
	// Table maps are read from each rows event (RowsEvent.Table is the map
	// it was decoded with); format descriptions, GTID lists, checkpoints,
	// annotations and heartbeats carry nothing to deliver.
	return nil, nil
}

// begin starts a new event group at a GTID event.
func (a *assembler) begin(h *replication.EventHeader) error {
	if len(a.events) > 0 {
		return fatal(fmt.Errorf("binlog at %s: a new transaction starts before transaction %s committed", a.at(h), a.gtid))
	}
	a.reset()
	return nil
}

func (a *assembler) reset() {
	a.gtid, a.open, a.events, a.savepoints = "", false, nil, nil
	a.beat, a.commitUS = time.Time{}, 0
}

func mysqlGTID(e *replication.GTIDEvent) string {
	if e.GNO == 0 { // ANONYMOUS_GTID_LOG_EVENT: gtid_mode=OFF
		return ""
	}
	if len(e.SID) != 16 {
		return ""
	}
	s := hex.EncodeToString(e.SID)
	id := s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
	if tag := e.Tag.String(); tag != "" { // MySQL ≥ 8.3 tagged GTIDs: uuid:tag:gno
		id += ":" + tag
	}
	return id + ":" + strconv.FormatInt(e.GNO, 10)
}

func (a *assembler) commit(h *replication.EventHeader, end uint32) *formats.Txn {
	pos := formats.Position{File: a.file, Offset: end, GTID: a.gtid}
	txn := &formats.Txn{Pos: pos, CommitTime: time.Unix(int64(h.Timestamp), 0).UTC(), Events: a.events}
	switch {
	case !a.beat.IsZero():
		txn.Stamp = formats.Stamp{Time: a.beat, Clock: formats.ClockHeartbeat}
	case a.commitUS > 0:
		txn.Stamp = formats.Stamp{Time: time.UnixMicro(int64(a.commitUS)).UTC(), Clock: formats.ClockCommitMicros}
	default:
		txn.Stamp = formats.Stamp{Time: txn.CommitTime, Clock: formats.ClockCommitSeconds}
	}
	if n := len(a.events); n > 0 {
		a.sizeHint = min(n, maxSizeHint)
	}
	for i := range txn.Events {
		txn.Events[i].Pos = pos
		txn.Events[i].Pos.Row = uint32(i + 1)
	}
	a.reset()
	return txn
}

// query handles a QUERY event: transaction control, DDL, or (refused) a
// statement-logged row change.
func (a *assembler) query(h *replication.EventHeader, e *replication.QueryEvent, end uint32) (*formats.Txn, error) {
	q := strings.TrimSpace(stripComments(string(e.Query)))
	kw, rest := cutWord(q)
	switch strings.ToUpper(kw) {
	case "BEGIN":
		a.open = true
		return nil, nil
	case "COMMIT":
		return a.commit(h, end), nil
	case "ROLLBACK":
		if w, _ := cutWord(rest); strings.EqualFold(w, "TO") {
			a.rollbackTo(savepointName(rest))
			return nil, nil
		}
		// The group is logged but undone (a transaction that mixed
		// engines): nothing of it is committed. Its end is still a
		// boundary the position may move to.
		a.events = nil
		return a.commit(h, end), nil
	case "SAVEPOINT":
		a.savepoints = append(a.savepoints, savepoint{name: strings.Trim(strings.TrimSpace(rest), "`"), n: len(a.events)})
		return nil, nil
	case "TRUNCATE", "DROP":
		truncated, dropped := a.unloggedDelete(string(e.Schema), q)
		if len(truncated) > 0 {
			return nil, fatal(fmt.Errorf("%w: %s at %s (%.80s): the binlog does not list the deleted rows; "+
				"re-bootstrap with --rebootstrap (and use DELETE, which is logged row by row, to empty a captured table)",
				ErrUnloggedDelete, truncated[0], a.at(h), q))
		}
		for _, t := range dropped {
			a.log.Warn("a captured table was dropped on the source; its last rows stay in the captured state",
				slog.String("table", t.String()), slog.String("at", a.at(h)))
		}
	case "XA":
		return nil, fatal(fmt.Errorf("%w: binlog at %s: XA transactions are not supported (%.60s)", ErrPrerequisite, a.at(h), q))
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD":
		if a.mentionsCaptured(string(e.Schema), q) {
			return nil, fatal(fmt.Errorf("%w: binlog at %s holds a statement-logged row change in a captured database (%.80s); "+
				"set binlog_format=ROW globally (SET GLOBAL binlog_format=ROW and binlog_format=ROW in my.cnf; on RDS, in the "+
				"parameter group) and do not override it per session", ErrPrerequisite, a.at(h), q))
		}
	}
	if a.open {
		// A statement inside a group (CREATE TABLE ... SELECT logs its
		// CREATE before the rows): the group's own commit ends it.
		return nil, nil
	}
	// A statement that is a group of its own: DDL. Its end is a commit.
	a.events = nil
	return a.commit(h, end), nil
}

func (a *assembler) rollbackTo(name string) {
	for i := len(a.savepoints) - 1; i >= 0; i-- {
		if a.savepoints[i].name == name {
			a.events = a.events[:a.savepoints[i].n]
			a.savepoints = a.savepoints[:i+1]
			return
		}
	}
}

// savepointName reads the name of "TO [SAVEPOINT] name".
func savepointName(rest string) string {
	_, rest = cutWord(rest) // TO
	w, r := cutWord(rest)
	if strings.EqualFold(w, "SAVEPOINT") {
		w, _ = cutWord(r)
	}
	return strings.Trim(w, "`")
}

// mentionsCaptured is a conservative test of whether a statement may touch
// a captured table: its default database or its text names a captured
// database.
func (a *assembler) mentionsCaptured(schema, q string) bool {
	if a.tables.captured.hasDB(schema) {
		return true
	}
	lq := strings.ToLower(q)
	for db := range a.tables.captured.dbs {
		if strings.Contains(lq, strings.ToLower(db)) {
			return true
		}
	}
	for t := range a.tables.captured.tables {
		if strings.Contains(lq, strings.ToLower(t.DB)) {
			return true
		}
	}
	return false
}

func (a *assembler) rows(h *replication.EventHeader, e *replication.RowsEvent) error {
	ent, err := a.tables.observe(e.Table)
	if err != nil {
		return fatal(fmt.Errorf("reading table map at %s: %w", a.at(h), err))
	}
	if !ent.captured {
		return nil
	}
	if img := partialImage(e); img != "" {
		return fatal(fmt.Errorf("%w: %w: binlog at %s: the %s of a row of %s lacks columns, so the change cannot be applied; set binlog_row_image=FULL "+
			"(SET GLOBAL binlog_row_image=FULL and binlog_row_image=FULL in my.cnf; on RDS, in the parameter group), "+
			"and do not override it per session (SET SESSION binlog_row_image); the change cannot be recovered from the binlog, so bootstrap the views again",
			ErrPrerequisite, ErrPartialRowImage, a.at(h), img, ent.table))
	}
	s := ent.schema
	if s.Table == a.heartbeat {
		a.readBeat(s, e)
	}
	if a.events == nil && a.sizeHint > 0 {
		a.events = make([]formats.Event, 0, max(a.sizeHint, len(e.Rows)))
	}
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		for _, r := range e.Rows {
			after, err := a.convert(h, s, r)
			if err != nil {
				return err
			}
			a.events = append(a.events, formats.Event{Table: s.Table, Op: formats.OpInsert, After: after, Schema: s})
		}
	case replication.EnumRowsEventTypeDelete:
		for _, r := range e.Rows {
			before, err := a.convert(h, s, r)
			if err != nil {
				return err
			}
			a.events = append(a.events, formats.Event{Table: s.Table, Op: formats.OpDelete, Before: before, Schema: s})
		}
	case replication.EnumRowsEventTypeUpdate:
		if len(e.Rows)%2 != 0 {
			return fatal(fmt.Errorf("decoding update of %s at %s: odd number of row images", s.Table, a.at(h)))
		}
		for i := 0; i < len(e.Rows); i += 2 {
			before, err := a.convert(h, s, e.Rows[i])
			if err != nil {
				return err
			}
			after, err := a.convert(h, s, e.Rows[i+1])
			if err != nil {
				return err
			}
			a.events = append(a.events, formats.Event{Table: s.Table, Op: formats.OpUpdate, Before: before, After: after, Schema: s})
		}
	default:
		// PARTIAL_UPDATE_ROWS_EVENT (MySQL binlog_row_value_options=PARTIAL_JSON)
		// carries JSON diffs, not values.
		return fatal(fmt.Errorf("%w: binlog at %s: rows event type %s of %s is not supported; "+
			"set binlog_row_value_options='' on the source", ErrPrerequisite, a.at(h), h.EventType, s.Table))
	}
	if ent.proj != nil {
		ent.proj.events(a.events[len(a.events)-rowChanges(e):])
	}
	return nil
}

// readBeat notes the time the heartbeat table's last row image in e holds
// (its "at" column, written with UTC_TIMESTAMP(6)); a column without a
// fraction is no better than the commit's second and is ignored.
func (a *assembler) readBeat(s *formats.TableSchema, e *replication.RowsEvent) {
	col := -1
	for i, c := range s.Columns {
		if c.Name == "at" && (c.Type.Kind == formats.KindDateTime || c.Type.Kind == formats.KindTimestamp) && c.Type.FSP > 0 {
			col = i
		}
	}
	if col < 0 || len(e.Rows) == 0 || e.Type() == replication.EnumRowsEventTypeDelete {
		return
	}
	// Read before convert replaces the values in place: the raw value is
	// the "YYYY-MM-DD HH:MM:SS.ffffff" string go-mysql (and datetime.go)
	// render.
	raw := e.Rows[len(e.Rows)-1]
	if col >= len(raw) {
		return
	}
	v, err := formats.FromBinlog(s.Columns[col].Type, raw[col])
	if t, ok := v.(time.Time); err == nil && ok {
		a.beat = t
	}
}

// convert turns go-mysql's decoded values into the canonical Go values of
// the type map, in place: go-mysql allocates each row afresh.
func (a *assembler) convert(h *replication.EventHeader, s *formats.TableSchema, raw []any) (formats.Row, error) {
	if len(raw) != len(s.Columns) {
		return nil, fatal(fmt.Errorf("decoding row of %s at %s: %d values for %d columns", s.Table, a.at(h), len(raw), len(s.Columns)))
	}
	for i, v := range raw {
		if v == nil {
			continue
		}
		cv, err := formats.FromBinlog(s.Columns[i].Type, v)
		if err != nil {
			return nil, fatal(fmt.Errorf("decoding %s column %s at %s: %w", s.Table, s.Columns[i].Name, a.at(h), err))
		}
		raw[i] = cv
	}
	return formats.Row(raw), nil
}

// cutWord splits s after its first word.
func cutWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t\r\n")
	i := strings.IndexAny(s, " \t\r\n")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// stripComments removes leading /* ... */ comments (MariaDB and MySQL
// prefix some logged statements with version comments).
func stripComments(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n")
		if !strings.HasPrefix(q, "/*") || strings.HasPrefix(q, "/*!") {
			return q
		}
		i := strings.Index(q, "*/")
		if i < 0 {
			return q
		}
		q = q[i+2:]
	}
}
