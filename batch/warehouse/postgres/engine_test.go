package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// syncBuffer is a log sink safe for the rebuild's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// answers is a generation's published answer of every aggregate view:
// the lake's view Parquet and the serving store's batch view, as result
// rows by group key.
type answers struct {
	lake, redis map[string]map[formats.GroupKey]formats.Row
}

func readAnswers(t *testing.T, ctx context.Context, p *pipeline, gen *batch.Generation, srv *serving.Store, bound map[string]*formats.BoundView) answers {
	t.Helper()
	a := answers{lake: map[string]map[formats.GroupKey]formats.Row{}, redis: map[string]map[formats.GroupKey]formats.Row{}}
	wg, err := warehouse.FromBatch(gen)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wg.Tables {
		tbl := &wg.Tables[i]
		if tbl.Kind != warehouse.KindView {
			continue
		}
		bv := bound[tbl.Source]
		nk := len(bv.View().GroupBy)
		rows := map[formats.GroupKey]formats.Row{}
		for _, r := range lakeRows(t, ctx, p.store, tbl) {
			k, err := bv.EncodeKey(r[:nk])
			if err != nil {
				t.Fatal(err)
			}
			rows[k] = r
		}
		a.lake[tbl.Source] = rows
		snap, err := srv.ReadAgg(ctx, tbl.Source)
		if err != nil {
			t.Fatalf("reading view %s from Redis: %v", tbl.Source, err)
		}
		if snap.Freshness.Generation != gen.Generation {
			t.Fatalf("view %s: Redis serves generation %d, want %d", tbl.Source, snap.Freshness.Generation, gen.Generation)
		}
		rr := map[formats.GroupKey]formats.Row{}
		for _, g := range snap.Groups {
			if row, ok := bv.Result(g.Key, g.Agg); ok {
				rr[g.Key] = row
			}
		}
		a.redis[tbl.Source] = rr
	}
	return a
}

func sameAnswers(t *testing.T, what string, bound map[string]*formats.BoundView, got, want map[string]map[formats.GroupKey]formats.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d views, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		g, bv := got[name], bound[name]
		var diffs []string
		for k, wr := range w {
			gr, ok := g[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("group %q missing (local %v)", k, wr))
			} else if !bv.RowsEqual(gr, wr) {
				diffs = append(diffs, fmt.Sprintf("group %q: local %v, postgres %v", k, wr, gr))
			}
		}
		for k, gr := range g {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("group %q only from postgres: %v", k, gr))
			}
		}
		if len(diffs) > 0 {
			t.Errorf("%s: view %s: %d differences:\n%s", what, name, len(diffs), strings.Join(diffs[:min(8, len(diffs))], "\n"))
		}
		if len(w) == 0 {
			t.Errorf("%s: view %s has no groups: the test proves nothing", what, name)
		}
	}
}

// TestEnginePostgresEqualsLocal: a generation whose views batch.engine
// postgres computed (pushed down to PostgreSQL over the generation's
// prepared tables) publishes the same answers, in the lake's view Parquet
// and in the Redis batch view, as the local engine on the same tables;
// a view the engine refuses with formats.ErrNotPushable falls back to the
// local engine (MariaDB's JSON is LONGTEXT, so no view of this source is
// refused by PostgreSQL's compiler: the engine is wrapped to refuse one); an unreachable engine fails the rebuild and publishes
// nothing.
func TestEnginePostgresEqualsLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB, MinIO, PostgreSQL and Redis")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newPipeline(t, ctx)
	for _, s := range []formats.ViewSpec{
		{Name: "by_json", From: "shop.alltypes", GroupBy: []string{"js"}, Measures: []string{"count()", "sum(i)"}},
		{Name: "typed", From: "shop.alltypes", Where: "dc IS NOT NULL AND (i > 0 OR vc IS NULL)",
			GroupBy:  []string{"year(dt) AS y", "truncate(3, vc)", "hour(ts)"},
			Measures: []string{"count()", "avg(dc)", "sum(dw)", "avg(dw)", "avg(bi)", "sum(biu)", "count(tm)", "avg(d)", "avg(miu)"}},
	} {
		v, err := formats.ParseView(s)
		if err != nil {
			t.Fatal(err)
		}
		p.opts.Views = append(p.opts.Views, v)
	}
	var logs syncBuffer
	p.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	rd := stack.Redis(t)
	st := redisview.New(rd.Client(t), redisview.Options{})
	p.opts.Publisher = serving.Publisher{Store: st}
	pg := stack.Postgres(t)
	l := openLoader(t, pg, p.store, "tidemark")

	p.bootstrap(t, ctx)
	if err := p.gen.Run(ctx, 500, 0); err != nil { // inserts, updates, deletes, NULLs
		t.Fatal(err)
	}
	local := p.rebuild(t, ctx)
	bound := map[string]*formats.BoundView{}
	schemas := map[string]*formats.TableSchema{}
	for _, ts := range local.Tables {
		s, err := ts.Schema()
		if err != nil {
			t.Fatal(err)
		}
		schemas[ts.Table] = s
	}
	var bvs []*formats.BoundView
	for _, v := range p.opts.Views {
		bv, err := v.Bind(schemas[v.From.String()])
		if err != nil {
			t.Fatal(err)
		}
		bound[v.Name] = bv
		bvs = append(bvs, bv)
	}
	srv := serving.New(st, bvs)
	want := readAnswers(t, ctx, p, local, srv, bound)

	// The next generation, computed in PostgreSQL: only the heartbeat
	// (no batch table) changed, so its tables are the local generation's.
	p.opts.ViewEngine = refusing{warehouse.NewEngine("pg", "postgres", l, warehouse.Selection{}), "by_json"}
	pushed := p.rebuild(t, ctx)
	for i, ts := range pushed.Tables {
		if ts.Rows != local.Tables[i].Rows {
			t.Fatalf("table %s: %d rows, the local generation %d: the workload moved", ts.Table, ts.Rows, local.Tables[i].Rows)
		}
	}
	got := readAnswers(t, ctx, p, pushed, srv, bound)
	sameAnswers(t, "lake", bound, got.lake, want.lake)
	sameAnswers(t, "redis", bound, got.redis, want.redis)
	out := logs.String()
	for _, v := range []string{"revenue_by_day", "orders_by_customer", "qty_buckets", "types_by_color", "typed"} {
		if !strings.Contains(out, "event=ViewEngineComputed view="+v+` engine="postgres target pg"`) {
			t.Errorf("view %s was not computed in PostgreSQL:\n%s", v, out)
		}
	}
	if !strings.Contains(out, "event=ViewComputedLocally view=by_json") {
		t.Errorf("the refused view did not fall back to the local engine:\n%s", out)
	}
	// The tables were prepared, not swapped: the target still holds none,
	// and its own load of the generation reuses them.
	if _, err := l.Current(ctx); !errors.Is(err, warehouse.ErrNotLoaded) {
		t.Errorf("the engine swapped a generation in: %v", err)
	}
	wgen, err := warehouse.FromBatch(pushed)
	if err != nil {
		t.Fatal(err)
	}
	prep, err := l.Prepare(ctx, wgen)
	if err != nil || prep.Rows != sumViewRows(pushed) {
		t.Errorf("the load after the engine: %+v %v (want only the views' %d rows copied)", prep, err, sumViewRows(pushed))
	}

	// An engine that cannot be reached fails the rebuild: no manifest, and
	// Redis keeps serving the previous generation.
	dead, err := New(Options{DSN: "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", Store: p.store})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	p.opts.ViewEngine = warehouse.NewEngine("dead", "postgres", dead, warehouse.Selection{})
	p.m.Exec(t, "UPDATE shop.heartbeat SET at = NOW(6) WHERE id = 1")
	_, err = rebuildErr(t, ctx, p)
	if !errors.Is(err, batch.ErrViewEngine) || !errors.Is(err, warehouse.ErrUnavailable) {
		t.Fatalf("rebuild with an unreachable engine: %v, want ErrViewEngine and ErrUnavailable", err)
	}
	if latest, err := batch.Latest(ctx, p.store); err != nil || latest.Generation != pushed.Generation {
		t.Fatalf("after the failed rebuild the lake's latest generation is %v (%v), want %d", latest, err, pushed.Generation)
	}
	if m, err := st.Meta(ctx, "revenue_by_day"); err != nil || m.Generation != pushed.Generation {
		t.Fatalf("after the failed rebuild Redis serves %+v (%v), want generation %d", m, err, pushed.Generation)
	}
}

// refusing is a view engine that refuses one view as not pushable, as the
// compiler does what a dialect cannot compute exactly.
type refusing struct {
	batch.ViewEngine
	view string
}

func (r refusing) ComputeView(ctx context.Context, bv *formats.BoundView, g uint64) (formats.Delta, error) {
	if bv.View().Name == r.view {
		return nil, fmt.Errorf("view %s: refused by the test: %w", r.view, formats.ErrNotPushable)
	}
	return r.ViewEngine.ComputeView(ctx, bv, g)
}

func sumViewRows(g *batch.Generation) int64 {
	var n int64
	for _, v := range g.Views {
		n += v.Groups
	}
	return n
}

// rebuildErr is pipeline.rebuild returning the rebuild's error.
func rebuildErr(t *testing.T, ctx context.Context, p *pipeline) (*batch.Generation, error) {
	t.Helper()
	return batch.Rebuild(ctx, p.store, nil, p.opts)
}

// TestDropGeneration: the engine's retry of a generation replaces what a
// failed attempt prepared (another attempt may have other rows), and a
// generation the target already holds is refused, its tables kept.
func TestDropGeneration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg := stack.Postgres(t)
	store, _ := lake.OpenDir(t.TempDir())
	cols, rows := allTypes(t)
	l := openLoader(t, pg, store, "tidemark")
	attempt := func(n int) *warehouse.Generation {
		tbl := writeTable(t, store, "shop.alltypes", cols, []int{0}, rows[:n], fmt.Sprintf("tables/shop/alltypes/gen=1/attempt%d", n))
		return &warehouse.Generation{Number: 1, Cut: "binlog.000001:4", Tables: []warehouse.Table{tbl}}
	}
	if _, err := l.Prepare(ctx, attempt(2)); err != nil {
		t.Fatal(err)
	}
	if err := l.DropGeneration(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if names, err := l.GenTables(ctx); err != nil || len(names) != 0 {
		t.Fatalf("after DropGeneration(1): %v %v, want no per-generation table", names, err)
	}
	g := attempt(len(rows))
	if p, err := l.Prepare(ctx, g); err != nil || p.Reused || p.Rows != int64(len(rows)) {
		t.Fatalf("Prepare of the retry: %+v %v, want all %d rows copied", p, err, len(rows))
	}
	if _, err := l.Swap(ctx, g, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.DropGeneration(ctx, 1); !errors.Is(err, warehouse.ErrStale) {
		t.Fatalf("DropGeneration of the loaded generation: %v, want ErrStale", err)
	}
	var n int
	if err := pg.Conn(t).QueryRow(ctx, "SELECT count(*) FROM tidemark.shop_alltypes").Scan(&n); err != nil || n != len(rows) {
		t.Fatalf("the loaded generation after a refused drop: %d rows, %v", n, err)
	}
}
