package enginetest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/internal/workload"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// TestEndToEndOnRealServers runs the batch layer as the product wires it:
// a bootstrap generation from a MariaDB snapshot published to Redis, the
// binlog captured and archived while a workload runs, a damaged speed
// segment, then a rebuild rolled forward from the archive. The new
// generation, read by DuckDB, equals the source; every view in Redis is
// exactly the batch result again (the damage is overwritten), and the
// mirror holds every row.
func TestEndToEndOnRealServers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := stack.MariaDB(t)
	src := m.DB(t, "")
	if err := workload.CreateSchema(ctx, src, "shop"); err != nil {
		t.Fatal(err)
	}
	m.Exec(t, "CREATE TABLE shop.heartbeat (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)",
		"INSERT INTO shop.heartbeat VALUES (1, NOW(6))")
	g := workload.New(src, "shop", 7, 0)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	capt, err := capture.New(capture.Config{Flavor: capture.FlavorMariaDB, Host: m.Host, Port: m.Port,
		User: m.User, Password: m.Password, ServerID: 4242, Databases: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Close()
	rs := stack.Redis(t)
	views := redisview.New(rs.Client(t), redisview.Options{})

	var specs []formats.ViewSpec
	if err := yaml.Unmarshal([]byte(workload.Views("shop")), &specs); err != nil {
		t.Fatal(err)
	}
	var vs []*formats.View
	for _, s := range specs {
		v, err := formats.ParseView(s)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	dir := t.TempDir()
	store, _ := lake.OpenDir(dir)
	opts := batch.Options{
		SourceName: "shop",
		Tables: []batch.Table{
			{ID: formats.TableID{DB: "shop", Table: "customers"}, Partition: []string{"country"}},
			{ID: formats.TableID{DB: "shop", Table: "orders"}, Partition: []string{"month(created_at) AS m"}, History: true},
			{ID: formats.TableID{DB: "shop", Table: "alltypes"}},
		},
		Views: vs, Publisher: serving.Publisher{Store: views}, Codec: "zstd",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}

	gen0, err := batch.Rebuild(ctx, store, serving.BatchSource{C: capt}, opts)
	if err != nil {
		t.Fatal(err)
	}
	p0, _ := gen0.CutPosition()
	if len(gen0.Views) != 4 { // shop.alltypes is empty: its view is typed through Schemas
		t.Fatalf("generation 0 has %d aggregate views, want 4", len(gen0.Views))
	}

	// The speed side of the wiring: capture from the bootstrap position
	// into the archiver.
	arch, err := changelog.NewArchiver(store, changelog.Options{Source: "shop", SegmentSeconds: 1, Start: p0})
	if err != nil {
		t.Fatal(err)
	}
	txns := make(chan *formats.Txn, 64)
	streamErr, archErr := make(chan error, 1), make(chan error, 1)
	go func() { streamErr <- capt.Stream(ctx, p0, txns) }()
	go func() { archErr <- arch.Run(ctx, txns) }()

	if err := g.Run(ctx, 300, 150); err != nil {
		t.Fatal(err)
	}
	end, err := capt.CurrentPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A heartbeat a second later opens a new segment, which seals the
	// workload's last one. It touches no batch table.
	time.Sleep(1100 * time.Millisecond)
	m.Exec(t, "UPDATE shop.heartbeat SET at = NOW(6) WHERE id = 1")
	deadline := time.Now().Add(60 * time.Second)
	for {
		pos, _, err := arch.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pos.Compare(end) >= 0 {
			break
		}
		select {
		case err := <-streamErr:
			t.Fatalf("capture stopped: %v", err)
		case err := <-archErr:
			t.Fatalf("archiver stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive did not seal past %s (checkpoint %s)", end, pos)
		}
	}

	// Damage the speed layer: double one group of revenue_by_day in an
	// early segment, as a buggy speed layer could.
	rev := vs[0]
	before, err := views.ReadAgg(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	var k formats.GroupKey
	for k = range before.Groups {
		break
	}
	bad := formats.Delta{k: before.Groups[k].Clone()}
	to := p0
	to.Offset++
	if err := views.ApplyAgg(ctx, rev, p0, to, 1, []redisview.SegDelta{{Seg: 1, Delta: bad}}); err != nil {
		t.Fatal(err)
	}
	damaged, _ := views.ReadAgg(ctx, rev)
	if damaged.Groups[k].String() == before.Groups[k].String() {
		t.Fatal("the damage did not show")
	}

	gen1, err := batch.Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if gen1.Base != "generation 0" || gen1.CutSegment == 0 {
		t.Fatalf("generation 1: base %q, cut segment %d", gen1.Base, gen1.CutSegment)
	}
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	compareWithSource(t, duck, dir, gen1, src)

	// The orders history, read by DuckDB: valid at generation 0's cut are
	// generation 0's rows, at generation 1's the source's.
	var orders0, orders1 []formats.Row
	for _, ts := range gen0.Tables {
		if ts.Table == "shop.orders" {
			s, _ := ts.Schema()
			orders0 = duckRows(t, duck, s, fmt.Sprintf("SELECT %s FROM read_parquet('%s/%s/**/*.parquet', hive_partitioning = true)",
				quotedColumns(s.Columns), dir, ts.Prefix))
		}
	}
	if _, err := (sqlSource{src}).Snapshot(ctx, []formats.TableID{{DB: "shop", Table: "orders"}}, func(_ context.Context, _ *formats.TableSchema, r formats.Row) error {
		orders1 = append(orders1, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := checkHistoryWithDuckDB(t, duck, dir, gen1, "shop.orders", []string{gen0.Cut, gen1.Cut}, [][]formats.Row{orders0, orders1}); n <= int64(len(orders1)) {
		t.Fatalf("the orders history has %d versions for %d rows: the workload's updates and deletes are missing", n, len(orders1))
	}

	// Redis: every aggregate view is exactly the batch result computed
	// from the source's rows; the mirror has every row.
	schemas := map[formats.TableID]*formats.TableSchema{}
	for _, ts := range gen1.Tables {
		s, _ := ts.Schema()
		schemas[s.Table] = s
	}
	for _, v := range vs {
		s := schemas[v.From]
		if s == nil {
			continue
		}
		var rows []formats.Row
		if _, err := (sqlSource{src}).Snapshot(ctx, []formats.TableID{v.From}, func(_ context.Context, _ *formats.TableSchema, r formats.Row) error {
			rows = append(rows, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		bv, err := v.Bind(s)
		if err != nil {
			t.Fatal(err)
		}
		if v.Mirror {
			n := 0
			for _, err := range views.ScanMirror(ctx, v.Name) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != len(rows) {
				t.Errorf("mirror %s: %d rows in Redis, %d in the source", v.Name, n, len(rows))
			}
			continue
		}
		want := formats.Delta{}
		for _, r := range rows {
			if err := bv.AccumulateRow(r, 1, want); err != nil {
				t.Fatal(err)
			}
		}
		got, err := views.ReadAgg(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if got.Generation != 1 || got.Cut.String() != gen1.Cut {
			t.Errorf("view %s: Redis serves generation %d at %s, want 1 at %s", v.Name, got.Generation, got.Cut, gen1.Cut)
		}
		if len(got.Groups) != len(want) {
			t.Errorf("view %s: %d groups in Redis, %d from the source", v.Name, len(got.Groups), len(want))
		}
		for gk, a := range want {
			if got.Groups[gk] == nil || got.Groups[gk].String() != a.String() {
				t.Errorf("view %s group %q: Redis %v, source %v", v.Name, gk, got.Groups[gk], a)
			}
		}
		t.Logf("view %s: %d groups in Redis equal the source", v.Name, len(want))
	}
	cancel()
}
