package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/workload"
)

// The batch phase measures the batch layer on a table of -batch-rows rows
// (default 10,000,000) in its own database, with the real binary:
//
//  1. MariaDB fills batchDB.orders (INSERT ... SELECT from the sequence
//     engine, 100,000 rows per statement).
//  2. `tidemark run --roles speed,batch` on a config of its own (two
//     aggregate views of the table, a heartbeat, 2 s segments) bootstraps
//     the views and keeps the changelog archive; it runs until the end of
//     the phase.
//  3. `tidemark batch --from-source`: the consistent extract from MariaDB
//     (rows/s from its ExtractCompleted event), staged as Parquet and
//     written as generation 1; the process's peak RSS (getrusage
//     ru_maxrss of the child, i.e. its VmHWM) and CPU time.
//  4. A writer changes 1% of the rows (updates, plus 0.1% inserts and 0.1%
//     deletes); once the archive has sealed them, `tidemark batch` rolls
//     generation 1 forward with the archived changes: rows/s of the whole
//     process (read the previous generation's Parquet, merge the changes,
//     write the new snapshot, compute the views column-wise, publish), its
//     peak RSS and CPU time.
//
// Mirrors are left out on purpose: publishing a 10M-row mirror into Redis
// measures Redis, not the batch layer.

const batchDB = "bigshop"

// batchViews are the workload views the phase computes, renamed so they do
// not touch the speed phases' keys in Redis.
var batchViews = []string{"revenue_by_day", "orders_by_customer"}

// batchRun is one finished `tidemark batch` process.
type batchRun struct {
	wall      time.Duration
	cpu       time.Duration // the child's user+system time
	maxRSS    int64         // bytes
	logPath   string
	mariaCPU  time.Duration // mariadbd's CPU time meanwhile (0: unknown)
	machCores float64       // busy cores of the whole machine meanwhile
}

func (b *bench) batchPhase(ctx context.Context, rep *report) error {
	const sec = "batch"
	n := int64(b.o.batchRows)
	if _, err := b.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+batchDB); err != nil {
		return err
	}
	if err := workload.CreateSchema(ctx, b.db, batchDB); err != nil {
		return err
	}
	progress("batch: filling %s.orders with %s rows", batchDB, fmtInt(n))
	start := time.Now()
	const stmtRows = 100_000
	for id := int64(1); id <= n; id += stmtRows {
		if _, err := b.db.ExecContext(ctx, batchInsertSQL(id, min(stmtRows, n-id+1))); err != nil {
			return fmt.Errorf("filling %s.orders: %w", batchDB, err)
		}
	}
	took := time.Since(start)
	rep.add(sec, "source table rows (MariaDB INSERT ... SELECT)", fmtInt(n), "10,000,000",
		fmt.Sprintf("written in %s, %s rows/s", fmtDur(took), fmtRate(float64(n)/took.Seconds())))

	cfg, views, err := b.writeBatchConfig()
	if err != nil {
		return err
	}
	progress("batch: tidemark run --roles speed,batch (bootstraps the views, keeps the archive)")
	start = time.Now()
	p, err := b.startChild("batch-run", "run", "-c", cfg, "--roles", "speed,batch")
	if err != nil {
		return err
	}
	defer p.kill()
	if err := b.waitViews(ctx, p, views, formats.Position{}, 15*time.Minute); err != nil {
		return err
	}
	rep.add(sec, "speed layer bootstrap of the table (not a batch figure)", fmtDur(time.Since(start)), "", "start → both views checkpointed")

	progress("batch: tidemark batch --from-source (extract of %s rows)", fmtInt(n))
	ex, err := b.runBatch(ctx, "batch-extract", cfg, "--from-source")
	if err != nil {
		return err
	}
	ev, err := logEvent(ex.logPath, "ExtractCompleted")
	if err != nil {
		return err
	}
	rows, _ := strconv.ParseInt(ev["rows"], 10, 64)
	secs, _ := strconv.ParseFloat(ev["seconds"], 64)
	extractRate := float64(rows) / max(secs, 1e-9)
	rep.add(sec, "source extract rows/s (consistent snapshot → staged Parquet)", fmtRate(extractRate), "≥ 200,000",
		fmt.Sprintf("%s rows in %.1f s (ExtractCompleted)", fmtInt(rows), secs))
	b.reportBatchRun(rep, sec, "tidemark batch --from-source", ex, n)

	progress("batch: changing 1%% of the rows, then rolling generation 1 forward")
	end, changes, err := b.changeBatchTable(ctx, n)
	if err != nil {
		return err
	}
	if err := b.waitViews(ctx, p, views, end, 5*time.Minute); err != nil {
		return err
	}
	if err := b.waitArchive(ctx, end, 2*time.Minute); err != nil {
		return err
	}
	rf, err := b.runBatch(ctx, "batch-rollforward", cfg)
	if err != nil {
		return err
	}
	replayed, _ := logEvent(rf.logPath, "ChangesReplayed")
	written, err := logEvent(rf.logPath, "TableSnapshotWritten")
	if err != nil {
		return err
	}
	tableRows, _ := strconv.ParseInt(written["rows"], 10, 64)
	tableSecs, _ := strconv.ParseFloat(written["seconds"], 64)
	rollRate := float64(tableRows) / rf.wall.Seconds()
	rep.add(sec, "roll-forward rebuild rows/s (previous generation + archive, whole process)", fmtRate(rollRate), "",
		fmt.Sprintf("%s rows in %s; %s row changes written, %s events replayed; the table step alone (read, merge, write, views) %s rows/s",
			fmtInt(tableRows), fmtDur(rf.wall), fmtInt(changes), replayed["events"], fmtRate(float64(tableRows)/max(tableSecs, 1e-9))))
	b.reportBatchRun(rep, sec, "tidemark batch (roll-forward)", rf, tableRows)

	pass := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	rep.add(sec, "target source extract ≥ 200,000 rows/s", pass(extractRate >= 200_000), "", fmtRate(extractRate))
	peak := max(ex.maxRSS, rf.maxRSS)
	rep.add(sec, "target peak RSS of the rebuilds ≤ 1 GiB", pass(peak <= 1<<30), "", fmtMiB(peak)+" (largest ru_maxrss of the two)")

	code, err := p.term(60 * time.Second)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tidemark run (batch phase) exited %d after SIGTERM (log %s)", code, p.logPath)
	}
	// The table is large; later phases have no use for it.
	if _, err := b.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+batchDB); err != nil {
		progress("note: dropping %s: %v", batchDB, err)
	}
	return nil
}

func (b *bench) reportBatchRun(rep *report, sec, name string, r *batchRun, rows int64) {
	rep.add(sec, "  "+name+": wall time", fmtDur(r.wall), "", "process start → exit, generation published")
	rep.add(sec, "  "+name+": peak RSS (ru_maxrss)", fmtMiB(r.maxRSS), "≤ 1 GiB", "")
	rep.add(sec, "  "+name+": CPU time", fmt.Sprintf("%.1f s", r.cpu.Seconds()), "",
		fmt.Sprintf("%.2f µs per row (%s rows per CPU-second); %.2f cores; meanwhile mariadbd %.1f s CPU, the whole machine %.2f of %d cores busy",
			1e6*r.cpu.Seconds()/float64(max(rows, 1)), fmtRate(float64(rows)/max(r.cpu.Seconds(), 1e-9)), r.cpu.Seconds()/r.wall.Seconds(),
			r.mariaCPU.Seconds(), r.machCores, numCPU()))
}

// batchInsertSQL inserts n orders with ids from id on, as insertSQL does
// for the speed phases, into batchDB.
func batchInsertSQL(id, n int64) string {
	return fmt.Sprintf(`INSERT INTO %[1]s.orders (id, customer_id, status, amount, qty, discount, created_at, note)
SELECT seq, (seq * 7919) %% 5000, 1 + (seq * 31) %% 4,
  IF(seq %% 50 = 0, NULL, ((seq * 131) %% 100000) / 100),
  1 + seq %% 13, IF(seq %% 5 = 0, NULL, (seq %% 1000) / 1000),
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL ((seq * 7919) %% 31536000) SECOND + INTERVAL (seq %% 1000000) MICROSECOND,
  IF(seq %% 3 = 0, NULL, CONCAT('order ', seq))
FROM %[1]s.seq_%[2]d_to_%[3]d`, batchDB, id, id+n-1)
}

// writeBatchConfig writes the batch phase's tidemark config and returns
// its path and view names.
func (b *bench) writeBatchConfig() (string, []string, error) {
	var all []formats.ViewSpec
	if err := yaml.Unmarshal([]byte(workload.Views(batchDB)), &all); err != nil {
		return "", nil, fmt.Errorf("parsing the workload's views: %w", err)
	}
	var specs []formats.ViewSpec
	var names []string
	for _, s := range all {
		if slices.Contains(batchViews, s.Name) {
			s.Name = "big_" + s.Name
			specs = append(specs, s)
			names = append(names, s.Name)
		}
	}
	views, err := yaml.Marshal(specs)
	if err != nil {
		return "", nil, err
	}
	cfg := fmt.Sprintf(`sources:
  - name: %[1]s
    flavor: mariadb
    host: 127.0.0.1
    port: %[2]d
    user: root
    server_id: 4244
    databases: [%[1]s]
    heartbeat: %[1]s.tidemark_heartbeat
    heartbeat_interval: 1s
redis:
  addr: 127.0.0.1:%[3]d
lake:
  root: file://%[4]s/batch-lake
api:
  listen: 127.0.0.1:0
metrics:
  listen: ""
speed:
  segment_seconds: 2
log:
  level: info
views:
%[5]s`, batchDB, b.o.mariaPort, b.o.redisPort, b.o.dir, indent(string(views), "  "))
	path := filepath.Join(b.o.dir, "tidemark-batch.yaml")
	if err := os.RemoveAll(filepath.Join(b.o.dir, "batch-lake")); err != nil {
		return "", nil, err
	}
	return path, names, os.WriteFile(path, []byte(cfg), 0o644)
}

// startChild starts `tidemark ARGS...` with its output in DIR/tidemark-NAME.log.
func (b *bench) startChild(name string, args ...string) (*tidemark, error) {
	logPath := filepath.Join(b.o.dir, "tidemark-"+name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.o.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", b.o.bin, err)
	}
	p := &tidemark{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// runBatch runs `tidemark batch -c cfg ARGS...` to its end. Its peak RSS
// is the child's ru_maxrss, which the kernel keeps past the exit.
func (b *bench) runBatch(ctx context.Context, name, cfg string, args ...string) (*batchRun, error) {
	cpu := newCPUMeter([]string{"mariadbd"}, []int{pidFromFile(b.o.mariaPidFile)})
	start := time.Now()
	p, err := b.startChild(name, append([]string{"batch", "-c", cfg}, args...)...)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	case <-time.After(30 * time.Minute):
		p.kill()
		return nil, fmt.Errorf("tidemark batch did not finish within 30 minutes (log %s)", p.logPath)
	}
	cpu.stop()
	r := &batchRun{wall: time.Since(start), logPath: p.logPath, mariaCPU: cpu.used[0], machCores: cpu.machineCores()}
	st := p.cmd.ProcessState
	if !st.Success() {
		return nil, fmt.Errorf("tidemark batch %s: %v; log %s:\n%s", strings.Join(args, " "), p.err, p.logPath, tailFile(p.logPath, 3000))
	}
	r.cpu = st.UserTime() + st.SystemTime()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return r, nil
}

// waitViews waits until every view's checkpoint is at or after pos (any
// checkpoint, when pos is zero).
func (b *bench) waitViews(ctx context.Context, p *tidemark, views []string, pos formats.Position, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ok := true
		for _, v := range views {
			s, err := b.rdb.HGet(ctx, "tm:{"+v+"}:meta", "ckpt").Result()
			if err != nil {
				ok = false
				break
			}
			c, err := formats.ParsePosition(s)
			if err != nil {
				return err
			}
			if c.Less(pos) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if err := p.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("views %v not checkpointed at %s within %s (log %s)", views, pos, limit, p.logPath)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitArchive waits until the changelog archive has sealed a segment at or
// after pos, so that the roll-forward replays every change.
func (b *bench) waitArchive(ctx context.Context, pos formats.Position, limit time.Duration) error {
	st, err := lake.Open(ctx, "file://"+filepath.Join(b.o.dir, "batch-lake"), lake.S3Options{})
	if err != nil {
		return err
	}
	r := changelog.NewReader(st, batchDB)
	deadline := time.Now().Add(limit)
	for {
		if m, err := r.Last(ctx); err == nil && m != nil {
			if lp, err := m.LastPosition(); err == nil && !lp.Less(pos) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the changelog archive sealed nothing at or after %s within %s", pos, limit)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// changeBatchTable updates 1% of the rows and inserts and deletes 0.1%, in
// transactions of 10,000-row statements, and returns the source position
// after the last commit and the number of row changes.
func (b *bench) changeBatchTable(ctx context.Context, n int64) (formats.Position, int64, error) {
	const stmtRows = 10_000
	var changes int64
	run := func(q string) error {
		res, err := b.db.ExecContext(ctx, q)
		if err != nil {
			return err
		}
		k, _ := res.RowsAffected()
		changes += k
		return nil
	}
	stmts := max(n/100/stmtRows, 1)
	for i := range stmts {
		lo := 1 + i*(n/stmts)
		if err := run(fmt.Sprintf("UPDATE %s.orders SET status = 1 + (id + 1) %% 4, amount = amount + 1.25, qty = qty + 1 WHERE id BETWEEN %d AND %d",
			batchDB, lo, lo+stmtRows-1)); err != nil {
			return formats.Position{}, 0, fmt.Errorf("updating %s.orders: %w", batchDB, err)
		}
	}
	few := max(n/1000, 1)
	if err := run(batchInsertSQL(n+1, few)); err != nil {
		return formats.Position{}, 0, err
	}
	if err := run(fmt.Sprintf("DELETE FROM %s.orders WHERE id %% 997 = 0 LIMIT %d", batchDB, few)); err != nil {
		return formats.Position{}, 0, err
	}
	end, err := b.position(ctx)
	if err != nil {
		return formats.Position{}, 0, err
	}
	return end.Commit(), changes, nil
}

// logEvent returns the key=value fields of the last line of a tidemark log
// (slog's text format) whose event is name.
func logEvent(path, name string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var last map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "event="+name) {
			continue
		}
		if kv := parseLogLine(line); kv["event"] == name {
			last = kv
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if last == nil {
		return nil, fmt.Errorf("no %s event in %s", name, path)
	}
	return last, nil
}

// parseLogLine splits a slog text line into its key=value pairs (values
// may be quoted).
func parseLogLine(line string) map[string]string {
	kv := map[string]string{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			break
		}
		key, rest := line[:eq], line[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			val, rest, _ = strings.Cut(rest, " ")
		}
		kv[key] = val
		line = rest
	}
	return kv
}
