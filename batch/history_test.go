package batch

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// histVersion is one row of a history table, split.
type histVersion struct {
	row                formats.Row // the table's columns
	from, to           string      // to "" while current
	fromTime, toTime   any
	startOp, endOp     string
	rendered, rowValue string
}

func (v histVersion) String() string { return v.rendered }

func readHistory(t *testing.T, store lake.Store, ts TableSnapshot) []histVersion {
	t.Helper()
	s, err := ts.Schema()
	if err != nil {
		t.Fatal(err)
	}
	n := len(s.Columns) - len(historyColumns)
	table := &formats.TableSchema{Columns: s.Columns[:n]}
	var out []histVersion
	for _, r := range readTable(t, store, ts) {
		v := histVersion{row: r[:n], from: r[n].(string), fromTime: r[n+2], toTime: r[n+3], startOp: r[n+4].(string)}
		if r[n+1] != nil {
			v.to = r[n+1].(string)
		}
		if r[n+5] != nil {
			v.endOp = r[n+5].(string)
		}
		v.rowValue = rowKey(table, v.row)
		v.rendered = fmt.Sprintf("%s [%s %v %s, %s %v %s)", v.rowValue, v.from, v.fromTime, v.startOp, v.to, v.toTime, v.endOp)
		out = append(out, v)
	}
	if int64(len(out)) != ts.Rows {
		t.Fatalf("history %s: %d rows read, the manifest says %d", ts.Table, len(out), ts.Rows)
	}
	return out
}

// validAt returns the rows of the versions valid at cut, compared as
// strings the way a reader of the lake would (cut with its @gtid).
func validAt(vs []histVersion, cut string) []string {
	var out []string
	for _, v := range vs {
		if v.from <= cut && (v.to == "" || v.to > cut) {
			out = append(out, v.rowValue)
		}
	}
	slices.Sort(out)
	return out
}

// checkIntervals fails on an empty interval or on two versions of one key
// valid at once.
func checkIntervals(t *testing.T, vs []histVersion) {
	t.Helper()
	byKey := map[string][]histVersion{}
	for _, v := range vs {
		if v.to != "" && v.to <= v.from {
			t.Fatalf("empty interval: %s", v)
		}
		k := fmt.Sprint(v.row[0])
		byKey[k] = append(byKey[k], v)
	}
	for k, kv := range byKey {
		slices.SortFunc(kv, func(a, b histVersion) int { return strings.Compare(a.from, b.from) })
		for i := 1; i < len(kv); i++ {
			if kv[i-1].to == "" || kv[i-1].to > kv[i].from {
				t.Fatalf("key %s: overlapping versions\n%s\n%s", k, kv[i-1], kv[i])
			}
		}
	}
}

func historyOf(t *testing.T, gen *Generation, table string) TableSnapshot {
	t.Helper()
	for _, h := range gen.Histories {
		if h.Table == table {
			return h
		}
	}
	t.Fatalf("generation %d has no history of %s", gen.Generation, table)
	return TableSnapshot{}
}

// scripted is a model whose transactions are written by the test.
type scripted struct{ *model }

func newScripted() scripted {
	return scripted{&model{cur: state{orders: map[int64]formats.Row{}}, snapAt: -1}}
}

// txn appends a transaction of evs, each commit 10s after the previous
// one (so each is its own segment).
func (s scripted) txn(evs ...formats.Event) {
	i := len(s.txns)
	t := &formats.Txn{
		Pos:        formats.Position{File: "bin.000001", Offset: uint32(4 + 100*(i+1)), GTID: fmt.Sprintf("0-1-%d", i+1)},
		CommitTime: modelBase.Add(time.Duration(i) * 10 * time.Second),
	}
	for j, ev := range evs {
		ev.Pos = t.Pos
		ev.Pos.Row = uint32(j + 1)
		if ev.Table == ordersID {
			ev.Schema = ordersSchema
			if ev.Before != nil {
				delete(s.cur.orders, ev.Before[0].(int64))
			}
			if ev.After != nil {
				s.cur.orders[ev.After[0].(int64)] = ev.After
			}
		} else {
			ev.Table, ev.Schema = eventsID, eventsSchema
		}
		t.Events = append(t.Events, ev)
	}
	s.txns = append(s.txns, t)
	s.states = append(s.states, s.cur.clone())
}

func order(id int64, status string) formats.Row {
	return formats.Row{id, int64(1), status, formats.DecimalFromScaled(big.NewInt(100*id), 2),
		modelBase.Add(time.Duration(id) * 24 * time.Hour)}
}

func ins(r formats.Row) formats.Event {
	return formats.Event{Table: ordersID, Op: formats.OpInsert, After: r}
}
func upd(b, a formats.Row) formats.Event {
	return formats.Event{Table: ordersID, Op: formats.OpUpdate, Before: b, After: a}
}
func del(b formats.Row) formats.Event {
	return formats.Event{Table: ordersID, Op: formats.OpDelete, Before: b}
}

// tick is a change of a table without history: it seals the segment
// before it.
var tick = formats.Event{Op: formats.OpInsert, After: formats.Row{"tick", nil}}

// TestHistoryScripted follows a scripted sequence (insert, update, primary
// key change, delete, re-insert, and changes collapsed within one
// transaction) through three generations and expects exact versions.
func TestHistoryScripted(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	s := newScripted()
	r1, r2 := order(1, "new"), order(2, "new")
	s.txn(ins(r1), ins(r2)) // 0: the extract's position
	r3 := order(3, "new")
	s.txn(ins(r3)) // 1
	r1b := order(1, "paid")
	s.txn(upd(r1, r1b)) // 2
	r4 := order(4, "new")
	r4[1] = int64(2)
	s.txn(upd(r2, r4)) // 3: the primary key changes from 2 to 4
	s.txn(del(r3))     // 4
	r3b := order(3, "paid")
	s.txn(ins(r3b)) // 5: re-insert
	r1c, r5, r5b := order(1, "shipped"), order(5, "new"), order(5, "paid")
	s.txn(upd(r1b, r1c), del(r1c), ins(r5), upd(r5, r5b)) // 6: collapsed
	s.txn(tick)                                           // 7
	opts := Options{SourceName: "shop", ArchiveWait: time.Second, RowGroupRows: 50, BatchRows: 3,
		Tables: []Table{{ID: ordersID, Partition: []string{"day(created_at) AS dt"}, History: true}}}

	s.snapAt = 0
	g0, err := Rebuild(ctx, store, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	P := func(i int) string { return posKey(s.txns[i].Pos) }
	T := func(i int) any { return s.txns[i].CommitTime.UTC() }
	type want struct {
		row              formats.Row
		from             int // -1: the extract (txn 0), a snapshot version
		to               int // -1: current
		startOp, endOp   string
		fromTime, toTime any
	}
	render := func(ws []want) []string {
		var out []string
		for _, w := range ws {
			v := histVersion{rowValue: rowKey(ordersSchema, w.row), startOp: w.startOp, endOp: w.endOp, from: P(0)}
			if w.from >= 0 {
				v.from, v.fromTime = P(w.from), T(w.from)
			}
			if w.to >= 0 {
				v.to, v.toTime = P(w.to), T(w.to)
			}
			out = append(out, fmt.Sprintf("%s [%s %v %s, %s %v %s)", v.rowValue, v.from, v.fromTime, v.startOp, v.to, v.toTime, v.endOp))
		}
		slices.Sort(out)
		return out
	}
	check := func(gen *Generation, ws []want) {
		t.Helper()
		var got []string
		for _, v := range readHistory(t, store, historyOf(t, gen, "shop.orders")) {
			got = append(got, v.String())
		}
		slices.Sort(got)
		if w := render(ws); !slices.Equal(got, w) {
			t.Fatalf("generation %d history:\n%s\nwant:\n%s", gen.Generation, strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
	}
	check(g0, []want{{r1, -1, -1, "snapshot", "", nil, nil}, {r2, -1, -1, "snapshot", "", nil, nil}})

	archive(t, store, s.model, s.txns[0].Pos)
	g1, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if g1.Cut != s.txns[6].Pos.String() {
		t.Fatalf("generation 1 cut %s, want txn 6's %s", g1.Cut, s.txns[6].Pos)
	}
	gen1 := []want{
		{r1, -1, 2, "snapshot", "update", nil, nil},
		{r1b, 2, 6, "update", "delete", nil, nil}, // updated then deleted in txn 6: the delete ends it
		{r2, -1, 3, "snapshot", "update", nil, nil},
		{r4, 3, -1, "update", "", nil, nil}, // the new key of 2
		{r3, 1, 4, "insert", "delete", nil, nil},
		{r3b, 5, -1, "insert", "", nil, nil},
		{r5b, 6, -1, "insert", "", nil, nil}, // inserted and updated in txn 6: one version
	}
	check(g1, gen1)

	r3c := order(3, "cancelled")
	s.txn(upd(r3b, r3c)) // 8
	s.txn(tick)          // 9
	archive(t, store, s.model, s.txns[0].Pos)
	g2, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	gen2 := slices.Clone(gen1)
	gen2[5] = want{r3b, 5, 8, "insert", "update", nil, nil}
	gen2 = append(gen2, want{r3c, 8, -1, "update", "", nil, nil})
	check(g2, gen2)
	for _, f := range historyOf(t, g2, "shop.orders").Files {
		if !strings.HasPrefix(f.Key, "history/shop/orders/gen=2/dt=2024-05-0") {
			t.Errorf("history file %s is not under history/shop/orders/gen=2/dt=...", f.Key)
		}
	}
}

// TestHistoryRandom rolls a history through generations of a random
// workload (primary key changes and several changes per transaction
// included), from a previous generation and from a fresh extract: at
// every transaction since the history began, the versions valid there
// are exactly the table at that point, and no key has two versions valid
// at once.
func TestHistoryRandom(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	m := newModel(11)
	for range 30 {
		m.step()
	}
	opts := testOptions(nil)
	opts.Tables[0].History = false
	g0, err := Rebuild(ctx, store, m, opts) // no history yet
	if err != nil {
		t.Fatal(err)
	}
	if len(g0.Histories) != 0 {
		t.Fatalf("generation 0 has histories %v", g0.Histories)
	}
	opts.Tables[0].History = true // shop.orders
	startedAt := 29               // the history starts at generation 0's cut
	check := func(gen *Generation) {
		t.Helper()
		checkGeneration(t, store, gen, m)
		vs := readHistory(t, store, historyOf(t, gen, "shop.orders"))
		checkIntervals(t, vs)
		cut, _ := gen.CutPosition()
		n := 0
		for i := startedAt; i < len(m.txns) && m.txns[i].Pos.Compare(cut) <= 0; i++ {
			var want []string
			for _, r := range m.states[i].orders {
				want = append(want, rowKey(ordersSchema, r))
			}
			slices.Sort(want)
			if got := validAt(vs, m.txns[i].Pos.String()); !slices.Equal(got, want) {
				t.Fatalf("generation %d: versions valid at txn %d (%s): %d rows, want %d\n%s\nwant\n%s", gen.Generation, i,
					m.txns[i].Pos, len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			n++
		}
		t.Logf("generation %d: %d versions, exact at each of %d transactions", gen.Generation, len(vs), n)
	}

	for range 90 {
		m.step()
	}
	archive(t, store, m, m.txns[29].Pos)
	g1, err := Rebuild(ctx, store, nil, opts) // starts from generation 0's rows
	if err != nil {
		t.Fatal(err)
	}
	check(g1)

	for range 60 {
		m.step()
	}
	archive(t, store, m, m.txns[29].Pos)
	m.snapAt = 150
	fresh := opts
	fresh.FromSource = true
	g2, err := Rebuild(ctx, store, m, fresh) // continues generation 1's history over the extract
	if err != nil {
		t.Fatal(err)
	}
	check(g2)

	for range 60 {
		m.step()
	}
	archive(t, store, m, m.txns[29].Pos)
	g3, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	check(g3)
	if g3.CutSegment <= g2.CutSegment {
		t.Fatalf("generation 3 did not move: cut segment %d", g3.CutSegment)
	}
	// Retention removed generation 1's history with its generation.
	if objs, _ := store.List(ctx, "history/shop/orders/gen=1/"); len(objs) != 0 {
		t.Errorf("retired generation 1 still has %d history objects", len(objs))
	}
}

// TestHistoryRefusals: a table without a primary key has no history.
func TestHistoryRefusals(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	m := newModel(5)
	for range 10 {
		m.step()
	}
	opts := testOptions(nil)
	opts.Tables[1].History = true // shop.events has no primary key
	if _, err := Rebuild(ctx, store, m, opts); err == nil || !strings.Contains(err.Error(), "no primary key") {
		t.Fatalf("history of a table without a primary key: %v", err)
	}
	if gens, _ := Generations(ctx, store); len(gens) != 0 {
		t.Fatalf("the refused rebuild published %v", gens)
	}
}

// BenchmarkRebuildHistory measures a rebuild rolled forward from the
// previous generation of a 200,000-row table (no view) that keeps a
// history of as many versions: both are streamed, table and history.
// Compare with BenchmarkRebuild/from-generation-no-view.
// TIDEMARK_BENCH_ROWS sets another row count; peak-RSS-MiB is the
// process's VmHWM (the first, from-source rebuild included).
func BenchmarkRebuildHistory(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("TIDEMARK_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	opts := Options{SourceName: "bench", Tables: []Table{{ID: ordersID, Partition: []string{"day(created_at) AS dt"}, History: true}}, Keep: 2}
	store, _ := lake.OpenDir(b.TempDir())
	ctx := context.Background()
	if _, err := Rebuild(ctx, store, rowsSource{n}, opts); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		if _, err := Rebuild(ctx, store, nil, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(n)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "rows/cpu-s")
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 64)
				b.ReportMetric(v/1024, "peak-RSS-MiB")
			}
		}
	}
}

// fixedSource is a Source of one table's rows at a position.
type fixedSource struct {
	schema *formats.TableSchema
	rows   []formats.Row
	pos    formats.Position
}

func (s fixedSource) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error) {
	for _, r := range s.rows {
		if err := emit(ctx, s.schema, r); err != nil {
			return formats.Position{}, err
		}
	}
	return s.pos, nil
}

// TestHistoryRestartsOnNewColumns: after DDL, a --from-source rebuild
// cannot continue a history with other columns: a new one starts at the
// extract, one snapshot version per row.
func TestHistoryRestartsOnNewColumns(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	opts := Options{SourceName: "shop", Tables: []Table{{ID: ordersID, History: true}}}
	p1 := formats.Position{File: "bin.000001", Offset: 400, GTID: "0-1-4"}
	if _, err := Rebuild(ctx, store, fixedSource{ordersSchema, []formats.Row{order(1, "new"), order(2, "new")}, p1}, opts); err != nil {
		t.Fatal(err)
	}
	wider := &formats.TableSchema{Table: ordersID, PK: ordersSchema.PK,
		Columns: append(slices.Clip(ordersSchema.Columns), formats.Column{Name: "note", Type: mustType("varchar(10)"), Nullable: true})}
	rows := []formats.Row{append(order(1, "paid"), "x"), append(order(3, "new"), nil), append(order(4, "new"), "y")}
	p2 := formats.Position{File: "bin.000001", Offset: 900, GTID: "0-1-9"}
	opts.FromSource = true
	g1, err := Rebuild(ctx, store, fixedSource{wider, rows, p2}, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := historyOf(t, g1, "shop.orders")
	if len(h.Columns) != len(wider.Columns)+len(historyColumns) || h.Columns[5].Name != "note" {
		t.Fatalf("history columns %v", h.Columns)
	}
	vs := readHistory(t, store, h)
	if len(vs) != len(rows) {
		t.Fatalf("%d versions, want one per row (%d):\n%v", len(vs), len(rows), vs)
	}
	for _, v := range vs {
		if v.from != posKey(p2) || v.to != "" || v.startOp != opSnapshot || v.fromTime != nil {
			t.Fatalf("version %s: want a current snapshot version from %s", v, posKey(p2))
		}
	}
}
