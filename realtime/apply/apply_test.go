package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
)

var ordersTable = formats.TableID{DB: "shop", Table: "orders"}

func ordersSchema(t testing.TB) *formats.TableSchema {
	t.Helper()
	s := &formats.TableSchema{Table: ordersTable, PK: []int{0}}
	for _, c := range []struct{ name, typ string }{
		{"id", "bigint"},
		{"status", "varchar(20)"},
		{"amount", "decimal(12,2)"},
		{"price", "double"},
		{"created_at", "datetime"},
	} {
		ty, err := formats.ParseColumnType(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		s.Columns = append(s.Columns, formats.Column{Name: c.name, Type: ty, Nullable: c.name != "id"})
	}
	return s
}

// testViews parses a fresh set of the test views (a View's layout is fixed
// by its first Bind, so each applier run and each model gets its own).
func testViews(t testing.TB) []*formats.View {
	t.Helper()
	var out []*formats.View
	for _, spec := range []formats.ViewSpec{
		{Name: "revenue", From: "shop.orders", Where: "status <> 'cancelled'",
			GroupBy:  []string{"day(created_at) AS day", "status"},
			Measures: []string{"count() AS orders", "sum(amount) AS revenue", "avg(price) AS avg_price", "count(amount)"}},
		{Name: "totals", From: "shop.orders", Measures: []string{"count()", "sum(amount)", "sum(price)"}},
		{Name: "orders_m", From: "shop.orders", Mirror: true, Columns: []string{"id", "status", "amount"}},
	} {
		v, err := formats.ParseView(spec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// workload generates transactions on shop.orders and keeps the table's
// state, the model the views are checked against.
type workload struct {
	r      *rand.Rand
	schema *formats.TableSchema
	rows   map[int64]formats.Row
	ids    []int64       // the keys of rows, for picking one at random
	at     map[int64]int // id → index in ids
	nextID int64
	off    uint32
	now    time.Time
}

func newWorkload(t testing.TB, seed uint64) *workload {
	return &workload{
		r:      rand.New(rand.NewPCG(seed, seed+1)),
		schema: ordersSchema(t),
		rows:   map[int64]formats.Row{},
		at:     map[int64]int{},
		nextID: 1,
		off:    1000,
		now:    time.Unix(1_700_000_000, 0),
	}
}

func (w *workload) put(id int64, r formats.Row) {
	if _, ok := w.rows[id]; !ok {
		w.at[id] = len(w.ids)
		w.ids = append(w.ids, id)
	}
	w.rows[id] = r
}

func (w *workload) del(id int64) {
	i := w.at[id]
	last := w.ids[len(w.ids)-1]
	w.ids[i], w.at[last] = last, i
	w.ids = w.ids[:len(w.ids)-1]
	delete(w.at, id)
	delete(w.rows, id)
}

func (w *workload) pos() formats.Position { return formats.Position{File: "bin.000001", Offset: w.off} }

func (w *workload) randRow(id int64) formats.Row {
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	var amount, price any
	if w.r.IntN(8) > 0 {
		cents := w.r.Int64N(2_000_000) - 100_000
		if w.r.IntN(50) == 0 {
			cents = 9_999_999_999 // DECIMAL(12,2) max: sums leave int64 scale fast
		}
		s := strconv.FormatInt(cents, 10)
		neg := cents < 0
		if neg {
			s = s[1:]
		}
		for len(s) < 3 {
			s = "0" + s
		}
		d := s[:len(s)-2] + "." + s[len(s)-2:]
		if neg {
			d = "-" + d
		}
		amount = formats.Decimal(d)
	}
	if w.r.IntN(8) > 0 {
		price = float64(w.r.IntN(100000)) / 100
	}
	day := time.Date(2024, 1, 1+w.r.IntN(5), w.r.IntN(24), 0, 0, 0, time.UTC)
	return formats.Row{id, statuses[w.r.IntN(len(statuses))], amount, price, day}
}

// txn returns the next transaction: 0 to 5 row changes.
func (w *workload) txn() *formats.Txn {
	w.off += 100
	// Commit times mostly advance, sometimes stand still or step back
	// (a source clock adjustment): segments must not care.
	switch d := w.r.IntN(10); {
	case d < 6:
		w.now = w.now.Add(time.Duration(w.r.IntN(3)) * time.Second)
	case d < 9:
	default:
		w.now = w.now.Add(-time.Second)
	}
	t := &formats.Txn{Pos: w.pos(), CommitTime: w.now}
	n := w.r.IntN(6)
	for i := 0; i < n; i++ {
		ev := formats.Event{Table: ordersTable, Schema: w.schema, Pos: t.Pos}
		ev.Pos.Row = uint32(i + 1)
		switch op := w.r.IntN(10); {
		case op < 5 || len(w.ids) == 0:
			id := w.nextID
			w.nextID++
			ev.Op, ev.After = formats.OpInsert, w.randRow(id)
			w.put(id, ev.After)
		case op < 8:
			id := w.ids[w.r.IntN(len(w.ids))]
			ev.Op, ev.Before = formats.OpUpdate, w.rows[id]
			newID := id
			if w.r.IntN(10) == 0 { // the primary key changes
				newID = w.nextID
				w.nextID++
				w.del(id)
			}
			ev.After = w.randRow(newID)
			w.put(newID, ev.After)
		default:
			id := w.ids[w.r.IntN(len(w.ids))]
			ev.Op, ev.Before = formats.OpDelete, w.rows[id]
			w.del(id)
		}
		t.Events = append(t.Events, ev)
	}
	return t
}

// bootstrap resets every view and publishes generation 0 at the workload's
// current position from its current rows, as the batch layer would.
func bootstrap(t testing.TB, s *redisview.Store, w *workload, views []*formats.View, width time.Duration) {
	t.Helper()
	ctx := context.Background()
	cut := w.pos()
	const cutSeg = 0 // a snapshot position is no segment boundary: generation 0 covers no segment
	for _, v := range views {
		if err := s.Reset(ctx, v.Name); err != nil {
			t.Fatal(err)
		}
		b, err := v.Bind(w.schema)
		if err != nil {
			t.Fatal(err)
		}
		if v.Mirror {
			rows := func(yield func(redisview.MirrorBatchRow, error) bool) {
				for _, r := range w.rows {
					k, err := b.MirrorKey(r)
					if !yield(redisview.MirrorBatchRow{PK: string(k), Values: redisview.AppendMirrorRow(nil, b, r)}, err) {
						return
					}
				}
			}
			if err := s.LoadMirrorBatch(ctx, v.Name, 0, rows); err != nil {
				t.Fatal(err)
			}
			if err := s.PublishMirror(ctx, v.Name, redisview.MirrorFingerprint(b), 0, cut, w.now); err != nil {
				t.Fatal(err)
			}
			continue
		}
		d := formats.Delta{}
		for _, r := range w.rows {
			if err := b.AccumulateRow(r, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.LoadBatch(ctx, v, 0, maps.All(d)); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishAgg(ctx, v, 0, cut, cutSeg, w.now); err != nil {
			t.Fatal(err)
		}
	}
}

// checkViews compares every view in Redis with the same view computed from
// the workload's current rows.
func checkViews(t testing.TB, s *redisview.Store, w *workload, views []*formats.View) {
	t.Helper()
	ctx := context.Background()
	for _, v := range views {
		b, err := v.Bind(w.schema)
		if err != nil {
			t.Fatal(err)
		}
		if v.Mirror {
			want := map[string]string{}
			for _, r := range w.rows {
				k, _ := b.MirrorKey(r)
				want[string(k)] = string(redisview.AppendMirrorRow(nil, b, r))
			}
			got := map[string]string{}
			for r, err := range s.ScanMirror(ctx, v.Name) {
				if err != nil {
					t.Fatal(err)
				}
				got[r.PK] = string(r.Values)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("mirror %s: %d rows, want %d\n got %v\nwant %v", v.Name, len(got), len(want), got, want)
			}
			continue
		}
		d := formats.Delta{}
		for _, r := range w.rows {
			if err := b.AccumulateRow(r, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := s.ReadAgg(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		want := map[formats.GroupKey]formats.Row{}
		for k, a := range d {
			if row, ok := b.Result(k, a); ok {
				want[k] = row
			}
		}
		got := map[formats.GroupKey]formats.Row{}
		for k, a := range snap.Groups {
			if row, ok := b.Result(k, a); ok {
				got[k] = row
			}
		}
		if len(got) != len(want) {
			t.Fatalf("view %s: %d groups, want %d\n got %v\nwant %v", v.Name, len(got), len(want), got, want)
		}
		for k, row := range want {
			if !b.RowsEqual(got[k], row) {
				t.Fatalf("view %s group %q: %v, want %v", v.Name, k, got[k], row)
			}
		}
	}
}

// run feeds txns to a new applier and waits for it to drain them.
func run(t testing.TB, s Store, views []*formats.View, cfg Config, txns []*formats.Txn) error {
	t.Helper()
	in := make(chan *formats.Txn, len(txns))
	for _, tx := range txns {
		in <- tx
	}
	close(in)
	cfg.Views = views
	a, err := New(s, in, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a.Run(context.Background())
}

// onBoth runs f on a single Redis and on a Redis Cluster.
func onBoth(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient)) {
	t.Run("redis", func(t *testing.T) { f(t, stack.Redis(t).Client(t)) })
	t.Run("cluster", func(t *testing.T) { f(t, stack.RedisCluster(t).Client(t)) })
}

const width = 10 * time.Second

func TestApplyMatchesModel(t *testing.T) {
	onBoth(t, func(t *testing.T, rdb redis.UniversalClient) {
		// On the cluster, every mirror batch with rows is a transaction
		// (WATCH/MULTI/EXEC); on the single Redis small ones are scripts.
		var opts redisview.Options
		if _, ok := rdb.(*redis.ClusterClient); ok {
			opts.MirrorTxRows = 1
		}
		s := redisview.New(rdb, opts)
		w := newWorkload(t, 1)
		for range 50 { // rows before the bootstrap
			w.txn()
		}
		bootstrap(t, s, w, testViews(t), width)
		var txns []*formats.Txn
		for range 400 {
			txns = append(txns, w.txn())
		}
		// Small batches, so that many round trips and segments happen.
		views := testViews(t)
		if err := run(t, s, views, Config{SegmentWidth: width, MaxBatchTxns: 7}, txns); err != nil {
			t.Fatal(err)
		}
		checkViews(t, s, w, views)
		for _, v := range views {
			m, err := s.Meta(context.Background(), v.Name)
			if err != nil {
				t.Fatal(err)
			}
			if m.Checkpoint != w.pos() {
				t.Errorf("view %s at %s, want %s", v.Name, m.Checkpoint, w.pos())
			}
		}
	})
}

// TestReplayAndSegments: applying a stream in pieces with restarts, and
// replaying overlapping spans (a crash after Redis applied but before the
// capture checkpoint moved), gives the same state, segment by segment, as
// applying it in one go.
func TestReplayAndSegments(t *testing.T) {
	srv := stack.Redis(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	once := redisview.New(rdb, redisview.Options{Prefix: "once"})
	// The pieces apply mirror rows as transactions, the single run by
	// script: both must write the same state.
	pieces := redisview.New(rdb, redisview.Options{Prefix: "pieces", MirrorTxRows: 1})
	w := newWorkload(t, 2)
	for range 30 {
		w.txn()
	}
	bootstrap(t, once, w, testViews(t), width)
	bootstrap(t, pieces, w, testViews(t), width)
	var txns []*formats.Txn
	for range 300 {
		txns = append(txns, w.txn())
	}
	if err := run(t, once, testViews(t), Config{SegmentWidth: width}, txns); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	done := 0
	for done < len(txns) {
		// Each run restarts from before what was applied, as a capture
		// resuming from an older position would.
		from := max(0, done-r.IntN(20))
		to := min(len(txns), done+1+r.IntN(60))
		if err := run(t, pieces, testViews(t), Config{SegmentWidth: width, MaxBatchTxns: 1 + r.IntN(10)}, txns[from:to]); err != nil {
			t.Fatal(err)
		}
		done = to
	}
	views := testViews(t)
	checkViews(t, once, w, views)
	checkViews(t, pieces, w, views)
	// Same segments, same deltas.
	for _, v := range []string{"revenue", "totals"} {
		a := dumpSegments(t, rdb, "once", v)
		b := dumpSegments(t, rdb, "pieces", v)
		if len(a) < 3 {
			t.Fatalf("view %s: only %d segments: the test does not exercise segmentation", v, len(a))
		}
		if !maps.EqualFunc(a, b, maps.Equal) {
			t.Fatalf("view %s: segments differ\n one go: %v\npieces: %v", v, a, b)
		}
		ma, _ := once.Meta(ctx, v)
		mb, _ := pieces.Meta(ctx, v)
		if ma.Checkpoint != mb.Checkpoint || ma.Segment != mb.Segment {
			t.Fatalf("view %s: meta %+v vs %+v", v, ma, mb)
		}
	}
}

func dumpSegments(t testing.TB, rdb redis.UniversalClient, prefix, view string) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	ids, err := rdb.ZRange(ctx, prefix+":{"+view+"}:segs", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, id := range ids {
		h, err := rdb.HGetAll(ctx, prefix+":{"+view+"}:s:"+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		// Float tokens may differ in their last bits between summation
		// orders; these views' floats are cents/100, so round them.
		for f, st := range h {
			h[f] = roundFloats(st)
		}
		out[id] = h
	}
	return out
}

func roundFloats(st string) string {
	var out []byte
	for i, tok := range splitSpace(st) {
		if i > 0 {
			out = append(out, ' ')
		}
		if _, err := strconv.ParseInt(tok, 10, 64); err != nil {
			if f, err := strconv.ParseFloat(tok, 64); err == nil {
				tok = strconv.FormatFloat(f, 'f', 6, 64)
			}
		}
		out = append(out, tok...)
	}
	return string(out)
}

func splitSpace(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// TestPublishWhileLagging: a generation published past the applier's
// position moves the checkpoints; the applier is fenced and ends with
// ErrFenced; a new one resumes from the cut and ends exact.
func TestPublishWhileLagging(t *testing.T) {
	rdb := stack.Redis(t).Client(t)
	s := redisview.New(rdb, redisview.Options{MirrorTxRows: 1})
	ctx := context.Background()
	w := newWorkload(t, 5)
	bootstrap(t, s, w, testViews(t), width)
	var seg uint64 // the bootstrap's cut segment
	var txns []*formats.Txn
	for range 100 {
		tx := w.txn()
		seg = redisview.SegmentOf(seg, tx.CommitTime, width)
		txns = append(txns, tx)
	}
	cut, cutTime, cutSeg := w.pos(), w.now, seg
	rowsAtCut := maps.Clone(w.rows)
	w.now = w.now.Add(2 * width) // the next transaction opens a new segment: the cut is a boundary
	for range 100 {
		txns = append(txns, w.txn())
	}

	// The applier reads its checkpoints (the bootstrap's), then falls
	// behind: generation 1 at the cut is published before it applies
	// anything.
	views := testViews(t)
	in := make(chan *formats.Txn, len(txns))
	a, err := New(s, in, Config{Views: views, SegmentWidth: width, MaxBatchTxns: 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, v := range testViews(t) {
		b, err := v.Bind(w.schema)
		if err != nil {
			t.Fatal(err)
		}
		if v.Mirror {
			rows := func(yield func(redisview.MirrorBatchRow, error) bool) {
				for _, r := range rowsAtCut {
					k, err := b.MirrorKey(r)
					if !yield(redisview.MirrorBatchRow{PK: string(k), Values: redisview.AppendMirrorRow(nil, b, r)}, err) {
						return
					}
				}
			}
			if err := s.LoadMirrorBatch(ctx, v.Name, 1, rows); err != nil {
				t.Fatal(err)
			}
			if err := s.PublishMirror(ctx, v.Name, redisview.MirrorFingerprint(b), 1, cut, cutTime); err != nil {
				t.Fatal(err)
			}
			continue
		}
		d := formats.Delta{}
		for _, r := range rowsAtCut {
			if err := b.AccumulateRow(r, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.LoadBatch(ctx, v, 1, maps.All(d)); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishAgg(ctx, v, 1, cut, cutSeg, cutTime); err != nil {
			t.Fatal(err)
		}
	}
	for _, tx := range txns {
		in <- tx
	}
	close(in)
	err = a.Run(ctx)
	var fe *redisview.FenceError
	if !errors.As(err, &fe) || !fe.From.Less(fe.Have) {
		t.Fatalf("lagging applier after a publish: %v, want a FenceError with Redis ahead", err)
	}
	// The pipeline resumes from the stored checkpoints (the cut), with a
	// capture that replays from the earliest of them: here, every
	// transaction again.
	if err := run(t, s, testViews(t), Config{SegmentWidth: width, MaxBatchTxns: 30}, txns); err != nil {
		t.Fatal(err)
	}
	checkViews(t, s, w, testViews(t))
	for _, v := range views {
		m, err := s.Meta(ctx, v.Name)
		if err != nil {
			t.Fatal(err)
		}
		if m.Checkpoint != w.pos() {
			t.Errorf("view %s at %s, want %s", v.Name, m.Checkpoint, w.pos())
		}
	}
}

func TestDrainAndStateMissing(t *testing.T) {
	srv := stack.Redis(t)
	rdb := srv.Client(t)
	s := redisview.New(rdb, redisview.Options{})
	ctx := context.Background()
	w := newWorkload(t, 9)
	bootstrap(t, s, w, testViews(t), width)

	// Graceful drain: cancel while transactions keep coming; Run returns
	// nil after applying what it took.
	in := make(chan *formats.Txn)
	a, err := New(s, in, Config{Views: testViews(t), SegmentWidth: width})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	for range 200 {
		in <- w.txn()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	// The channel is unbuffered: the applier took all 200, so it applied
	// all 200.
	checkViews(t, s, w, testViews(t))

	// Redis restarts empty under a running applier: its next batch fails
	// with ErrStateMissing, naming the batch.
	in2 := make(chan *formats.Txn, 1)
	b, err := New(s, in2, Config{Views: testViews(t), SegmentWidth: width})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	in2 <- w.txn()
	close(in2)
	err = b.Run(ctx)
	if !errors.Is(err, redisview.ErrStateMissing) {
		t.Fatalf("after restart: %v, want ErrStateMissing", err)
	}
	if want := fmt.Sprintf("applying batch ending at %s", w.pos()); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the batch (%q)", err, want)
	}
	// A new applier cannot start either.
	c, _ := New(s, in2, Config{Views: testViews(t)})
	if _, err := c.Start(ctx); !errors.Is(err, redisview.ErrStateMissing) {
		t.Fatalf("start after restart: %v, want ErrStateMissing", err)
	}
}

// gatedStore is a Store whose first ApplyAll waits for gate, and which
// records how many calls were ever in Redis at once.
type gatedStore struct {
	Store
	gate             chan struct{}
	mu               sync.Mutex
	calls, now, most int
}

func (g *gatedStore) ApplyAll(ctx context.Context, aggs []redisview.AggApply, mirrors []redisview.MirrorApply) []error {
	g.mu.Lock()
	g.calls++
	first := g.calls == 1
	g.now++
	g.most = max(g.most, g.now)
	g.mu.Unlock()
	if first {
		<-g.gate
	}
	errs := g.Store.ApplyAll(ctx, aggs, mirrors)
	g.mu.Lock()
	g.now--
	g.mu.Unlock()
	return errs
}

// TestOverlap: while a batch is in Redis the applier keeps taking
// transactions, folding them into the next batch up to its bound, which
// goes out once the first is answered; the views end exact.
func TestOverlap(t *testing.T) {
	s := redisview.New(stack.Redis(t).Client(t), redisview.Options{})
	w := newWorkload(t, 13)
	for range 20 {
		w.txn()
	}
	bootstrap(t, s, w, testViews(t), width)
	g := &gatedStore{Store: s, gate: make(chan struct{})}
	const bound = 40
	in := make(chan *formats.Txn, 3*bound)
	for range bound { // a backlog: the first batch goes out full
		in <- w.txn()
	}
	rec := &recorder{}
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	taken := 0
	a, err := New(g, in, Config{Views: testViews(t), SegmentWidth: width, Metrics: rec, MaxBatchTxns: bound,
		Taken: func(*formats.Txn) {
			mu.Lock()
			taken++
			mu.Unlock()
			cond.Broadcast()
		}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background()) }()
	for range 2*bound - 5 {
		in <- w.txn()
	}
	// The first batch is held in Redis; the applier takes the next batch's
	// worth, and stops there.
	mu.Lock()
	for taken < 2*bound {
		cond.Wait()
	}
	mu.Unlock()
	close(g.gate)
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.most != 1 {
		t.Errorf("%d batches in Redis at once, want 1", g.most)
	}
	// The first two batches full; the rest in one or more (the second
	// may be answered before the rest is taken).
	if rec.batches < 3 || rec.txns != 3*bound-5 {
		t.Errorf("%d txns in %d batches, want %d in at least 3", rec.txns, rec.batches, 3*bound-5)
	}
	checkViews(t, s, w, testViews(t))
}

// countingStore is a Store that counts, per view, the batches it carried.
// If ready is set, call k (from 1) waits until ready(k) holds.
type countingStore struct {
	Store
	calls int
	views map[string]int
	ready func(k int) bool
	mu    sync.Mutex
	cond  *sync.Cond
}

func (c *countingStore) ApplyAll(ctx context.Context, aggs []redisview.AggApply, mirrors []redisview.MirrorApply) []error {
	c.mu.Lock()
	c.calls++
	for _, g := range aggs {
		c.views[g.View.Name]++
	}
	for _, m := range mirrors {
		c.views[m.View]++
	}
	for c.ready != nil && !c.ready(c.calls) {
		c.cond.Wait()
	}
	c.mu.Unlock()
	return c.Store.ApplyAll(ctx, aggs, mirrors)
}

// TestDeferWhileBehind: with a backlog (every batch goes out full) the
// aggregates sit out up to DeferBatches batches while the mirror goes out
// with each; once caught up every view is exact and at the end.
func TestDeferWhileBehind(t *testing.T) {
	s := redisview.New(stack.Redis(t).Client(t), redisview.Options{})
	w := newWorkload(t, 17)
	for range 20 {
		w.txn()
	}
	bootstrap(t, s, w, testViews(t), width)
	var txns []*formats.Txn
	for range 200 {
		txns = append(txns, w.txn())
	}
	// Each call is answered only once the next batch is full, as when
	// Redis is the slower side.
	taken := 0
	c := &countingStore{Store: s, views: map[string]int{}}
	c.cond = sync.NewCond(&c.mu)
	c.ready = func(k int) bool { return taken >= min(len(txns), (k+1)*10) }
	onTaken := func(*formats.Txn) {
		c.mu.Lock()
		taken++
		c.mu.Unlock()
		c.cond.Broadcast()
	}
	views := testViews(t)
	if err := run(t, c, views, Config{SegmentWidth: width, MaxBatchTxns: 10, Taken: onTaken}, txns); err != nil {
		t.Fatal(err)
	}
	// 20 full batches: the mirror in each, the aggregates in every 4th
	// (the 20th among them, so no last flight of aggregates is needed).
	if c.views["orders_m"] != 20 {
		t.Errorf("mirror in %d batches, want 20", c.views["orders_m"])
	}
	for _, v := range []string{"revenue", "totals"} {
		if n := c.views[v]; n != 5 || c.calls != 20 {
			t.Errorf("aggregate %s in %d of %d batches, want 5 of 20", v, n, c.calls)
		}
	}
	checkViews(t, s, w, testViews(t))
	for _, v := range views {
		m, err := s.Meta(context.Background(), v.Name)
		if err != nil {
			t.Fatal(err)
		}
		if m.Checkpoint != w.pos() {
			t.Errorf("view %s at %s, want %s", v.Name, m.Checkpoint, w.pos())
		}
	}
}

// TestGatherWhileBehind: transactions that trickle in from a capture
// reading a backlog (Txn.Behind) are gathered into a few script calls of
// up to GatherWait; the same transactions from a caught-up capture go out
// one call each. Both leave every view exact.
func TestGatherWhileBehind(t *testing.T) {
	rdb := stack.Redis(t).Client(t)
	for _, behind := range []bool{true, false} {
		s := redisview.New(rdb, redisview.Options{Prefix: fmt.Sprintf("g%v:", behind)})
		w := newWorkload(t, 23)
		for range 20 {
			w.txn()
		}
		bootstrap(t, s, w, testViews(t), width)
		c := &countingStore{Store: s, views: map[string]int{}}
		in := make(chan *formats.Txn)
		views := testViews(t)
		a, err := New(c, in, Config{Views: views, SegmentWidth: width, GatherWait: 40 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- a.Run(context.Background()) }()
		const n = 120
		for range n {
			tx := w.txn()
			tx.Behind = behind
			in <- tx
			time.Sleep(time.Millisecond) // a capture slower than the applier
		}
		close(in)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		calls := c.calls
		c.mu.Unlock()
		t.Logf("behind=%v: %d transactions in %d calls", behind, n, calls)
		// n ms of arrivals in windows of 40 ms; generous for a slow machine.
		if behind && calls > n/4 {
			t.Errorf("behind: %d calls for %d transactions, want them gathered (about %d)", calls, n, n/40+1)
		}
		if !behind && calls < n/2 {
			t.Errorf("caught up: %d calls for %d transactions, want about one each", calls, n)
		}
		checkViews(t, s, w, views)
		for _, v := range views {
			m, err := s.Meta(context.Background(), v.Name)
			if err != nil {
				t.Fatal(err)
			}
			if m.Checkpoint != w.pos() {
				t.Errorf("view %s at %s, want %s", v.Name, m.Checkpoint, w.pos())
			}
		}
	}
}
