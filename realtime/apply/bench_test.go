package apply

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// recorder is a Metrics that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	events  map[formats.TableID]map[formats.Op]int
	txns    int
	batches int
	lags    []time.Duration
	known   [2]int        // matched, added
	applied chan struct{} // one send per batch, if not nil
}

func (r *recorder) EventsApplied(table formats.TableID, op formats.Op, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events == nil {
		r.events = map[formats.TableID]map[formats.Op]int{}
	}
	if r.events[table] == nil {
		r.events[table] = map[formats.Op]int{}
	}
	r.events[table][op] += n
}

func (r *recorder) BatchApplied(txns, events int, took time.Duration) {
	r.mu.Lock()
	r.txns += txns
	r.batches++
	r.mu.Unlock()
	if r.applied != nil {
		r.applied <- struct{}{}
	}
}

func (r *recorder) KnownFields(matched, added int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known[0] += matched
	r.known[1] += added
}

func (r *recorder) Lag(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lags = append(r.lags, d)
}

func TestMetrics(t *testing.T) {
	s := redisview.New(stack.Redis(t).Client(t), redisview.Options{})
	w := newWorkload(t, 11)
	bootstrap(t, s, w, testViews(t), width)
	var txns []*formats.Txn
	want := map[formats.Op]int{}
	for range 50 {
		tx := w.txn()
		for _, ev := range tx.Events {
			want[ev.Op]++
		}
		txns = append(txns, tx)
	}
	rec := &recorder{}
	now := w.now.Add(1500 * time.Millisecond)
	if err := run(t, s, testViews(t), Config{SegmentWidth: width, MaxBatchTxns: 10, Metrics: rec, Now: func() time.Time { return now }}, txns); err != nil {
		t.Fatal(err)
	}
	for op, n := range want {
		if got := rec.events[ordersTable][op]; got != n {
			t.Errorf("%s events: %d, want %d", op, got, n)
		}
	}
	// At most 10 per batch; more batches when one is answered before the
	// next is full.
	if rec.txns != 50 || rec.batches < 5 {
		t.Errorf("%d txns in %d batches, want 50 in at least 5", rec.txns, rec.batches)
	}
	if last := rec.lags[len(rec.lags)-1]; last != 1500*time.Millisecond {
		t.Errorf("last lag %s, want 1.5s", last)
	}
	// Small batches of an applier that keeps up go with Known: most of
	// their aggregate fields are stored from sums computed in Go.
	if m, a := rec.known[0], rec.known[1]; m == 0 || m < a {
		t.Errorf("Known fields: %d stored from Go sums, %d added in Lua; want mostly the former", m, a)
	}
	t.Logf("Known fields: %d stored from Go sums, %d added in Lua", rec.known[0], rec.known[1])
}

// BenchmarkApplierBacklog measures throughput with a backlog: the channel
// holds b.N transactions (about 2.5 row changes each, 1,000 commits a
// second, the test workload's three views) and the applier drains it,
// pre-aggregating up to 5,000 transactions per round trip.
func BenchmarkApplierBacklog(b *testing.B) {
	s := redisview.New(stack.Redis(b).Client(b), redisview.Options{})
	w := newWorkload(b, 21)
	for range 200 {
		w.txn()
	}
	bootstrap(b, s, w, testViews(b), width)
	txns := make([]*formats.Txn, b.N)
	events := 0
	base := w.now
	for i := range txns {
		txns[i] = w.txn()
		// A busy source: 1,000 commits a second, so a batch spans a
		// segment or two (the workload's own clock would make it hundreds).
		txns[i].CommitTime = base.Add(time.Duration(i) * time.Millisecond)
		events += len(txns[i].Events)
	}
	b.ResetTimer()
	start := time.Now()
	if err := run(b, s, testViews(b), Config{SegmentWidth: width}, txns); err != nil {
		b.Fatal(err)
	}
	sec := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/sec, "txns/s")
	b.ReportMetric(float64(events)/sec, "rowchanges/s")
}

// BenchmarkApplierLatency measures, without backlog, the time from handing
// a transaction to the applier to its views being updated in Redis.
func BenchmarkApplierLatency(b *testing.B) {
	s := redisview.New(stack.Redis(b).Client(b), redisview.Options{})
	w := newWorkload(b, 31)
	for range 200 {
		w.txn()
	}
	bootstrap(b, s, w, testViews(b), width)
	in := make(chan *formats.Txn)
	rec := &recorder{applied: make(chan struct{})}
	a, err := New(s, in, Config{Views: testViews(b), SegmentWidth: width, Metrics: rec})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	txns := make([]*formats.Txn, b.N)
	for i := range txns {
		txns[i] = w.txn()
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for _, tx := range txns {
		start := time.Now()
		in <- tx
		<-rec.applied
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
