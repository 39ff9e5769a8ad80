package capture

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// LogFile is one binlog file of the source, as SHOW BINARY LOGS lists it.
type LogFile struct {
	Name string
	Size int64
}

// BinaryLogs lists the source's binlog files, oldest first.
func (c *Capture) BinaryLogs(ctx context.Context) ([]LogFile, error) {
	rows, err := c.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("listing binary logs of %s: %w", c.addr(), err)
	}
	recs, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("listing binary logs of %s: %w", c.addr(), err)
	}
	files := make([]LogFile, 0, len(recs))
	for _, r := range recs {
		size, err := strconv.ParseInt(r["File_size"], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("listing binary logs of %s: file size %q: %w", c.addr(), r["File_size"], err)
		}
		files = append(files, LogFile{Name: r["Log_name"], Size: size})
	}
	return files, nil
}

// Retention is how long the source keeps a binlog file after it was last
// written (binlog_expire_logs_seconds, or expire_logs_days where the
// former is absent or 0); 0 means forever. With BinaryLogs and the commit
// times of the stream it gives the retention headroom of a checkpoint.
func (c *Capture) Retention(ctx context.Context) (time.Duration, error) {
	vars, err := c.variables(ctx, "binlog_expire_logs_seconds", "expire_logs_days")
	if err != nil {
		return 0, err
	}
	return retention(vars), nil
}

func retention(vars map[string]string) time.Duration {
	if s, err := strconv.ParseInt(vars["binlog_expire_logs_seconds"], 10, 64); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if d, err := strconv.ParseFloat(vars["expire_logs_days"], 64); err == nil && d > 0 {
		return time.Duration(d * float64(24*time.Hour))
	}
	return 0
}

// CurrentPosition returns the source's current binlog position: the end of
// its last committed transaction, with the server's GTID state at that
// point (MariaDB: BINLOG_GTID_POS, e.g. "0-1-42"; MySQL: the executed GTID
// set). Streaming from it delivers every transaction committed after the
// call.
func (c *Capture) CurrentPosition(ctx context.Context) (formats.Position, error) {
	conn, err := c.conn(ctx)
	if err != nil {
		return formats.Position{}, err
	}
	defer conn.Close()
	return c.masterStatus(ctx, conn)
}

// masterStatus reads SHOW MASTER STATUS (SHOW BINARY LOG STATUS on MySQL
// ≥ 8.4, where the old name is gone) on conn.
func (c *Capture) masterStatus(ctx context.Context, conn *sql.Conn) (formats.Position, error) {
	var recs []map[string]string
	var err error
	stmts := []string{"SHOW MASTER STATUS"}
	if c.cfg.Flavor == FlavorMySQL {
		stmts = []string{"SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"}
	}
	for _, q := range stmts {
		var rows *sql.Rows
		rows, err = conn.QueryContext(ctx, q)
		if err == nil {
			recs, err = scanAll(rows)
		}
		if err == nil {
			break
		}
	}
	if err != nil {
		return formats.Position{}, fmt.Errorf("reading binlog position of %s: %w", c.addr(), err)
	}
	if len(recs) == 0 {
		return formats.Position{}, fmt.Errorf("reading binlog position of %s: binary logging is off: "+
			"start the server with log_bin (log_bin=ON / log-bin=mysql-bin in my.cnf; on RDS, enable automated backups)", c.addr())
	}
	off, err := strconv.ParseUint(recs[0]["Position"], 10, 32)
	if err != nil {
		return formats.Position{}, fmt.Errorf("reading binlog position of %s: offset %q: %w", c.addr(), recs[0]["Position"], err)
	}
	pos := formats.Position{File: recs[0]["File"], Offset: uint32(off)}
	pos.GTID, err = c.gtidAt(ctx, conn, pos, recs[0]["Executed_Gtid_Set"])
	if err != nil {
		return formats.Position{}, err
	}
	return pos, nil
}

// gtidAt returns the GTID state at pos: on MariaDB BINLOG_GTID_POS, on
// MySQL the executed set read with the position.
func (c *Capture) gtidAt(ctx context.Context, conn *sql.Conn, pos formats.Position, executed string) (string, error) {
	if c.cfg.Flavor == FlavorMySQL {
		return strings.ReplaceAll(executed, "\n", ""), nil
	}
	var g sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Offset).Scan(&g); err != nil {
		return "", fmt.Errorf("reading GTID at %s: %w", pos, err)
	}
	return g.String, nil
}

// checkRetained fails with ErrPurged when from.File is gone from the
// source, before any replication connection is tried.
func (c *Capture) checkRetained(ctx context.Context, from formats.Position) error {
	files, err := c.BinaryLogs(ctx)
	if err != nil {
		return err
	}
	return retained(files, from)
}

func retained(files []LogFile, from formats.Position) error {
	if len(files) == 0 {
		return fatal(fmt.Errorf("checking binlog retention for %s: the source lists no binary logs (is log_bin ON?)", from))
	}
	for _, f := range files {
		if f.Name == from.File {
			if int64(from.Offset) > f.Size {
				return fatal(fmt.Errorf("checking binlog retention for %s: offset beyond the end of %s (%d bytes): "+
					"the source's binlog was reset (RESET MASTER) or the position belongs to another server; re-bootstrap with --rebootstrap",
					from, f.Name, f.Size))
			}
			return nil
		}
	}
	oldest := formats.Position{File: files[0].Name}
	if (formats.Position{File: from.File}).Less(oldest) {
		return &purgedError{pos: from, detail: "oldest binlog on the source is " + files[0].Name}
	}
	return fatal(fmt.Errorf("checking binlog retention for %s: %s is not among the source's binlogs (%s .. %s): "+
		"the position belongs to another server or the binlog was reset; re-bootstrap with --rebootstrap",
		from, from.File, files[0].Name, files[len(files)-1].Name))
}

// variables reads global variables by name; absent ones are missing from
// the map.
func (c *Capture) variables(ctx context.Context, names ...string) (map[string]string, error) {
	q := "SHOW GLOBAL VARIABLES WHERE Variable_name IN (" + placeholders(len(names)) + ")"
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading variables of %s: %w", c.addr(), err)
	}
	defer rows.Close()
	vars := map[string]string{}
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("reading variables of %s: %w", c.addr(), err)
		}
		vars[strings.ToLower(k.String)] = v.String
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading variables of %s: %w", c.addr(), err)
	}
	return vars, nil
}

// scanAll reads every row of rows as column name -> text, and closes rows.
func scanAll(rows *sql.Rows) ([]map[string]string, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		r := make(map[string]string, len(cols))
		for i, c := range cols {
			r[c] = vals[i].String
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
