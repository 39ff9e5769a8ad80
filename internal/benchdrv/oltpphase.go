package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// The OLTP phase: catch-up on many small transactions, the shape real
// OLTP traffic has, written by sysbench's oltp_write_only (Debian's
// sysbench 1.0) while Tidemark is stopped:
//
//  1. `sysbench oltp_write_only prepare`: -oltp-tables tables sbtest1..N
//     of -oltp-table-size rows in database oltpDB, plus a one-row table
//     oltp_settings; `tidemark run` bootstraps the phase's views (one
//     aggregate per table grouped by truncate(10000, id) with count() and
//     sum(k), and a mirror of the one-row table), then stops.
//  2. `sysbench oltp_write_only run --events=-oltp-txns`: each event is one
//     transaction of 4 row changes (UPDATE of k, UPDATE of c, DELETE and
//     INSERT of one id), committed on -oltp-threads connections.
//  3. The ceiling: go-mysql's BinlogSyncer decoding the same range (the
//     loop of the speed phases' ceiling), which also counts its row changes.
//  4. -oltp-runs catch-ups of `tidemark run` over the backlog, the views put
//     back to the bootstrap state between runs, measured like the speed
//     phases' (process start → every checkpoint at the backlog's end),
//     then `tidemark verify`.
//
// The phase has its own database, views (named "oltp_...") and config, and
// drops them at its end.

const oltpDB = "sbtest"

// oltpViewNames are the phase's views for n tables.
func oltpViewNames(n int) []string {
	var names []string
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("oltp_k_%d", i))
	}
	return append(names, "oltp_settings")
}

func (b *bench) oltpPhase(ctx context.Context, rep *report) error {
	if b.o.oltpTxns <= 0 {
		return nil
	}
	if _, err := exec.LookPath("sysbench"); err != nil {
		rep.add("oltp", "sysbench oltp_write_only backlog", "skipped", "", "sysbench is not installed (apt-get install sysbench)")
		return nil
	}
	ob := *b
	ob.viewNames = oltpViewNames(b.o.oltpTables)
	var err error
	if ob.metricsPort, err = freePort(); err != nil {
		return err
	}
	if ob.cfg, err = b.oltpConfig(ob.metricsPort); err != nil {
		return err
	}
	defer func() {
		if err := b.oltpDrop(context.WithoutCancel(ctx)); err != nil {
			progress("oltp: cleaning up: %v", err)
		}
	}()
	progress("oltp: sysbench prepare (%d tables × %d rows)", b.o.oltpTables, b.o.oltpTableSize)
	if err := b.oltpDrop(ctx); err != nil {
		return err
	}
	if _, err := b.db.ExecContext(ctx, "CREATE DATABASE "+oltpDB); err != nil {
		return err
	}
	if err := b.sysbench(ctx, "prepare", "--threads="+strconv.Itoa(min(b.o.oltpTables, 4))); err != nil {
		return err
	}
	if _, err := b.db.ExecContext(ctx, "CREATE TABLE "+oltpDB+".oltp_settings (id INT PRIMARY KEY, v VARCHAR(40) NOT NULL) ENGINE=InnoDB"); err != nil {
		return err
	}
	if _, err := b.db.ExecContext(ctx, "INSERT INTO "+oltpDB+".oltp_settings VALUES (1, 'one row')"); err != nil {
		return err
	}

	progress("oltp: bootstrapping the phase's views")
	boot, err := ob.startTidemark("oltp-bootstrap")
	if err != nil {
		return err
	}
	defer boot.kill()
	if err := ob.waitViews(ctx, boot, ob.viewNames, formats.Position{}, 5*time.Minute); err != nil {
		return err
	}
	if code, err := boot.term(60 * time.Second); err != nil || code != 0 {
		return fmt.Errorf("tidemark exited %d after SIGTERM (%v; log %s)", code, err, boot.logPath)
	}
	state, err := ob.saveState(ctx)
	if err != nil {
		return err
	}

	ps, err := ob.checkpoints(ctx)
	if err != nil {
		return err
	}
	from, _ := minCheckpoint(ps)
	progress("oltp: sysbench run: %d transactions on %d connections, Tidemark stopped", b.o.oltpTxns, b.o.oltpThreads)
	start := time.Now()
	if err := b.sysbench(ctx, "run", "--threads="+strconv.Itoa(b.o.oltpThreads), "--events="+strconv.Itoa(b.o.oltpTxns), "--time=0"); err != nil {
		return err
	}
	wrote := time.Since(start)
	end, err := b.position(ctx)
	if err != nil {
		return err
	}
	bl := &backlog{start: from, end: end.Commit(), txns: b.o.oltpTxns}

	progress("oltp: ceiling: go-mysql decoding the backlog")
	cpu := newCPUMeter([]string{"driver"}, []int{os.Getpid()})
	raw, rows, err := b.rawDecodeTo(ctx, bl)
	if err != nil {
		return fmt.Errorf("decoding the OLTP backlog: %w", err)
	}
	cpu.stop()
	bl.rows = rows
	rep.oltpCeilCPU = cpu.used[0].Seconds() / float64(rows)
	rep.add("oltp", "backlog: sysbench oltp_write_only transactions", fmtInt(int64(bl.txns)), "250,000",
		fmt.Sprintf("%s row changes (%.1f per transaction) in %d tables × %s rows, written in %s on %d connections (%s txns/s)",
			fmtInt(rows), float64(rows)/float64(bl.txns), b.o.oltpTables, fmtInt(int64(b.o.oltpTableSize)), fmtDur(wrote), b.o.oltpThreads,
			fmtRate(float64(bl.txns)/wrote.Seconds())))
	if size, err := b.binlogBytes(ctx, bl.start, bl.end); err == nil {
		rep.add("oltp", "backlog: binlog bytes", fmtBytes(size), "", fmt.Sprintf("%.0f B per row change", float64(size)/float64(rows)))
	}
	rep.add("oltp", "ceiling: go-mysql BinlogSyncer decode (no apply)", fmtRate(raw)+" rows/s", "",
		fmt.Sprintf("the same loop as the speed phases' ceiling, over this backlog; %.1f µs CPU per row change in the driver (%.2f cores)", 1e6*rep.oltpCeilCPU, cpu.cores(0)))
	rep.oltpCeil = raw

	var p *tidemark
	for run := 1; run <= b.o.oltpRuns; run++ {
		if run > 1 {
			if code, err := p.term(60 * time.Second); err != nil || code != 0 {
				return fmt.Errorf("tidemark exited %d after SIGTERM (%v; log %s)", code, err, p.logPath)
			}
			if err := ob.restoreState(ctx, state); err != nil {
				return err
			}
		}
		sec := fmt.Sprintf("oltp catch-up %d", run)
		ob.o.bin = b.o.bin
		if b.o.oltpCompare != "" && run%2 == 1 {
			// Odd runs of the other binary, even runs of -bin, back to
			// back on the same backlog: a before/after comparison.
			ob.o.bin = b.o.oltpCompare
			sec += " (-oltp-compare)"
		}
		progress("oltp catch-up %d/%d (%s): tidemark run until every checkpoint reaches %s", run, b.o.oltpRuns, ob.o.bin, bl.end)
		var st catchUpStats
		var prof chan struct{}
		if run == 2 {
			// A Go CPU profile of the second run from tidemark's own
			// /debug/pprof (the first has perf attached).
			prof = make(chan struct{})
			go func() {
				defer close(prof)
				ob.fetchProfile(ctx, filepath.Join(b.o.dir, "oltp-catch-up-2.cpu.pprof"), 3)
			}()
		}
		if p, st, err = ob.catchUp(ctx, bl, sec, run == 1, rep); err != nil {
			return fmt.Errorf("measuring the OLTP catch-up: %w", err)
		}
		if prof != nil {
			<-prof
		}
		defer p.kill()
		if ob.o.bin == b.o.bin {
			rep.oltp = append(rep.oltp, st)
		} else {
			rep.oltpCompare = append(rep.oltpCompare, st)
		}
	}
	progress("oltp: tidemark verify")
	vstart := time.Now()
	out, err := exec.CommandContext(ctx, b.o.bin, "verify", "-c", ob.cfg, "--wait", "60s").CombinedOutput()
	if err != nil {
		rep.add("oltp", "tidemark verify", "FAILED", "exact", strings.TrimSpace(string(out)))
		return fmt.Errorf("tidemark verify of the OLTP views: %v\n%s", err, out)
	}
	rep.add("oltp", "tidemark verify (views = source queries)", "ok", "exact", fmt.Sprintf("%d views in %s", len(ob.viewNames), fmtDur(time.Since(vstart))))
	if code, err := p.term(60 * time.Second); err != nil || code != 0 {
		return fmt.Errorf("tidemark exited %d after SIGTERM (%v; log %s)", code, err, p.logPath)
	}
	return nil
}

// fetchProfile saves a CPU profile of secs seconds from the /debug/pprof
// of the tidemark on b.metricsPort, as soon as it listens (within 10 s).
func (b *bench) fetchProfile(ctx context.Context, path string, secs int) {
	url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", b.metricsPort, secs)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err != nil {
			if sleep(ctx, 5*time.Millisecond) != nil {
				return
			}
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			_ = os.WriteFile(path, body, 0o644)
		}
		return
	}
}

// sysbench runs `sysbench oltp_write_only CMD` against oltpDB.
func (b *bench) sysbench(ctx context.Context, cmd string, args ...string) error {
	all := append([]string{"oltp_write_only",
		"--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=" + strconv.Itoa(b.o.mariaPort),
		"--mysql-user=root", "--mysql-password=", "--mysql-db=" + oltpDB,
		"--tables=" + strconv.Itoa(b.o.oltpTables), "--table-size=" + strconv.Itoa(b.o.oltpTableSize),
		"--rand-seed=12"}, args...)
	all = append(all, cmd)
	logPath := filepath.Join(b.o.dir, "sysbench-"+cmd+".log")
	out, err := exec.CommandContext(ctx, "sysbench", all...).CombinedOutput()
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return fmt.Errorf("sysbench %s: %v (log %s):\n%s", cmd, err, logPath, tail(string(out), 2000))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// oltpDrop drops oltpDB and deletes the phase's views' keys.
func (b *bench) oltpDrop(ctx context.Context) error {
	if _, err := b.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+oltpDB); err != nil {
		return err
	}
	var keys []string
	iter := b.rdb.Scan(ctx, 0, "tm:{oltp_*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.rdb.Del(ctx, k).Err(); err != nil {
			return err
		}
	}
	return nil
}

// oltpConfig writes the phase's tidemark config and returns its path.
func (b *bench) oltpConfig(metricsPort int) (string, error) {
	var views strings.Builder
	for i := 1; i <= b.o.oltpTables; i++ {
		fmt.Fprintf(&views, `  - name: oltp_k_%[1]d
    from: %[2]s.sbtest%[1]d
    group_by: ["truncate(10000, id) AS id_block"]
    measures: ["count()", "sum(k)"]
`, i, oltpDB)
	}
	fmt.Fprintf(&views, `  - name: oltp_settings
    from: %s.oltp_settings
    mirror: true
`, oltpDB)
	cfg := fmt.Sprintf(`sources:
  - name: oltp
    flavor: mariadb
    host: 127.0.0.1
    port: %d
    user: root
    server_id: 4245
    databases: [%s]
redis:
  addr: 127.0.0.1:%d
lake:
  root: file://%s/lake-oltp
api:
  listen: 127.0.0.1:0
metrics:
  listen: 127.0.0.1:%d
log:
  level: info
views:
%s`, b.o.mariaPort, oltpDB, b.o.redisPort, b.o.dir, metricsPort, views.String())
	path := filepath.Join(b.o.dir, "tidemark-oltp.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}
