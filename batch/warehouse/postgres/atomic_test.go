package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// helperEnv makes the test binary a loader process (TestMain): the value
// is a helperJob in JSON. The crash tests kill it at a hook point.
const helperEnv = "TIDEMARK_TEST_WAREHOUSE_HELPER"

type helperJob struct {
	DSN, Schema, Lake, Kill string
	Gen                     uint64
}

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		os.Exit(runHelper(v))
	}
	os.Exit(m.Run())
}

func runHelper(v string) int {
	var j helperJob
	if err := json.Unmarshal([]byte(v), &j); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	store, err := lake.OpenDir(j.Lake)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l, err := New(Options{DSN: j.DSN, Schema: j.Schema, Store: store, Hook: func(p string) {
		if p == j.Kill {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	r := warehouse.NewRunner(store, []warehouse.Target{{Name: "pg", Kind: "postgres", Loader: l}}, warehouse.RunnerOptions{Keep: 1})
	if _, err := r.Load(context.Background(), "pg", j.Gen, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// publish writes generation n of two tables to the lake with a manifest,
// as the batch layer would: table a has rows*n rows whose column g is n
// (and, in odd generations, a column extra), table b n rows. It returns
// the expected row counts.
func publish(t testing.TB, store *lake.Dir, n uint64, rows int) map[string]int64 {
	t.Helper()
	bigint, text := mustType(t, "bigint"), mustType(t, "varchar(64)")
	aCols := []warehouse.Column{{Name: "id", Type: bigint}, {Name: "g", Type: bigint}, {Name: "pad", Type: text, Nullable: true}}
	if n%2 == 1 {
		aCols = append(aCols, warehouse.Column{Name: "extra", Type: text, Nullable: true})
	}
	var aRows, bRows []formats.Row
	for i := 0; i < rows*int(n); i++ {
		r := formats.Row{int64(i), int64(n), "padding padding padding padding padding " + strconv.Itoa(i)}
		if len(aCols) == 4 {
			r = append(r, "x")
		}
		aRows = append(aRows, r)
	}
	for i := 0; i < int(n); i++ {
		bRows = append(bRows, formats.Row{int64(i), int64(n), nil})
	}
	m := &batch.Generation{Version: 1, Generation: n, Source: "shop", Cut: formats.Position{File: "binlog.000001", Offset: 1000 + uint32(n)}.String(),
		CutTime: time.Date(2026, 1, 1, 0, 0, int(n), 0, time.UTC), CreatedAt: time.Now().UTC()}
	for _, tb := range []struct {
		name string
		cols []warehouse.Column
		rows []formats.Row
	}{{"a", aCols, aRows}, {"b", aCols[:3], bRows}} {
		prefix := fmt.Sprintf("tables/shop/%s/gen=%d", tb.name, n)
		wt := writeTable(t, store, "shop."+tb.name, tb.cols, []int{0}, tb.rows, prefix)
		ts := batch.TableSnapshot{Table: "shop." + tb.name, PK: []int{0}, Partition: []string{}, Prefix: prefix, Rows: wt.Rows}
		for _, c := range tb.cols {
			ts.Columns = append(ts.Columns, batch.ColumnSpec{Name: c.Name, Type: c.Type.String(), Nullable: c.Nullable})
		}
		for _, f := range wt.Files {
			ts.Files = append(ts.Files, snapshot.File{Key: f.Key, Rows: f.Rows, Bytes: f.Bytes})
		}
		m.Tables = append(m.Tables, ts)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(context.Background(), fmt.Sprintf("_generations/%020d.json", n), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return map[string]int64{"shop_a": int64(rows) * int64(n), "shop_b": int64(n)}
}

// snapshotOf reads, in ONE statement, the loaded generation and what the
// stable names hold: row counts and the range of column g of each.
type readerView struct {
	gen              int64
	a, b             int64
	aMin, aMax, bMin int64
	bMax             int64
}

const readerSQL = `SELECT (SELECT max(generation) FROM %[1]s.tidemark_generations),
	(SELECT count(*) FROM %[1]s.shop_a), (SELECT coalesce(min(g), -1) FROM %[1]s.shop_a), (SELECT coalesce(max(g), -1) FROM %[1]s.shop_a),
	(SELECT count(*) FROM %[1]s.shop_b), (SELECT coalesce(min(g), -1) FROM %[1]s.shop_b), (SELECT coalesce(max(g), -1) FROM %[1]s.shop_b)`

func readOnce(ctx context.Context, c *pgx.Conn, schema string) (readerView, error) {
	var v readerView
	err := c.QueryRow(ctx, fmt.Sprintf(readerSQL, schema)).Scan(&v.gen, &v.a, &v.aMin, &v.aMax, &v.b, &v.bMin, &v.bMax)
	return v, err
}

// whole reports whether v shows exactly generation v.gen.
func whole(v readerView, rows int) error {
	g := v.gen
	if v.a != int64(rows)*g || v.b != g || v.aMin != g || v.aMax != g || v.bMin != g || v.bMax != g {
		return fmt.Errorf("control row says generation %d, tables hold a: %d rows of g %d..%d, b: %d rows of g %d..%d",
			g, v.a, v.aMin, v.aMax, v.b, v.bMin, v.bMax)
	}
	return nil
}

// TestReadersNeverSeeAMix: while generations are loaded one after the
// other (columns changing every generation), a reader loop sees in every
// statement one whole generation: never a mix, a missing or partial table.
func TestReadersNeverSeeAMix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg := stack.Postgres(t)
	dir := t.TempDir()
	store, _ := lake.OpenDir(dir)
	const rows, gens = 2000, 8
	for n := uint64(1); n <= gens; n++ {
		publish(t, store, n, rows)
	}
	l := openLoader(t, pg, store, "rd")
	r := warehouse.NewRunner(store, []warehouse.Target{{Name: "pg", Kind: "postgres", Loader: l}}, warehouse.RunnerOptions{Keep: 1})
	if _, err := r.Load(ctx, "pg", 1, 0); err != nil {
		t.Fatal(err)
	}
	var (
		stop   atomic.Bool
		reads  atomic.Int64
		seen   sync.Map
		failed = make(chan error, 4)
		wg     sync.WaitGroup
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, pg.DSN())
			if err != nil {
				failed <- err
				return
			}
			defer c.Close(ctx)
			for !stop.Load() {
				v, err := readOnce(ctx, c, "rd")
				if err == nil {
					err = whole(v, rows)
				}
				if err != nil {
					failed <- err
					return
				}
				seen.Store(v.gen, true)
				reads.Add(1)
			}
		}()
	}
	for n := uint64(2); n <= gens; n++ {
		if _, err := r.Load(ctx, "pg", n, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatalf("a reader saw: %v", err)
	}
	n := 0
	seen.Range(func(any, any) bool { n++; return true })
	if n < 3 {
		t.Fatalf("the readers saw %d generations in %d reads: the loop did not overlap the loads", n, reads.Load())
	}
	t.Logf("%d reads saw %d generations, each whole", reads.Load(), n)
}

// TestKill9DuringLoad kills the loading process (SIGKILL) at each point of
// a load: mid-COPY, before the swap, inside it (before COMMIT), after it.
// The previous generation stays whole and readable (after the swap: the
// new one is), the next load succeeds, and nothing is left over.
func TestKill9DuringLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg := stack.Postgres(t)
	dir := t.TempDir()
	store, _ := lake.OpenDir(dir)
	const rows = 12000 // table a's COPY stream passes 1 MiB from generation 1 on
	for n := uint64(1); n <= 5; n++ {
		publish(t, store, n, rows)
	}
	l := openLoader(t, pg, store, "kl")
	r := warehouse.NewRunner(store, []warehouse.Target{{Name: "pg", Kind: "postgres", Loader: l}}, warehouse.RunnerOptions{Keep: 1})
	if _, err := r.Load(ctx, "pg", 1, 0); err != nil {
		t.Fatal(err)
	}
	c := pg.Conn(t)
	for i, point := range []string{HookCopy, HookBeforeSwap, HookInSwap, HookAfterSwap} {
		gen := uint64(i + 2)
		job, _ := json.Marshal(helperJob{DSN: pg.DSN(), Schema: "kl", Lake: dir, Kill: point, Gen: gen})
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+string(job))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("%s: the loader was not killed at the point: %v\n%s", point, err, out)
		}
		v, err := readOnce(ctx, c, "kl")
		if err == nil {
			err = whole(v, rows)
		}
		if err != nil {
			t.Fatalf("killed %s: %v", point, err)
		}
		want := int64(gen - 1)
		if point == HookAfterSwap {
			want = int64(gen)
		}
		if v.gen != want {
			t.Fatalf("killed %s while loading generation %d: the target holds %d, want %d", point, gen, v.gen, want)
		}
		t.Logf("killed %s: generation %d whole", point, v.gen)
		// The next load (of the same generation) succeeds and leaves only
		// its own tables.
		if _, err := r.Load(ctx, "pg", gen, 0); err != nil {
			t.Fatalf("after the kill %s: %v", point, err)
		}
		if v, err = readOnce(ctx, c, "kl"); err != nil || v.gen != int64(gen) || whole(v, rows) != nil {
			t.Fatalf("after the kill %s, reloading generation %d: %+v %v", point, gen, v, err)
		}
		names, err := l.GenTables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantNames := []string{warehouse.GenTable("shop_a", gen), warehouse.GenTable("shop_b", gen)}
		if fmt.Sprint(names) != fmt.Sprint(wantNames) {
			t.Fatalf("after the kill %s and a reload: per-generation tables %v, want %v", point, names, wantNames)
		}
		var orphans int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace
			WHERE n.nspname IN ('kl', 'kl_gen') AND k.relkind IN ('r', 'v') AND k.relname NOT IN ('tidemark_generations', 'shop_a', 'shop_b', $1, $2)`,
			wantNames[0], wantNames[1]).Scan(&orphans); err != nil || orphans != 0 {
			t.Fatalf("after the kill %s: %d left-over relations (%v)", point, orphans, err)
		}
		var idle int
		c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'").Scan(&idle)
		if idle != 0 {
			t.Fatalf("after the kill %s: %d transactions left open", point, idle)
		}
	}
}

// TestRunnerRetriesADownTarget: while PostgreSQL is down the runner's load
// fails as unavailable and is retried with backoff; generations published
// meanwhile supersede each other; once PostgreSQL is back the newest is
// loaded, the ones in between never.
func TestRunnerRetriesADownTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pg := stack.Postgres(t)
	dir := t.TempDir()
	store, _ := lake.OpenDir(dir)
	publish(t, store, 1, 10)
	l := openLoader(t, pg, store, "rt")
	reg := prometheus.NewRegistry()
	r := warehouse.NewRunner(store, []warehouse.Target{{Name: "pg", Kind: "postgres", Loader: l}},
		warehouse.RunnerOptions{Keep: 1, MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, Metrics: warehouse.NewPromMetrics(reg)})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor := func(what string, ok func(warehouse.State) bool) warehouse.State {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			st := r.States()[0]
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: state %+v", what, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("generation 1 (the lake's newest at start)", func(s warehouse.State) bool { return s.Phase == warehouse.PhaseLoaded && s.Loaded == 1 })

	pg.Stop(t)
	publish(t, store, 2, 10)
	r.Published(2)
	st := waitFor("a failed attempt", func(s warehouse.State) bool { return s.Phase == warehouse.PhaseFailed && s.Attempts >= 3 })
	if st.Generation != 2 || st.Loaded != 1 || st.Error == "" {
		t.Fatalf("while down: %+v", st)
	}
	if _, err := openLoader(t, pg, store, "rt").Current(ctx); !errors.Is(err, warehouse.ErrUnavailable) {
		t.Fatalf("a stopped PostgreSQL: %v, want ErrUnavailable", err)
	}
	saved, ok, err := warehouse.ReadState(ctx, store, "pg")
	if err != nil || !ok || saved.Phase != warehouse.PhaseFailed {
		t.Fatalf("the state kept in the lake: %+v %v %v", saved, ok, err)
	}
	publish(t, store, 3, 10)
	r.Published(3)
	waitFor("an attempt at generation 3", func(s warehouse.State) bool { return s.Generation == 3 && s.Phase == warehouse.PhaseFailed })
	pg.Start(t)
	waitFor("generation 3 once PostgreSQL is back", func(s warehouse.State) bool { return s.Phase == warehouse.PhaseLoaded && s.Loaded == 3 })
	c := pg.Conn(t)
	var gens []int64
	rows, err := c.Query(ctx, "SELECT generation FROM rt.tidemark_generations ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var g int64
		rows.Scan(&g)
		gens = append(gens, g)
	}
	if fmt.Sprint(gens) != "[1 3]" {
		t.Fatalf("loaded generations %v, want [1 3]: 2 was superseded while the target was down", gens)
	}
	statuses := r.Status(ctx)
	if len(statuses) != 1 || statuses[0].Current == nil || statuses[0].Current.Generation != 3 || statuses[0].Behind || statuses[0].Lake != 3 {
		t.Fatalf("status: %+v", statuses)
	}
	metric := func(name string, labels ...string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		next:
			for _, m := range mf.GetMetric() {
				for i := 0; i+1 < len(labels); i += 2 {
					found := false
					for _, lp := range m.GetLabel() {
						found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
					}
					if !found {
						continue next
					}
				}
				switch {
				case m.Gauge != nil:
					return m.GetGauge().GetValue()
				case m.Counter != nil:
					return m.GetCounter().GetValue()
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return -1
	}
	if v := metric("tidemark_warehouse_loaded_generation", "target", "pg"); v != 3 {
		t.Errorf("loaded generation metric %v, want 3", v)
	}
	if v := metric("tidemark_warehouse_load_failures_total", "target", "pg", "reason", "unavailable"); v < 3 {
		t.Errorf("unavailable failures %v, want >= 3", v)
	}
	if v := metric("tidemark_warehouse_loaded_rows_total", "target", "pg"); v != 10*1+1+10*3+3 {
		t.Errorf("loaded rows %v, want %d", v, 10*1+1+10*3+3)
	}
	if v := metric("tidemark_warehouse_load_seconds", "target", "pg"); v < 5 {
		t.Errorf("%v load attempts timed, want >= 5", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRunnerOnAnEmptyLake: nothing published is nothing to do: Run waits
// (idle, no failure) and loads the first generation when it comes.
func TestRunnerOnAnEmptyLake(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pg := stack.Postgres(t)
	store, _ := lake.OpenDir(t.TempDir())
	l := openLoader(t, pg, store, "el")
	r := warehouse.NewRunner(store, []warehouse.Target{{Name: "pg", Kind: "postgres", Loader: l}}, warehouse.RunnerOptions{})
	if _, err := r.Load(ctx, "pg", 0, 0); !errors.Is(err, warehouse.ErrNoGeneration) {
		t.Fatalf("load from an empty lake: %v, want ErrNoGeneration", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	if st := r.States()[0]; st.Phase != warehouse.PhaseIdle || st.Error != "" {
		t.Fatalf("state on an empty lake: %+v", st)
	}
	publish(t, store, 1, 5)
	r.Published(1)
	deadline := time.Now().Add(30 * time.Second)
	for r.States()[0].Loaded != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("generation 1 not loaded: %+v", r.States()[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
}
