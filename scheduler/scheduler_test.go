package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/internal/stack"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Emit(_ context.Context, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Name)
	}
	return out
}

func (r *recorder) has(name string) bool {
	for _, n := range r.names() {
		if n == name {
			return true
		}
	}
	return false
}

type fixture struct {
	m     *Metrics
	rdb   *redis.Client
	clock *FakeClock
	ev    *recorder
}

func newFixture(t *testing.T) *fixture {
	if testing.Short() {
		t.Skip("starts Redis")
	}
	srv := stack.Redis(t)
	return &fixture{rdb: srv.Client(t), clock: NewFakeClock(t0), ev: &recorder{}}
}

func (f *fixture) sched(t *testing.T, holder string, specs map[string]Spec, jobs map[string]Job) *Scheduler {
	t.Helper()
	s, err := New(Options{Redis: f.rdb, Prefix: "tt", Clock: f.clock, Holder: holder, LeaseTTL: 30 * time.Second,
		StopTimeout: 10 * time.Second, Events: f.ev, Metrics: f.m, Jitter: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range sortedKeys(specs) {
		sp := specs[name]
		sp.Name = name
		if err := s.Add(sp, jobs[name]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func sortedKeys(m map[string]Spec) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// outcomes lists the job's history oldest first as "outcome@attempt".
func outcomes(t *testing.T, c *Control, job string) []string {
	t.Helper()
	h, err := c.History(context.Background(), job, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(h) - 1; i >= 0; i-- {
		out = append(out, fmt.Sprintf("%s@%d", h[i].Outcome, h[i].Attempt))
	}
	return out
}

func wantOutcomes(t *testing.T, c *Control, job string, want ...string) {
	t.Helper()
	got := outcomes(t, c, job)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history of %s: got %v, want %v", job, got, want)
	}
}

// gate is a job that blocks until released, counting concurrent runs.
type gate struct {
	started     chan *Run
	release     chan error
	cur, maxCur atomic.Int32
}

func newGate() *gate { return &gate{started: make(chan *Run, 16), release: make(chan error, 16)} }

func (g *gate) Run(ctx context.Context, r *Run) (Result, error) {
	n := g.cur.Add(1)
	defer g.cur.Add(-1)
	for {
		m := g.maxCur.Load()
		if n <= m || g.maxCur.CompareAndSwap(m, n) {
			break
		}
	}
	g.started <- r
	select {
	case err := <-g.release:
		return Result{}, err
	case <-ctx.Done():
		return Result{}, context.Cause(ctx)
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the scheduler")
		panic("unreachable")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func leaseFree(f *fixture, job string) func() bool {
	return func() bool { return f.rdb.Exists(context.Background(), jobKeys("tt", job).lease).Val() == 0 }
}

func TestRetriesTransientThenSuccess(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	job := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		if calls.Add(1) <= 2 {
			return Result{}, fmt.Errorf("reading the lake: connection reset")
		}
		g := uint64(7)
		return Result{Generation: &g, Cut: "binlog.000001:42", Rows: 10, Inputs: []Dataset{{Namespace: "mysql://h:3306", Name: "shop.orders", Rows: 10}}}, nil
	})
	s := f.sched(t, "a", map[string]Spec{"j": {Retries: Retries{Max: 3, InitialBackoff: 2 * time.Second, MaxBackoff: 5 * time.Second}}}, map[string]Job{"j": job})
	ctx := context.Background()
	s.Tick(ctx, "j", t0)
	// Backoffs of 1s then 2s (jitter 0 draws d/2): each needs the clock.
	for _, d := range []time.Duration{time.Second, 2 * time.Second} {
		waitFor(t, "the backoff wait", func() bool { dl, ok := f.clock.NextDeadline(); return ok && dl.Equal(f.clock.Now().Add(d)) })
		f.clock.Advance(d)
	}
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "j", "retried@1", "retried@2", "succeeded@3")
	h, _ := s.Control().History(ctx, "j", 1)
	if h[0].Generation == nil || *h[0].Generation != 7 || h[0].Rows != 10 || h[0].Fence == 0 || len(h[0].Inputs) != 1 {
		t.Errorf("final record: %+v", h[0])
	}
	for _, e := range f.ev.events {
		if e.Name == "RunSucceeded" && (len(e.Inputs) != 1 || e.Inputs[0].Name != "shop.orders" || e.Inputs[0].Rows != 10) {
			t.Errorf("RunSucceeded inputs: %+v", e.Inputs)
		}
	}
	if n := f.ev.names(); fmt.Sprint(n) != "[RunStarted RetryError RunStarted RetryError RunStarted RunSucceeded]" {
		t.Errorf("events: %v", n)
	}
}

func TestPermanentFailureHaltsAndPauses(t *testing.T) {
	f := newFixture(t)
	var calls atomic.Int32
	job := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		calls.Add(1)
		return Result{}, Permanent(errors.New("view revenue: unknown column crated_at"))
	})
	s := f.sched(t, "a", map[string]Spec{"j": {Retries: Retries{Max: 5}, PauseOnFailure: true}}, map[string]Job{"j": job})
	ctx := context.Background()
	s.Tick(ctx, "j", t0)
	s.runs.Wait()
	if calls.Load() != 1 {
		t.Errorf("a permanent failure was retried: %d calls", calls.Load())
	}
	wantOutcomes(t, s.Control(), "j", "failed@1")
	if !f.ev.has("HaltError") {
		t.Errorf("no HaltError: %v", f.ev.names())
	}
	p, err := s.Control().Paused(ctx, "j")
	if err != nil || p == nil {
		t.Fatalf("pause_on_failure did not pause: %v %v", p, err)
	}
	// The pause holds for every process (it is in Redis): a fresh
	// scheduler skips the next tick.
	s2 := f.sched(t, "b", map[string]Spec{"j": {}}, map[string]Job{"j": job})
	s2.Tick(ctx, "j", t0.Add(time.Minute))
	s2.runs.Wait()
	wantOutcomes(t, s.Control(), "j", "failed@1", "skipped-paused@0")
	if calls.Load() != 1 {
		t.Errorf("a paused job ran")
	}
}

func TestExhaustedRetriesFail(t *testing.T) {
	f := newFixture(t)
	job := JobFunc(func(ctx context.Context, r *Run) (Result, error) { return Result{}, errors.New("s3: slow down") })
	s := f.sched(t, "a", map[string]Spec{"j": {Retries: Retries{Max: 1, InitialBackoff: time.Second}}}, map[string]Job{"j": job})
	s.Tick(context.Background(), "j", t0)
	waitFor(t, "the backoff wait", func() bool { _, ok := f.clock.NextDeadline(); return ok && f.clock.Waiters() >= 2 })
	f.clock.Advance(time.Second)
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "j", "retried@1", "failed@2")
	if !f.ev.has("HaltError") {
		t.Errorf("no HaltError: %v", f.ev.names())
	}
}

func TestOverlapSkip(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	s := f.sched(t, "a", map[string]Spec{"j": {Overlap: OverlapSkip}}, map[string]Job{"j": g})
	ctx := context.Background()
	s.Tick(ctx, "j", t0)
	recv(t, g.started)
	s.Tick(ctx, "j", t0.Add(2*time.Second))
	s.Tick(ctx, "j", t0.Add(4*time.Second))
	g.release <- nil
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "j", "skipped-overlap@0", "skipped-overlap@0", "succeeded@1")
	if g.maxCur.Load() != 1 {
		t.Errorf("ran %d at once", g.maxCur.Load())
	}
}

func TestOverlapBufferOne(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	s := f.sched(t, "a", map[string]Spec{"j": {Overlap: OverlapBufferOne}}, map[string]Job{"j": g})
	ctx := context.Background()
	s.Tick(ctx, "j", t0)
	recv(t, g.started)
	s.Tick(ctx, "j", t0.Add(2*time.Second)) // waits
	s.Tick(ctx, "j", t0.Add(4*time.Second)) // one waits already: skipped
	g.release <- nil
	waitFor(t, "the first run to release its lease", leaseFree(f, "j"))
	f.clock.Advance(time.Second) // the waiting tick's next poll
	r := recv(t, g.started)
	if !r.Scheduled.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("the buffered run is the tick of %v, want the second tick", r.Scheduled)
	}
	g.release <- nil
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "j", "skipped-overlap@0", "succeeded@1", "succeeded@1")
	if g.maxCur.Load() != 1 {
		t.Errorf("ran %d at once", g.maxCur.Load())
	}
}

func TestOverlapCancelRunning(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	s := f.sched(t, "a", map[string]Spec{"j": {Overlap: OverlapCancelRunning}}, map[string]Job{"j": g})
	ctx := context.Background()
	s.Tick(ctx, "j", t0)
	recv(t, g.started)
	s.Tick(ctx, "j", t0.Add(2*time.Second))
	waitFor(t, "the cancelled run to release its lease", leaseFree(f, "j"))
	f.clock.Advance(time.Second)
	recv(t, g.started)
	g.release <- nil
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "j", "cancelled@1", "succeeded@1")
}

func TestCatchupWindow(t *testing.T) {
	f := newFixture(t)
	var runs []time.Time
	var mu sync.Mutex
	job := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		mu.Lock()
		runs = append(runs, r.Scheduled)
		mu.Unlock()
		return Result{}, nil
	})
	ctx := context.Background()
	// The job last ticked 10 minutes ago; it ticks every minute.
	for _, key := range []string{"in", "out"} {
		f.rdb.Set(ctx, jobKeys("tt", key).claimed, t0.Add(-10*time.Minute).UnixMilli(), 0)
	}
	s := f.sched(t, "a", map[string]Spec{
		"in":  {Schedule: "0 * * * * *", CatchupWindow: 90 * time.Second},
		"out": {Schedule: "0 * * * * *", CatchupWindow: 0},
	}, map[string]Job{"in": job, "out": job})
	f.clock.Set(t0.Add(30 * time.Second))
	for _, name := range []string{"in", "out"} {
		if err := s.catchUp(ctx, s.entries[name], f.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "in", "missed@0", "succeeded@1")
	wantOutcomes(t, s.Control(), "out", "missed@0")
	hin, _ := s.Control().History(ctx, "in", 0)
	hout, _ := s.Control().History(ctx, "out", 0)
	if hin[1].Count != 9 || hout[0].Count != 10 {
		t.Errorf("missed counts: in %d (want 9), out %d (want 10)", hin[1].Count, hout[0].Count)
	}
	if len(runs) != 1 || !runs[0].Equal(t0) || hin[0].Trigger != "catchup" {
		t.Errorf("catch-up ran %v (trigger %s), want once for the latest tick %v", runs, hin[0].Trigger, t0)
	}
	// A second process starting now finds nothing left to catch up.
	s2 := f.sched(t, "b", map[string]Spec{"in": {Schedule: "0 * * * * *", CatchupWindow: time.Hour}}, map[string]Job{"in": job})
	if err := s2.catchUp(ctx, s2.entries["in"], f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	s2.runs.Wait()
	if len(runs) != 1 {
		t.Errorf("the second process caught up again: %v", runs)
	}
}

// TestOneRunPerTickAcrossSchedulers: two schedulers (two processes' worth)
// fire the same 20 ticks at once; each tick runs exactly once.
func TestOneRunPerTickAcrossSchedulers(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	ran := map[time.Time][]string{}
	mk := func(holder string) Job {
		return JobFunc(func(ctx context.Context, r *Run) (Result, error) {
			if err := r.Fence.Check(ctx); err != nil {
				return Result{}, err
			}
			mu.Lock()
			ran[r.Scheduled] = append(ran[r.Scheduled], holder)
			mu.Unlock()
			return Result{}, nil
		})
	}
	a := f.sched(t, "a", map[string]Spec{"j": {Schedule: "@every 2s"}}, map[string]Job{"j": mk("a")})
	b := f.sched(t, "b", map[string]Spec{"j": {Schedule: "@every 2s"}}, map[string]Job{"j": mk("b")})
	ctx := context.Background()
	for i := range 20 {
		tick := t0.Add(time.Duration(i) * 2 * time.Second)
		var wg sync.WaitGroup
		wg.Go(func() { a.Tick(ctx, "j", tick) })
		wg.Go(func() { b.Tick(ctx, "j", tick) })
		wg.Wait()
		a.runs.Wait()
		b.runs.Wait()
	}
	if len(ran) != 20 {
		t.Fatalf("%d ticks ran, want 20", len(ran))
	}
	for tick, hs := range ran {
		if len(hs) != 1 {
			t.Errorf("tick %v ran %d times (%v)", tick, len(hs), hs)
		}
	}
	if h := outcomes(t, a.Control(), "j"); len(h) != 20 {
		t.Errorf("history has %d records, want 20: %v", len(h), h)
	}
}

// TestZombieIsFenced: the holder's lease expires while it is paused; another
// process takes the job; the old holder's check refuses its publish.
func TestZombieIsFenced(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	published := map[string]int{}
	var mu sync.Mutex
	zombie := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		g.started <- r
		<-g.release // "SIGSTOP"
		if err := r.Fence.Check(ctx); err != nil {
			return Result{}, err
		}
		mu.Lock()
		published["a"]++
		mu.Unlock()
		return Result{}, nil
	})
	fresh := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		if err := r.Fence.Check(ctx); err != nil {
			return Result{}, err
		}
		mu.Lock()
		published["b"]++
		mu.Unlock()
		return Result{}, nil
	})
	a := f.sched(t, "a", map[string]Spec{"j": {}}, map[string]Job{"j": zombie})
	b := f.sched(t, "b", map[string]Spec{"j": {}}, map[string]Job{"j": fresh})
	ctx := context.Background()
	a.Tick(ctx, "j", t0)
	r := recv(t, g.started)
	f.rdb.Del(ctx, jobKeys("tt", "j").lease) // the lease expires (Redis's clock is real)
	b.Tick(ctx, "j", t0.Add(2*time.Second))
	b.runs.Wait()
	if r.Fence.Token() >= 2 {
		t.Fatalf("tokens: zombie %d", r.Fence.Token())
	}
	g.release <- nil // "SIGCONT"
	a.runs.Wait()
	if published["a"] != 0 || published["b"] != 1 {
		t.Errorf("published %v: the zombie must be refused", published)
	}
	h, _ := a.Control().History(ctx, "j", 0)
	if len(h) != 2 || h[1].Outcome != Failed || h[0].Outcome != Succeeded || !f.ev.has("LeaseLost") {
		t.Fatalf("history %+v, events %v", h, f.ev.names())
	}
	if err := r.Fence.Check(ctx); !errors.Is(err, ErrFenced) {
		t.Errorf("zombie's check: %v, want ErrFenced", err)
	}
}

// TestLostRenewalCancelsTheRun: when the renewal finds the lease gone, the
// run's context is cancelled before it can publish.
func TestLostRenewalCancelsTheRun(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	s := f.sched(t, "a", map[string]Spec{"j": {Retries: Retries{Max: 3}}}, map[string]Job{"j": g})
	ctx := context.Background()
	s.Tick(ctx, "j", t0)
	recv(t, g.started)
	f.rdb.Set(ctx, jobKeys("tt", "j").lease, "someone-else", 0)
	waitFor(t, "the renewal timer", func() bool { return f.clock.Waiters() >= 1 })
	f.clock.Advance(10 * time.Second) // ttl/3
	s.runs.Wait()
	h, _ := s.Control().History(ctx, "j", 0)
	if len(h) != 1 || h[0].Outcome != Failed || strings.Count(h[0].Error, "lease lost") != 1 {
		t.Fatalf("history %+v", h)
	}
	if !f.ev.has("LeaseLost") || f.ev.has("HaltError") {
		t.Errorf("events %v: want LeaseLost, no HaltError (no retry of a lost lease)", f.ev.names())
	}
}

func TestTimeout(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	s := f.sched(t, "a", map[string]Spec{"j": {Timeout: 5 * time.Second}}, map[string]Job{"j": g})
	s.Tick(context.Background(), "j", t0)
	recv(t, g.started)
	waitFor(t, "the timeout timer", func() bool { return f.clock.Waiters() >= 2 })
	f.clock.Advance(5 * time.Second)
	s.runs.Wait()
	h, _ := s.Control().History(context.Background(), "j", 0)
	if len(h) != 1 || h[0].Outcome != Failed {
		t.Fatalf("history %+v", h)
	}
}

func TestPauseResumeTriggerAfter(t *testing.T) {
	f := newFixture(t)
	var ups []*Upstream
	var mu sync.Mutex
	gen := uint64(41)
	a := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		gen++
		g := gen
		return Result{Generation: &g, Cut: "c"}, nil
	})
	b := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		mu.Lock()
		ups = append(ups, r.Upstream)
		mu.Unlock()
		return Result{}, nil
	})
	s := f.sched(t, "a", map[string]Spec{"a": {Schedule: "@hourly"}, "b": {After: []string{"a"}}}, map[string]Job{"a": a, "b": b})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	c := s.Control()
	if err := c.Pause(ctx, "a", "maintenance"); err != nil {
		t.Fatal(err)
	}
	s.Tick(ctx, "a", t0.Add(time.Hour))
	wantOutcomes(t, c, "a", "skipped-paused@0")
	// A manual trigger runs even a paused job.
	if _, err := c.Trigger(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	s.PollTriggers(ctx)
	s.runs.Wait()
	wantOutcomes(t, c, "a", "skipped-paused@0", "succeeded@1")
	if err := c.Resume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	s.PollTriggers(ctx)
	s.runs.Wait()
	s.Tick(ctx, "a", t0.Add(2*time.Hour))
	s.runs.Wait()
	wantOutcomes(t, c, "a", "skipped-paused@0", "succeeded@1", "succeeded@1")
	// Each success of a queued b with a's generation.
	s.PollTriggers(ctx)
	s.runs.Wait()
	wantOutcomes(t, c, "b", "succeeded@1", "succeeded@1")
	if len(ups) != 2 || ups[0].Job != "a" || *ups[0].Generation != 42 || *ups[1].Generation != 43 {
		t.Errorf("upstreams %+v", ups)
	}
	if _, err := c.Trigger(ctx, "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("unknown job: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestGracefulStop: the running job reaches its safe point after the stop,
// is recorded cancelled and releases its lease; one that never reaches a
// safe point is cancelled at the stop timeout.
func TestGracefulStop(t *testing.T) {
	f := newFixture(t)
	safe := make(chan struct{})
	reached := make(chan error, 1)
	started := make(chan struct{}, 1)
	polite := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		started <- struct{}{}
		<-safe
		err := r.Fence.Check(ctx)
		reached <- err
		return Result{}, err
	})
	g := newGate()
	s := f.sched(t, "a", map[string]Spec{"polite": {}, "stuck": {}}, map[string]Job{"polite": polite, "stuck": g})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	s.Tick(ctx, "polite", t0)
	s.Tick(ctx, "stuck", t0)
	<-started
	recv(t, g.started)
	cancel()
	waitFor(t, "the stop", s.stopping.Load)
	close(safe)
	if err := recv(t, reached); !errors.Is(err, ErrStopping) {
		t.Fatalf("safe point check: %v, want ErrStopping", err)
	}
	waitFor(t, "the polite job's lease release", leaseFree(f, "polite"))
	select {
	case <-done:
		t.Fatal("Run returned while a job still ran")
	default:
	}
	waitFor(t, "the stop timeout timer", func() bool { dl, ok := f.clock.NextDeadline(); return ok && !dl.Before(t0.Add(10*time.Second)) })
	f.clock.Advance(10 * time.Second)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	wantOutcomes(t, s.Control(), "polite", "cancelled@1")
	wantOutcomes(t, s.Control(), "stuck", "cancelled@1")
	if !leaseFree(f, "stuck")() {
		t.Error("the stuck job's lease was not released")
	}
}

// TestDeadHolderReaped: a run left "running" by a killed process is
// recorded failed by the next holder of the lease.
func TestDeadHolderReaped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.sched(t, "b", map[string]Spec{"j": {}}, map[string]Job{"j": JobFunc(func(context.Context, *Run) (Result, error) { return Result{}, nil })})
	start := t0.Add(-time.Minute)
	if err := s.Control().setCurrent(ctx, Record{Job: "j", Run: "dead", Scheduled: start, Start: &start, Outcome: Running, Attempt: 1, Holder: "a"}); err != nil {
		t.Fatal(err)
	}
	s.Tick(ctx, "j", t0)
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "j", "failed@1", "succeeded@1")
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	f.m = NewMetrics(reg)
	g := newGate()
	fail := JobFunc(func(ctx context.Context, r *Run) (Result, error) {
		return Result{Mismatches: 3}, Permanent(errors.New("views differ"))
	})
	s := f.sched(t, "a", map[string]Spec{"ok": {}, "bad": {}}, map[string]Job{"ok": g, "bad": fail})
	ctx := context.Background()
	s.Tick(ctx, "ok", t0)
	recv(t, g.started)
	s.Tick(ctx, "ok", t0.Add(time.Second)) // skipped: overlap
	f.clock.Advance(time.Second)
	g.release <- nil
	s.Tick(ctx, "bad", t0)
	s.runs.Wait()
	// A lost lease.
	s.Tick(ctx, "ok", t0.Add(2*time.Second))
	recv(t, g.started)
	f.rdb.Del(ctx, jobKeys("tt", "ok").lease)
	waitFor(t, "the renewal timer", func() bool { return f.clock.Waiters() >= 1 })
	f.clock.Advance(10 * time.Second)
	s.runs.Wait()
	for _, c := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{f.m.skipped.WithLabelValues("ok", "overlap"), 1},
		{f.m.failures.WithLabelValues("bad"), 1},
		{f.m.failures.WithLabelValues("ok"), 1},
		{f.m.mismatches.WithLabelValues("bad"), 3},
		{f.m.leasesLost.WithLabelValues("ok"), 1},
		{f.m.lastSuccess.WithLabelValues("ok"), float64(t0.Add(time.Second).Unix())},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%v: %v, want %v", c.c, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(f.m.duration); n != 3 {
		t.Errorf("duration series: %d, want 3 (ok/succeeded, bad/failed, ok/failed)", n)
	}
}

// TestElectorStandbyTakesOver: one of two electors is active; when its
// lease goes (expiry), the standby takes over and the old holder's context
// ends with ErrLeaseLost; a lease left by a dead process of this host is
// taken at once.
func TestElectorStandbyTakesOver(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var roles sync.Map
	mk := func(holder string) *Elector {
		return NewElector(ElectorOptions{Redis: f.rdb, Prefix: "tt", Name: "capture:shop", Holder: holder, TTL: 3 * time.Second, Clock: f.clock,
			OnRole: func(active bool) { roles.Store(holder, active) }})
	}
	a, b := mk("h:1"), mk("h:2")
	running := make(chan string, 4)
	lostA := make(chan error, 1)
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	// a, once it lost its lease, stays in its work until released: a
	// paused or partitioned holder. (Returning at once, it would compete
	// with b for the free lease again, and might win it.)
	releaseA := make(chan struct{})
	go func() {
		doneA <- a.Run(ctx, func(ctx context.Context) error {
			running <- "a"
			<-ctx.Done()
			lostA <- context.Cause(ctx)
			<-releaseA
			return context.Cause(ctx)
		})
	}()
	if got := recv(t, running); got != "a" {
		t.Fatalf("%s ran first", got)
	}
	go func() {
		doneB <- b.Run(ctx, func(ctx context.Context) error { running <- "b"; <-ctx.Done(); return nil })
	}()
	waitFor(t, "b to stand by", func() bool { v, ok := roles.Load("h:2"); return ok && !v.(bool) })
	if !a.Active() || b.Active() {
		t.Fatal("want a active, b standing by")
	}
	f.rdb.Del(ctx, jobKeys("tt", "capture:shop").lease) // a's lease expires
	for giveUp := time.Now().Add(time.Minute); !b.Active(); {
		if time.Now().After(giveUp) {
			t.Fatal("b did not take over within a minute")
		}
		f.clock.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	close(releaseA)
	if got := recv(t, running); got != "b" {
		t.Fatalf("%s runs after the takeover", got)
	}
	if err := recv(t, lostA); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("a's context ended with %v, want ErrLeaseLost", err)
	}
	if b.Token() <= a.Token() {
		t.Errorf("tokens: b %d after a %d", b.Token(), a.Token())
	}
	cancel()
	recv(t, doneA)
	recv(t, doneB)

	// A lease held by a process of this host that is gone is taken at once.
	host, _ := os.Hostname()
	k := jobKeys("tt", "capture:shop")
	f.rdb.Set(context.Background(), k.lease, host+":999999", time.Hour)
	c := NewElector(ElectorOptions{Redis: f.rdb, Prefix: "tt", Name: "capture:shop", TTL: 3 * time.Second, Clock: f.clock})
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ran := make(chan struct{})
	go func() { _ = c.Run(ctx2, func(ctx context.Context) error { close(ran); <-ctx.Done(); return nil }) }()
	recv(t, ran)
}

// TestSharedLease: jobs under one lease never run at once: a tick of one
// while the other runs meets its overlap policy.
func TestSharedLease(t *testing.T) {
	f := newFixture(t)
	g := newGate()
	other := JobFunc(func(context.Context, *Run) (Result, error) { return Result{}, nil })
	s := f.sched(t, "a", map[string]Spec{"rebuild": {Lease: LakeLease}, "heal": {Lease: LakeLease}}, map[string]Job{"rebuild": g, "heal": other})
	ctx := context.Background()
	s.Tick(ctx, "rebuild", t0)
	recv(t, g.started)
	s.Tick(ctx, "heal", t0)
	g.release <- nil
	s.runs.Wait()
	wantOutcomes(t, s.Control(), "heal", "skipped-overlap@0")
	st, err := s.Control().Status(ctx)
	if err != nil || len(st) != 2 {
		t.Fatalf("status %+v %v", st, err)
	}
}
