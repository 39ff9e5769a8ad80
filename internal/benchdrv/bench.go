package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/workload"
	"github.com/tidemark/tidemark/realtime/capture"
)

// benchViews are the views under test, taken from the shop workload's
// declarations: one mirror of orders (a few columns) and two aggregates.
var benchViews = []string{"orders", "revenue_by_day", "orders_by_customer"}

// bench holds the clients of one run.
type bench struct {
	o     options
	db    *sql.DB
	rdb   *redis.Client
	cap   *capture.Capture
	specs []formats.ViewSpec
	views []*formats.View
	cfg   string // tidemark config path
	// viewNames are the views whose checkpoints say a catch-up is done
	// (benchViews; the OLTP phase's on its copy of the bench).
	viewNames []string
	// metricsPort serves tidemark's /metrics.
	metricsPort int
	// usedMemoryEmpty is Redis's used_memory before anything was written.
	usedMemoryEmpty int64
	nextID          int64 // next order id the backlog writer inserts
}

func newBench(ctx context.Context, o options) (*bench, error) {
	b := &bench{o: o, viewNames: benchViews}
	var err error
	dsn := fmt.Sprintf("root:@tcp(127.0.0.1:%d)/?parseTime=false&multiStatements=true&interpolateParams=true&time_zone=%%27%%2B00%%3A00%%27", o.mariaPort)
	if b.db, err = sql.Open("mysql", dsn); err != nil {
		return nil, err
	}
	b.db.SetMaxOpenConns(4)
	b.rdb = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", o.redisPort)})
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		b.close()
		return nil, fmt.Errorf("connecting to Redis: %w", err)
	}
	if b.usedMemoryEmpty, err = b.usedMemory(ctx); err != nil {
		b.close()
		return nil, err
	}
	if b.cap, err = capture.New(capture.Config{
		Flavor: capture.FlavorMariaDB, Host: "127.0.0.1", Port: o.mariaPort, User: "root",
		ServerID: 4343, Databases: []string{"shop"},
	}); err != nil {
		b.close()
		return nil, err
	}
	var all []formats.ViewSpec
	if err := yaml.Unmarshal([]byte(workload.Views("shop")), &all); err != nil {
		b.close()
		return nil, fmt.Errorf("parsing the workload's views: %w", err)
	}
	for _, s := range all {
		if slices.Contains(benchViews, s.Name) {
			v, err := formats.ParseView(s)
			if err != nil {
				b.close()
				return nil, err
			}
			b.specs = append(b.specs, s)
			b.views = append(b.views, v)
		}
	}
	if len(b.views) != len(benchViews) {
		b.close()
		return nil, fmt.Errorf("workload.Views lacks one of %v", benchViews)
	}
	if err := b.writeConfig(); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *bench) close() {
	if b.cap != nil {
		_ = b.cap.Close()
	}
	if b.rdb != nil {
		_ = b.rdb.Close()
	}
	if b.db != nil {
		_ = b.db.Close()
	}
}

// writeConfig writes the tidemark config: the source, Redis, a local lake
// (unused by the speed role) and metrics on a free port.
func (b *bench) writeConfig() error {
	views, err := yaml.Marshal(b.specs)
	if err != nil {
		return err
	}
	if b.metricsPort, err = freePort(); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`sources:
  - name: shop
    flavor: mariadb
    host: 127.0.0.1
    port: %d
    user: root
    server_id: 4242
    databases: [shop]
redis:
  addr: 127.0.0.1:%d
lake:
  root: file://%s/lake
api:
  listen: 127.0.0.1:0
metrics:
  listen: 127.0.0.1:%d
log:
  level: info
views:
%s`, b.o.mariaPort, b.o.redisPort, b.o.dir, b.metricsPort, indent(string(views), "  "))
	b.cfg = filepath.Join(b.o.dir, "tidemark.yaml")
	return os.WriteFile(b.cfg, []byte(cfg), 0o644)
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// position is the source's binlog position now (SHOW MASTER STATUS).
func (b *bench) position(ctx context.Context) (formats.Position, error) {
	return b.cap.CurrentPosition(ctx)
}

// checkpoints returns every bench view's checkpoint (zero where missing).
func (b *bench) checkpoints(ctx context.Context) ([]formats.Position, error) {
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(b.viewNames))
	for i, v := range b.viewNames {
		cmds[i] = pipe.HGet(ctx, "tm:{"+v+"}:meta", "ckpt")
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	out := make([]formats.Position, len(cmds))
	for i, c := range cmds {
		s, err := c.Result()
		if err == redis.Nil {
			continue
		}
		if err != nil {
			return nil, err
		}
		if out[i], err = formats.ParsePosition(s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// minCheckpoint is the earliest of the views' checkpoints; ok is false
// while a view has none.
func minCheckpoint(ps []formats.Position) (formats.Position, bool) {
	var m formats.Position
	for i, p := range ps {
		if p.IsZero() {
			return formats.Position{}, false
		}
		if i == 0 || p.Less(m) {
			m = p
		}
	}
	return m, true
}

// bootstrap creates the schema, seeds it, and runs tidemark until every
// view has a checkpoint.
func (b *bench) bootstrap(ctx context.Context, rep *report) error {
	if err := workload.CreateSchema(ctx, b.db, "shop"); err != nil {
		return err
	}
	b.nextID = 1
	for b.nextID <= int64(b.o.seedOrders) {
		n := min(b.o.stmtRows, b.o.seedOrders-int(b.nextID)+1)
		if _, err := b.db.ExecContext(ctx, insertSQL(b.nextID, n)); err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		b.nextID += int64(n)
	}
	start := time.Now()
	p, err := b.startTidemark("bootstrap")
	if err != nil {
		return err
	}
	defer p.kill()
	for {
		ps, err := b.checkpoints(ctx)
		if err != nil {
			return err
		}
		if _, ok := minCheckpoint(ps); ok {
			break
		}
		if err := p.alive(); err != nil {
			return err
		}
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("views not bootstrapped after 2 minutes (log %s)", p.logPath)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	took := time.Since(start)
	code, err := p.term(60 * time.Second)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tidemark exited %d after SIGTERM (log %s)", code, p.logPath)
	}
	rep.add("bootstrap", "start to every view checkpointed", fmtDur(took), "", fmt.Sprintf("%d seed orders", b.o.seedOrders))
	return nil
}

// insertSQL inserts n orders with ids from id on, generated by the server
// (MariaDB's sequence engine): 5,000 customers, 365 days, four statuses,
// some NULL amounts, discounts and notes.
func insertSQL(id int64, n int) string {
	return fmt.Sprintf(`INSERT INTO shop.orders (id, customer_id, status, amount, qty, discount, created_at, note)
SELECT seq, (seq * 7919) %% 5000, 1 + (seq * 31) %% 4,
  IF(seq %% 50 = 0, NULL, ((seq * 131) %% 100000) / 100),
  1 + seq %% 13, IF(seq %% 5 = 0, NULL, (seq %% 1000) / 1000),
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL ((seq * 7919) %% 31536000) SECOND + INTERVAL (seq %% 1000000) MICROSECOND,
  IF(seq %% 3 = 0, NULL, CONCAT('order ', seq))
FROM shop.seq_%d_to_%d`, id, id+int64(n)-1)
}

// updateSQL changes n consecutive orders from id: status (which moves rows
// between revenue_by_day groups), amount and qty.
func updateSQL(id int64, n int, k int) string {
	return fmt.Sprintf(`UPDATE shop.orders SET status = 1 + (id + %d) %% 4, amount = amount + 1.25, qty = qty + 1
WHERE id BETWEEN %d AND %d`, k, id, id+int64(n)-1)
}

// backlog is what the writer left for the catch-up.
type backlog struct {
	start, end formats.Position
	endGTID    string
	rows       int64 // row changes (binlog rows) in (start, end]
	inserts    int64
	updates    int64
	txns       int
}

// writeBacklog commits the backlog with Tidemark stopped, as fast as the
// server takes it, on one connection.
func (b *bench) writeBacklog(ctx context.Context, rep *report) (*backlog, error) {
	ps, err := b.checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	from, _ := minCheckpoint(ps)
	here, err := b.position(ctx)
	if err != nil {
		return nil, err
	}
	if from.Compare(here.Commit()) != 0 {
		// Nothing else writes; a difference means a checkpoint that is not
		// at the source's end, which would make the numbers lie.
		progress("note: checkpoint %s differs from the source position %s", from, here)
	}
	bl := &backlog{start: from}
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for t := 0; t < b.o.txns; t++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		for range b.o.insertsPerTxn {
			res, err := tx.ExecContext(ctx, insertSQL(b.nextID, b.o.stmtRows))
			if err != nil {
				_ = tx.Rollback()
				return nil, err
			}
			n, _ := res.RowsAffected()
			bl.inserts += n
			b.nextID += int64(b.o.stmtRows)
		}
		for range b.o.updatesPerTxn {
			id := 1 + rng.Int64N(max(1, b.nextID-int64(b.o.stmtRows)))
			res, err := tx.ExecContext(ctx, updateSQL(id, b.o.stmtRows, t))
			if err != nil {
				_ = tx.Rollback()
				return nil, err
			}
			n, _ := res.RowsAffected()
			bl.updates += n
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		bl.txns++
	}
	took := time.Since(start)
	if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&bl.endGTID); err != nil {
		return nil, err
	}
	if bl.end, err = b.position(ctx); err != nil {
		return nil, err
	}
	bl.end = bl.end.Commit()
	bl.rows = bl.inserts + bl.updates
	rep.add("backlog", "row changes written", fmtInt(bl.rows), "≥ 1,000,000",
		fmt.Sprintf("%s inserted + %s updated rows in %d txns of %d", fmtInt(bl.inserts), fmtInt(bl.updates), bl.txns, (b.o.insertsPerTxn+b.o.updatesPerTxn)*b.o.stmtRows))
	rep.add("backlog", "writer time (MariaDB ingest)", fmtDur(took), "", fmtRate(float64(bl.rows)/took.Seconds())+" row changes/s")
	size, err := b.binlogBytes(ctx, bl.start, bl.end)
	if err == nil {
		rep.add("backlog", "binlog bytes", fmtBytes(size), "", fmt.Sprintf("%.0f B per row change", float64(size)/float64(bl.rows)))
	}
	return bl, nil
}

// binlogBytes is the size of the binlog between two positions.
func (b *bench) binlogBytes(ctx context.Context, from, to formats.Position) (int64, error) {
	logs, err := b.cap.BinaryLogs(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range logs {
		switch {
		case l.Name == from.File && l.Name == to.File:
			n += int64(to.Offset) - int64(from.Offset)
		case l.Name == from.File:
			n += l.Size - int64(from.Offset)
		case l.Name == to.File:
			n += int64(to.Offset)
		case l.Name > from.File && l.Name < to.File:
			n += l.Size
		}
	}
	return n, nil
}

func (b *bench) usedMemory(ctx context.Context) (int64, error) {
	info, err := b.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("reading INFO memory: %w", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory has no used_memory")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
