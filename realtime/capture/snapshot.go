package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// Progress reports a running Snapshot.
type Progress struct {
	Table formats.TableID
	// Rows read of Table so far, and the estimated total (the server's
	// TABLE_ROWS statistic: approximate for InnoDB; 0 when unknown).
	Rows, Estimate int64
	// Tables done and in all, and rows read of every table so far.
	TablesDone, Tables int
	TotalRows          int64
	// RowsPerSecond is the read rate since the snapshot began.
	RowsPerSecond float64
	Elapsed       time.Duration
	// Done is set on the last report of a table.
	Done bool
}

// Snapshot reads every row of tables as of one consistent point and returns
// that point: the commit position after which Stream delivers exactly the
// transactions the snapshot does not contain.
//
// On MariaDB the point is taken without any lock: START TRANSACTION WITH
// CONSISTENT SNAPSHOT on one connection, then the binlog_snapshot_file and
// binlog_snapshot_position status, which the server fixes atomically with
// the read view. On MySQL, FLUSH TABLES WITH READ LOCK is held only while
// the transaction starts and SHOW BINARY LOG STATUS is read (needs RELOAD).
// Only transactional (InnoDB) tables are consistent under a snapshot.
//
// Each table's schema is read from information_schema while the table's
// metadata lock is held, so it is the schema its rows were read under; the
// lock is released (ROLLBACK TO SAVEPOINT) when the table is done, so DDL on
// other tables only waits for the table being read. A table altered after
// the snapshot began fails the snapshot ("Table definition has changed"):
// call again.
//
// Rows are streamed from the server, never buffered: emit is called once
// per row, in the order the server returns them, with a freshly allocated
// r that it may keep. An error from emit stops the snapshot and is
// returned. progress (may be nil) is called about once a second and once
// at the end of each table.
func (c *Capture) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error,
	progress func(Progress)) (formats.Position, error) {
	conn, err := c.conn(ctx)
	if err != nil {
		return formats.Position{}, err
	}
	defer conn.Close()

	pos, err := c.beginSnapshot(ctx, conn)
	if err != nil {
		return formats.Position{}, err
	}
	// Ends the read-only transaction whatever happens; a failure after the
	// rows were read changes nothing.
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck

	estimates, err := c.tableRows(ctx, conn, tables)
	if err != nil {
		return formats.Position{}, err
	}
	sr := &snapshotRun{c: c, conn: conn, emit: emit, progress: progress, start: time.Now(), tables: len(tables)}
	for i, t := range tables {
		if err := sr.table(ctx, t, estimates[t]); err != nil {
			return formats.Position{}, fmt.Errorf("snapshotting %s at %s: %w", t, pos, err)
		}
		sr.done = i + 1
	}
	return pos, nil
}

// beginSnapshot starts the consistent-snapshot transaction on conn and
// returns its binlog position.
func (c *Capture) beginSnapshot(ctx context.Context, conn *sql.Conn) (formats.Position, error) {
	exec := func(q string) error {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("starting snapshot (%s): %w", q, err)
		}
		return nil
	}
	if err := exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return formats.Position{}, err
	}
	if c.cfg.Flavor == FlavorMySQL {
		return c.beginSnapshotMySQL(ctx, conn, exec)
	}
	if err := exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return formats.Position{}, err
	}
	rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return formats.Position{}, fmt.Errorf("reading snapshot position: %w", err)
	}
	recs, err := scanAll(rows)
	if err != nil {
		return formats.Position{}, fmt.Errorf("reading snapshot position: %w", err)
	}
	var pos formats.Position
	for _, r := range recs {
		switch strings.ToLower(r["Variable_name"]) {
		case "binlog_snapshot_file":
			pos.File = r["Value"]
		case "binlog_snapshot_position":
			off, err := strconv.ParseUint(r["Value"], 10, 32)
			if err != nil {
				return formats.Position{}, fmt.Errorf("reading snapshot position: %q: %w", r["Value"], err)
			}
			pos.Offset = uint32(off)
		}
	}
	if pos.File == "" {
		return formats.Position{}, errors.New("reading snapshot position: the server reports no binlog_snapshot_file: " +
			"binary logging is off (log_bin=ON / log-bin in my.cnf)")
	}
	pos.GTID, err = c.gtidAt(ctx, conn, pos, "")
	if err != nil {
		return formats.Position{}, err
	}
	return pos, nil
}

// beginSnapshotMySQL uses the brief global read lock: MySQL has no
// binlog_snapshot_* status. Not exercised by this package's tests (they
// run MariaDB).
func (c *Capture) beginSnapshotMySQL(ctx context.Context, conn *sql.Conn, exec func(string) error) (formats.Position, error) {
	if err := exec("FLUSH TABLES WITH READ LOCK"); err != nil {
		return formats.Position{}, err
	}
	unlocked := false
	unlock := func() error {
		if unlocked {
			return nil
		}
		unlocked = true
		return exec("UNLOCK TABLES")
	}
	defer unlock() //nolint:errcheck
	if err := exec("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		return formats.Position{}, err
	}
	pos, err := c.masterStatus(ctx, conn)
	if err != nil {
		return formats.Position{}, err
	}
	if err := unlock(); err != nil {
		return formats.Position{}, err
	}
	return pos, nil
}

// tableRows reads the TABLE_ROWS estimate of each table.
func (c *Capture) tableRows(ctx context.Context, q querier, tables []formats.TableID) (map[formats.TableID]int64, error) {
	out := map[formats.TableID]int64{}
	if len(tables) == 0 {
		return out, nil
	}
	where, args := tablesWhere(tables)
	rows, err := q.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("reading table sizes: %w", err)
	}
	recs, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("reading table sizes: %w", err)
	}
	for _, r := range recs {
		n, _ := strconv.ParseInt(r["TABLE_ROWS"], 10, 64)
		out[formats.TableID{DB: r["TABLE_SCHEMA"], Table: r["TABLE_NAME"]}] = n
	}
	return out, nil
}

type snapshotRun struct {
	c        *Capture
	conn     *sql.Conn
	emit     func(ctx context.Context, s *formats.TableSchema, r formats.Row) error
	progress func(Progress)
	start    time.Time
	tables   int
	done     int
	total    int64
}

func (sr *snapshotRun) report(t formats.TableID, rows, estimate int64, done bool) {
	if sr.progress == nil {
		return
	}
	el := time.Since(sr.start)
	p := Progress{Table: t, Rows: rows, Estimate: estimate, TablesDone: sr.done, Tables: sr.tables,
		TotalRows: sr.total, Elapsed: el, Done: done}
	if done {
		p.TablesDone++
	}
	if el > 0 {
		p.RowsPerSecond = float64(sr.total) / el.Seconds()
	}
	sr.progress(p)
}

// table streams one table's rows inside the snapshot transaction.
func (sr *snapshotRun) table(ctx context.Context, t formats.TableID, estimate int64) error {
	exec := func(q string) error {
		_, err := sr.conn.ExecContext(ctx, q)
		return err
	}
	if err := exec("SAVEPOINT tidemark_table"); err != nil {
		return fmt.Errorf("setting savepoint: %w", err)
	}
	from := formats.QuoteIdent(t.DB) + "." + formats.QuoteIdent(t.Table)
	// Takes the table's metadata lock for the transaction (and fails if the
	// table changed since the snapshot began), so the schema read next is
	// the one the rows are read under.
	if err := exec("SELECT 1 FROM " + from + " LIMIT 0"); err != nil {
		return fmt.Errorf("locking table definition: %w", err)
	}
	schemas, err := sr.c.rawSchemas(ctx, sr.conn, []formats.TableID{t})
	if err != nil {
		return err
	}
	s, sel, fix, err := sr.c.captured.policy.snapshotPlan(schemas[t])
	if err != nil {
		return err
	}
	exprs := make([]string, len(sel.Columns))
	for i, col := range sel.Columns {
		exprs[i] = formats.SelectExpr(col)
	}
	if err := sr.rows(ctx, s, sel, fix, "SELECT "+strings.Join(exprs, ", ")+" FROM "+from, estimate); err != nil {
		return err
	}
	// Releases the metadata lock taken since the savepoint (as mysqldump
	// --single-transaction does), so DDL on this table may proceed.
	if err := exec("ROLLBACK TO SAVEPOINT tidemark_table"); err != nil {
		return fmt.Errorf("releasing table: %w", err)
	}
	return nil
}

// rows reads the rows of query q, whose result columns are those of sel,
// and emits them as rows of s. Without a column policy s is sel and fix
// nil; with one, sel holds the source columns the policy keeps (so an
// excluded column is never selected) and fix masks a row's values in place.
func (sr *snapshotRun) rows(ctx context.Context, s, sel *formats.TableSchema, fix func(formats.Row), q string, estimate int64) error {
	rows, err := sr.conn.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("selecting rows: %w", err)
	}
	defer rows.Close()
	raw := make([]sql.RawBytes, len(sel.Columns))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	var n int64
	next := time.Now().Add(time.Second)
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("reading row %d: %w", n+1, err)
		}
		r := make(formats.Row, len(raw))
		for i, b := range raw {
			v, err := formats.FromText(sel.Columns[i].Type, b)
			if err != nil {
				return fmt.Errorf("decoding row %d column %s: %w", n+1, sel.Columns[i].Name, err)
			}
			r[i] = v
		}
		if fix != nil {
			fix(r)
		}
		if err := sr.emit(ctx, s, r); err != nil {
			return err
		}
		n++
		sr.total++
		if n%1024 != 0 {
			continue
		}
		if now := time.Now(); now.After(next) {
			next = now.Add(time.Second)
			sr.report(s.Table, n, estimate, false)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading rows: %w", err)
	}
	sr.report(s.Table, n, estimate, true)
	return nil
}
