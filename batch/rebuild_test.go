package batch

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

func testOptions(pub Publisher) Options {
	return Options{
		SourceName: "shop",
		Tables:     []Table{{ID: ordersID, Partition: []string{"day(created_at) AS dt"}, History: true}, {ID: eventsID}},
		Views:      testViews(), Publisher: pub, Keep: 2, RowGroupRows: 50, BatchRows: 37,
		ArchiveWait: time.Second,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func archive(t *testing.T, store lake.Store, m *model, start formats.Position) {
	t.Helper()
	a, err := changelog.NewArchiver(store, changelog.Options{Source: "shop", SegmentSeconds: 2, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background(), m.stream(0, len(m.txns))); err != nil {
		t.Fatal(err)
	}
}

func rowKey(s *formats.TableSchema, r formats.Row) string {
	var b []byte
	for i, c := range s.Columns {
		b = formats.AppendJSON(append(b, ','), c.Type, r[i])
	}
	return string(b)
}

func sortedRows(s *formats.TableSchema, rows []formats.Row) []formats.Row {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b formats.Row) int { return strings.Compare(rowKey(s, a), rowKey(s, b)) })
	return rows
}

func readTable(t *testing.T, store lake.Store, ts TableSnapshot) []formats.Row {
	t.Helper()
	s, err := ts.Schema()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, f := range ts.Files {
		keys = append(keys, f.Key)
	}
	var rows []formats.Row
	for r, err := range tableRows(context.Background(), store, keys, s) {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	return rows
}

// checkGeneration compares a generation's tables and views with the model
// at the generation's cut.
func checkGeneration(t *testing.T, store lake.Store, gen *Generation, m *model) {
	t.Helper()
	cut, err := gen.CutPosition()
	if err != nil {
		t.Fatal(err)
	}
	st := m.stateAt(cut)
	want := map[string][]formats.Row{
		"shop.orders": slices.Collect(maps.Values(st.orders)),
		"shop.events": st.events,
	}
	schemas := map[string]*formats.TableSchema{"shop.orders": ordersSchema, "shop.events": eventsSchema}
	for _, ts := range gen.Tables {
		s := schemas[ts.Table]
		got := sortedRows(s, readTable(t, store, ts))
		w := sortedRows(s, want[ts.Table])
		if len(got) != len(w) || int64(len(got)) != ts.Rows {
			t.Fatalf("generation %d %s: %d rows read, manifest says %d, want %d", gen.Generation, ts.Table, len(got), ts.Rows, len(w))
		}
		for i := range w {
			if !reflect.DeepEqual(got[i], w[i]) {
				t.Fatalf("generation %d %s row %d: got %v, want %v", gen.Generation, ts.Table, i, got[i], w[i])
			}
		}
		if ts.Table == "shop.orders" {
			for _, f := range ts.Files {
				if !strings.HasPrefix(f.Key, ts.Prefix+"/dt=2024-05-0") {
					t.Errorf("orders file %s is not under a dt= folder", f.Key)
				}
			}
		}
	}
	// Views: the evaluator over the model's rows, written as the rebuild would.
	for _, v := range testViews() {
		if v.Mirror {
			continue
		}
		var vs *ViewSnapshot
		for i := range gen.Views {
			if gen.Views[i].View == v.Name {
				vs = &gen.Views[i]
			}
		}
		if vs == nil {
			t.Fatalf("generation %d has no view %s", gen.Generation, v.Name)
		}
		s := schemas[v.From.String()]
		bv, err := v.Bind(s)
		if err != nil {
			t.Fatal(err)
		}
		d := formats.Delta{}
		for _, r := range want[v.From.String()] {
			if err := bv.AccumulateRow(r, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		var wantRows []formats.Row
		for _, k := range slices.Sorted(maps.Keys(d)) {
			if r, ok := bv.Result(k, d[k]); ok {
				wantRows = append(wantRows, r)
			}
		}
		vts := TableSnapshot{Table: "x.y", Columns: vs.Columns, Files: vs.Files}
		got := readTable(t, store, vts)
		if !reflect.DeepEqual(got, wantRows) || int64(len(got)) != vs.Groups {
			t.Fatalf("generation %d view %s: got %d groups %v, want %d %v", gen.Generation, v.Name, len(got), got, len(wantRows), wantRows)
		}
	}
}

func TestRebuildGenerations(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	m := newModel(1)
	for range 30 {
		m.step()
	}
	pub := &recordingPublisher{}
	opts := testOptions(pub)
	pub.onPublish = func() {
		if gs, _ := Generations(ctx, store); len(gs) == 0 {
			t.Error("publisher called before the generation manifest was written")
		}
	}

	// Generation 0: the bootstrap extract; the archive is still empty, so
	// the extract's position is the cut and the archive's start.
	g0, err := Rebuild(ctx, store, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	if g0.Generation != 0 || g0.Cut != m.txns[29].Pos.String() || g0.CutSegment != 0 || g0.Base != "source" {
		t.Fatalf("generation 0: %+v", g0)
	}
	checkGeneration(t, store, g0, m)
	if n := pub.mirrors["orders_mirror"]; n != len(m.states[29].orders) {
		t.Fatalf("mirror published %d rows, want %d", n, len(m.states[29].orders))
	}

	// Generation 1: generation 0 rolled forward with the archive.
	for range 90 {
		m.step()
	}
	archive(t, store, m, m.txns[29].Pos)
	g1, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if g1.Base != "generation 0" || g1.CutSegment == 0 {
		t.Fatalf("generation 1: base %q cut segment %d", g1.Base, g1.CutSegment)
	}
	checkGeneration(t, store, g1, m)

	// Generation 2: a fresh extract at a position inside the archived range,
	// rolled forward to the last sealed segment.
	for range 60 {
		m.step()
	}
	archive(t, store, m, m.txns[29].Pos)
	m.snapAt = 150
	fresh := opts
	fresh.FromSource = true
	g2, err := Rebuild(ctx, store, m, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Base != "source" || g2.BasePosition != m.txns[150].Pos.String() || g2.CutSegment <= g1.CutSegment {
		t.Fatalf("generation 2: base %q at %s, cut segment %d", g2.Base, g2.BasePosition, g2.CutSegment)
	}
	checkGeneration(t, store, g2, m)

	// Generation 3: nothing new sealed; it is generation 2's cut again.
	g3, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if g3.Cut != g2.Cut {
		t.Fatalf("generation 3 cut %s, want %s", g3.Cut, g2.Cut)
	}
	checkGeneration(t, store, g3, m)

	// Retention keeps 2 generations: 0 and 1 are gone, folders included.
	gens, _ := Generations(ctx, store)
	if !reflect.DeepEqual(gens, []uint64{2, 3}) {
		t.Fatalf("generations %v, want [2 3]", gens)
	}
	for _, p := range []string{"tables/shop/orders/gen=0/", "tables/shop/orders/gen=1/", "views/revenue_by_day/gen=1/", "_staging/"} {
		if objs, _ := store.List(ctx, p); len(objs) != 0 {
			t.Errorf("%s still has %d objects", p, len(objs))
		}
	}
	// The publisher saw every view of every generation, load before publish.
	want := []string{
		"load revenue_by_day 3", "publish revenue_by_day 3 " + g3.Cut + " " + strconv.FormatUint(g3.CutSegment, 10),
		"load event_kinds 3", "publish event_kinds 3 " + g3.Cut + " " + strconv.FormatUint(g3.CutSegment, 10),
		"mirror orders_mirror 3 " + g3.Cut,
	}
	if got := pub.calls[len(pub.calls)-5:]; !reflect.DeepEqual(got, want) {
		t.Fatalf("publisher calls %q, want %q", got, want)
	}
}

// TestEmptyTables bootstraps from a source whose tables are empty: with a
// SchemaSource the snapshots are typed and every view is published (empty);
// without one the table's schema stays unknown until the archive shows it.
func TestEmptyTables(t *testing.T) {
	ctx := context.Background()
	m := newModel(3)
	m.step()
	m.snapAt = 0
	empty := &model{txns: m.txns, states: []state{{orders: map[int64]formats.Row{}}}, snapAt: 0}
	store, _ := lake.OpenDir(t.TempDir())
	pub := &recordingPublisher{}
	g, err := Rebuild(ctx, store, empty, testOptions(pub))
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range g.Tables {
		if ts.Columns == nil || ts.Rows != 0 || len(ts.Files) != 0 {
			t.Errorf("%s: columns %v, %d rows, %d files", ts.Table, ts.Columns, ts.Rows, len(ts.Files))
		}
	}
	if len(g.Views) != 2 || len(pub.calls) != 5 {
		t.Fatalf("views %v, publisher calls %q", g.Views, pub.calls)
	}

	store2, _ := lake.OpenDir(t.TempDir())
	g, err = Rebuild(ctx, store2, snapshotOnly{empty}, testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if g.Tables[0].Columns != nil || len(g.Views) != 0 {
		t.Fatalf("without a SchemaSource: %+v", g)
	}
}

// snapshotOnly hides the model's Schemas method.
type snapshotOnly struct{ m *model }

func (s snapshotOnly) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error) {
	return s.m.Snapshot(ctx, tables, emit)
}

func TestRebuildRefusals(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	m := newModel(2)
	for range 40 {
		m.step()
	}
	opts := testOptions(nil)
	if _, err := Rebuild(ctx, store, nil, opts); err == nil || !strings.Contains(err.Error(), "no source is configured") {
		t.Fatalf("first rebuild without a source: %v", err)
	}
	m.snapAt = 10
	if _, err := Rebuild(ctx, store, m, opts); err != nil {
		t.Fatal(err)
	}
	// The archive starts after generation 0's cut: changes are missing.
	archive(t, store, m, m.txns[20].Pos)
	if _, err := Rebuild(ctx, store, nil, opts); err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("rebuild over a gap: %v", err)
	}
	// A from-source extract newer than anything sealed: the rebuild waits
	// ArchiveWait, then says what is wrong.
	m.snapAt = -1
	fresh := opts
	fresh.FromSource = true
	if _, err := Rebuild(ctx, store, m, fresh); err == nil || !strings.Contains(err.Error(), "is the archiver running") {
		t.Fatalf("extract beyond the archive: %v", err)
	}
	bad := opts
	bad.Views = append(bad.Views, mustView(t, formats.ViewSpec{Name: "x", From: "shop.other", Measures: []string{"count()"}}))
	if _, err := Rebuild(ctx, store, m, bad); err == nil || !strings.Contains(err.Error(), "not among the batch tables") {
		t.Fatalf("view of an unknown table: %v", err)
	}
	if gens, _ := Generations(ctx, store); !reflect.DeepEqual(gens, []uint64{0}) {
		t.Fatalf("failed rebuilds changed the generations: %v", gens)
	}
}

func mustView(t *testing.T, s formats.ViewSpec) *formats.View {
	v, err := formats.ParseView(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRebuildSurvivesKill9 kills a rebuild in a child process during the
// extract, while it writes table files, and after its manifest while it
// publishes: readers always see a whole generation (the old one until the
// manifest exists), and the next rebuild succeeds and is exact.
func TestRebuildSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	store, _ := lake.OpenDir(dir)
	m := childModel()
	if _, err := Rebuild(ctx, store, m, testOptions(nil)); err != nil {
		t.Fatal(err)
	}
	exists := func(rel string) func() bool {
		return func() bool {
			found := false
			filepath.WalkDir(filepath.Join(dir, rel), func(p string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					found = true
				}
				return nil
			})
			return found
		}
	}
	rounds := []struct {
		phase   string
		reached func() bool
		latest  uint64
	}{
		{"extract", exists("_staging/gen=1"), 0},
		{"table files", exists("tables/shop/orders/gen=1"), 0},
		{"publish", exists("_generations/00000000000000000001.json"), 1},
	}
	for _, r := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRebuildChild$")
		cmd.Env = append(os.Environ(), "TIDEMARK_REBUILD_CHILD="+dir)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !r.reached() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if !r.reached() {
			t.Fatalf("%s: the child never got there (%v):\n%s", r.phase, err, out.String())
		}
		latest, lerr := Latest(ctx, store)
		if lerr != nil {
			t.Fatal(lerr)
		}
		t.Logf("killed during %s (%v): readers see generation %d", r.phase, err, latest.Generation)
		if latest.Generation != r.latest {
			t.Fatalf("killed during %s: latest generation %d, want %d", r.phase, latest.Generation, r.latest)
		}
		checkGeneration(t, store, latest, m)
	}
	g, err := Rebuild(ctx, store, m, func() Options { o := testOptions(nil); o.FromSource = true; return o }())
	if err != nil {
		t.Fatal(err)
	}
	if g.Generation != 2 {
		t.Fatalf("next rebuild made generation %d, want 2", g.Generation)
	}
	checkGeneration(t, store, g, m)
	if objs, _ := store.List(ctx, "_staging/"); len(objs) != 0 {
		t.Fatalf("staging leftovers: %d objects", len(objs))
	}
	objs, _ := store.List(ctx, "tables/shop/orders/gen=2/")
	if len(objs) != len(g.Tables[0].Files) {
		t.Fatalf("generation folder has %d objects, the manifest lists %d: a dead attempt's files survived", len(objs), len(g.Tables[0].Files))
	}
	if objs, _ := store.List(ctx, "history/shop/orders/gen=2/"); len(objs) != len(g.Histories[0].Files) {
		t.Fatalf("history folder has %d objects, the manifest lists %d: a dead attempt's files survived", len(objs), len(g.Histories[0].Files))
	}
}

func childModel() *model {
	m := newModel(7)
	for range 600 {
		m.step()
	}
	return m
}

// slowStore delays every Put halfway through its bytes, so that a kill
// lands while objects are being written.
type slowStore struct {
	lake.Store
	delay time.Duration
}

func (s slowStore) Put(ctx context.Context, key string, r io.Reader) error {
	return s.Store.Put(ctx, key, io.MultiReader(io.LimitReader(r, 64), sleepReader(s.delay), r))
}

type sleepReader time.Duration

func (d sleepReader) Read([]byte) (int, error) {
	time.Sleep(time.Duration(d))
	return 0, io.EOF
}

// stuckPublisher never finishes publishing.
type stuckPublisher struct{ recordingPublisher }

func (p *stuckPublisher) PublishAgg(ctx context.Context, view *formats.View, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error {
	time.Sleep(time.Hour)
	return nil
}

// TestRebuildChild is the child of TestRebuildSurvivesKill9: a slow
// from-source rebuild that hangs when publishing.
func TestRebuildChild(t *testing.T) {
	dir := os.Getenv("TIDEMARK_REBUILD_CHILD")
	if dir == "" {
		t.Skip("child process of TestRebuildSurvivesKill9")
	}
	d, _ := lake.OpenDir(dir)
	m := childModel()
	m.rowDelay = 200 * time.Microsecond
	o := testOptions(&stuckPublisher{})
	o.FromSource = true
	if _, err := Rebuild(context.Background(), slowStore{d, 300 * time.Millisecond}, m, o); err != nil {
		t.Fatal(err)
	}
}

// scatteredSource emits n orders whose created_at days are scattered over
// `days` days in primary key order, the worst order for partitioning.
type scatteredSource struct{ n, days int }

func (s scatteredSource) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error) {
	for i := 0; i < s.n; i++ {
		day := (i * 7919) % s.days
		r := formats.Row{int64(i), int64(i % 10), "paid", nil, modelBase.Add(time.Duration(day)*24*time.Hour + time.Duration(i)*time.Microsecond)}
		if err := emit(ctx, ordersSchema, r); err != nil {
			return formats.Position{}, err
		}
	}
	return formats.Position{File: "bin.000001", Offset: 4}, nil
}

// TestOneFilePerPartition: rows arriving in an order unrelated to their
// partitions, with more partitions than open files, still make one file
// per partition, from the source and rolled forward.
func TestOneFilePerPartition(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	o := Options{SourceName: "s", Tables: []Table{{ID: ordersID, Partition: []string{"day(created_at) AS dt"}}},
		MaxOpenFiles: 4, BatchRows: 300, RowGroupRows: 1000}
	for _, fromSource := range []bool{true, false} {
		o.FromSource = fromSource
		g, err := Rebuild(ctx, store, scatteredSource{n: 6000, days: 40}, o)
		if err != nil {
			t.Fatal(err)
		}
		ts := g.Tables[0]
		parts := map[string]int{}
		for _, f := range ts.Files {
			parts[f.Partition]++
		}
		if ts.Rows != 6000 || len(parts) != 40 || len(ts.Files) != 40 {
			t.Fatalf("generation %d: %d rows in %d files over %d partitions; want 6000 rows, one file for each of 40 partitions",
				g.Generation, ts.Rows, len(ts.Files), len(parts))
		}
	}
}
