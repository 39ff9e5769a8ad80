package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Job is work run by the scheduler.
type Job interface {
	// Run does one attempt. It must return soon after ctx ends, and call
	// r.Fence.Check at its safe points (before each write that publishes):
	// a run that lost its lease, or whose process is stopping, must stop
	// there. An error marked Permanent is not retried.
	Run(ctx context.Context, r *Run) (Result, error)
}

// JobFunc adapts a function to Job.
type JobFunc func(ctx context.Context, r *Run) (Result, error)

// Run implements Job.
func (f JobFunc) Run(ctx context.Context, r *Run) (Result, error) { return f(ctx, r) }

// Run describes the attempt a Job is asked to do.
type Run struct {
	Job       string
	ID        string
	Scheduled time.Time
	Trigger   string // schedule | catchup | manual | after:<job>
	Attempt   int
	// Upstream is the run whose success triggered this one (after:), with
	// the generation it produced; nil otherwise.
	Upstream *Upstream
	Fence    Fence

	sink Sink
}

// Upstream is the result of the run that triggered an after: job.
type Upstream struct {
	Job        string
	Run        string
	Generation *uint64
	Cut        string
}

// Emit sends a job lifecycle event (RebuildStarted, GenerationPublished,
// ...) stamped with the run's job, id and attempt.
func (r *Run) Emit(ctx context.Context, e Event) {
	if r.sink == nil {
		return
	}
	e.Job, e.Run, e.Attempt = r.Job, r.ID, r.Attempt
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	r.sink.Emit(ctx, e)
}

// Result is what a successful attempt produced, recorded in its history.
type Result struct {
	Generation *uint64
	Cut        string
	CutTime    *time.Time
	Rows       int64
	Bytes      int64
	// Mismatches counts the differences a verify job found.
	Mismatches int64
	// Inputs are the datasets the run read (a rebuild's source tables),
	// reported as OpenLineage inputs.
	Inputs []Dataset
}

// Dataset is a dataset a run read or wrote, in OpenLineage's naming:
// Namespace is where it lives (mysql://host:port), Name what it is there
// (db.table). Rows is its row count in the run's result.
type Dataset struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Rows      int64  `json:"rows"`
}

// Overlap policies: what a tick does while the job's previous run still
// holds the lease (in this process or another).
const (
	OverlapSkip          = "skip"           // record the tick skipped-overlap
	OverlapBufferOne     = "buffer_one"     // run it once the current run ends; one tick waits at most
	OverlapCancelRunning = "cancel_running" // cancel the current run, then run
)

// Retries is a job's retry policy.
type Retries struct {
	// Max retries after the first attempt; 0 means none.
	Max int
	// InitialBackoff is the first wait (0: 1s); each next one doubles up
	// to MaxBackoff (0: 1m). Each wait is drawn in [d/2, d] (jitter), so
	// processes retrying together spread out.
	InitialBackoff, MaxBackoff time.Duration
}

// Spec declares a job.
type Spec struct {
	Name string
	// Schedule is a cron expression or descriptor; "" means the job runs
	// only after its After jobs or when triggered.
	Schedule string
	Location *time.Location // nil: UTC
	After    []string
	Overlap  string // "" means skip
	// CatchupWindow: of the ticks missed while no process ran the job, the
	// latest runs once if it is within this window of now; the rest are
	// recorded missed.
	CatchupWindow  time.Duration
	Retries        Retries
	Timeout        time.Duration // per attempt; 0 means none
	PauseOnFailure bool
	// Lease names the lease the job runs under; "" means its own. Jobs
	// sharing a lease never run at once (anywhere): the lake's writers
	// (rebuild, extract, retention) share LakeLease, so two of them never
	// build the same generation number. A tick finding the lease held by
	// another job meets its overlap policy as if its own run held it.
	Lease string
}

// LakeLease is the lease of the jobs that write the lake's generations,
// and of `tidemark batch`.
const LakeLease = "lease:lake"

// Options configure a Scheduler.
type Options struct {
	Redis  redis.UniversalClient
	Prefix string // Redis key prefix; "" means "tm"
	Clock  Clock  // nil: RealClock
	Logger *slog.Logger
	// Metrics and Events may be nil.
	Metrics *Metrics
	Events  Sink
	// Holder names this process in leases and history; "" means
	// hostname:pid.
	Holder string
	// LeaseTTL is the job lease's expiry, renewed every third of it; 0
	// means 15s.
	LeaseTTL time.Duration
	// HistoryRuns is the history kept per job; 0 means 100.
	HistoryRuns int
	// StopTimeout is how long Run, once its ctx ends, lets running jobs
	// reach a safe point before it cancels them; 0 means 20s.
	StopTimeout time.Duration
	// PollInterval is how often triggers (manual, after:) are looked for
	// and a waiting buffered tick retries the lease; 0 means 1s.
	PollInterval time.Duration
	// Jitter returns a number in [0, 1) for backoff jitter; nil means
	// math/rand/v2.
	Jitter func() float64
}

// Scheduler runs jobs on their schedules, one run per tick across every
// process sharing the Redis (see the package doc). Add every job, then
// Run.
type Scheduler struct {
	o        Options
	ctl      *Control
	log      *slog.Logger
	entries  map[string]*entry
	order    []string
	stopping atomic.Bool
	runs     sync.WaitGroup
}

type entry struct {
	spec  Spec
	sched *Schedule // nil without schedule
	job   Job
	// dependents are the jobs with this one in their After.
	dependents []string
	lease      string // the lease's name (Spec.Lease or the job's)

	mu       sync.Mutex
	running  *localRun
	buffered bool
}

type localRun struct {
	cancel context.CancelCauseFunc
}

// New returns a Scheduler without jobs.
func New(o Options) (*Scheduler, error) {
	if o.Redis == nil {
		return nil, errors.New("scheduler: no Redis client")
	}
	if o.Prefix == "" {
		o.Prefix = "tm"
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Holder == "" {
		h, _ := os.Hostname()
		o.Holder = h + ":" + strconv.Itoa(os.Getpid())
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.HistoryRuns <= 0 {
		o.HistoryRuns = 100
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 20 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Jitter == nil {
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
		var mu sync.Mutex
		o.Jitter = func() float64 { mu.Lock(); defer mu.Unlock(); return r.Float64() }
	}
	if o.Events == nil {
		o.Events = LogSink{Log: o.Logger}
	}
	return &Scheduler{o: o, log: o.Logger, entries: map[string]*entry{},
		ctl: NewControl(o.Redis, o.Prefix, nil, o.Clock, o.HistoryRuns)}, nil
}

// Add declares a job. Jobs named in After must be added too (before Run).
func (s *Scheduler) Add(spec Spec, job Job) error {
	if _, dup := s.entries[spec.Name]; dup || spec.Name == "" {
		return fmt.Errorf("scheduling job %q: empty or duplicate name", spec.Name)
	}
	e := &entry{spec: spec, job: job, lease: spec.Lease}
	if e.lease == "" {
		e.lease = spec.Name
	}
	switch spec.Overlap {
	case "":
		e.spec.Overlap = OverlapSkip
	case OverlapSkip, OverlapBufferOne, OverlapCancelRunning:
	default:
		return fmt.Errorf("scheduling job %s: overlap %q: want skip, buffer_one or cancel_running", spec.Name, spec.Overlap)
	}
	if e.spec.Retries.InitialBackoff <= 0 {
		e.spec.Retries.InitialBackoff = time.Second
	}
	if e.spec.Retries.MaxBackoff <= 0 {
		e.spec.Retries.MaxBackoff = time.Minute
	}
	if spec.Schedule != "" {
		sch, err := NewSchedule(spec.Schedule, spec.Location)
		if err != nil {
			return fmt.Errorf("scheduling job %s: %w", spec.Name, err)
		}
		e.sched = sch
		s.ctl.SetSchedule(spec.Name, sch)
	}
	s.entries[spec.Name] = e
	s.order = append(s.order, spec.Name)
	s.ctl.jobs = append(s.ctl.jobs, spec.Name)
	s.ctl.SetLease(spec.Name, e.lease)
	return nil
}

// Control returns the steering interface over the scheduler's jobs.
func (s *Scheduler) Control() *Control { return s.ctl }

// Run fires the jobs until ctx ends. Then it stops firing, lets the
// running jobs reach their next safe point (Fence.Check returns
// ErrStopping) for up to StopTimeout, cancels what still runs, waits for
// it, and returns: every run is recorded (a stopped one as cancelled) and
// its lease released.
func (s *Scheduler) Run(ctx context.Context) error {
	for name, e := range s.entries {
		for _, a := range e.spec.After {
			up, ok := s.entries[a]
			if !ok {
				return fmt.Errorf("job %s: after %q: no such job", name, a)
			}
			if !slices.Contains(up.dependents, name) {
				up.dependents = append(up.dependents, name)
			}
		}
	}
	var loops sync.WaitGroup
	for _, name := range s.order {
		e := s.entries[name]
		if e.sched == nil {
			continue
		}
		loops.Go(func() { s.tickLoop(ctx, e) })
	}
	loops.Go(func() { s.pollLoop(ctx) })
	<-ctx.Done()
	loops.Wait()
	s.stopping.Store(true)
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	deadline, stop := s.o.Clock.After(s.o.StopTimeout)
	defer stop()
	select {
	case <-done:
		return nil
	case <-deadline:
	}
	s.log.Warn("jobs did not reach a safe point within the stop timeout; cancelling them", "timeout", s.o.StopTimeout)
	for _, e := range s.entries {
		e.mu.Lock()
		if e.running != nil {
			e.running.cancel(ErrStopping)
		}
		e.mu.Unlock()
	}
	<-done
	return nil
}

func (s *Scheduler) tickLoop(ctx context.Context, e *entry) {
	now := s.o.Clock.Now()
	if err := s.catchUp(ctx, e, now); err != nil && ctx.Err() == nil {
		s.log.Error("catching up missed ticks failed", "job", e.spec.Name, "error", err)
	}
	// The ticks of the last few seconds are fired as usual (late), not
	// caught up: another live process may be giving them their outcome
	// right now, and the claim settles who does.
	cursor := now.Add(-catchupGrace)
	for {
		next := e.sched.Next(cursor)
		if next.IsZero() {
			return
		}
		ch, stop := s.o.Clock.After(next.Sub(s.o.Clock.Now()))
		select {
		case <-ctx.Done():
			stop()
			return
		case <-ch:
		}
		cursor = next
		s.fireTick(ctx, e, next)
	}
}

// Tick gives the tick of job at t its outcome, as the tick loop does when
// t comes: claimed by one process, then run or recorded skipped. Tests
// call it directly.
func (s *Scheduler) Tick(ctx context.Context, job string, t time.Time) {
	if e, ok := s.entries[job]; ok {
		s.fireTick(ctx, e, t)
	}
}

func (s *Scheduler) fireTick(ctx context.Context, e *entry, t time.Time) {
	k := jobKeys(s.o.Prefix, e.spec.Name)
	ok, err := claimScript.Run(ctx, s.o.Redis, []string{k.claimed}, t.UnixMilli()).Int64()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("claiming a tick failed; it is left to the other processes", "job", e.spec.Name, "tick", t, "error", err)
		}
		return
	}
	if ok == 0 {
		return // another process has this tick
	}
	s.o.Metrics.tick(e.spec.Name, float64(t.Unix()))
	s.start(ctx, e, t, "schedule", nil)
}

// catchupGrace: ticks younger than this at start-up are not "missed"
// (tickLoop fires them).
const catchupGrace = 5 * time.Second

// catchUp gives the ticks missed while no process ran the job their
// outcome: the latest runs once if it is within the catch-up window, the
// others are recorded missed (folded into one record).
func (s *Scheduler) catchUp(ctx context.Context, e *entry, now time.Time) error {
	k := jobKeys(s.o.Prefix, e.spec.Name)
	// A first start seeds the claimed tick, so ticks missed from now on
	// are known.
	if err := s.o.Redis.SetNX(ctx, k.claimed, now.UnixMilli(), 0).Err(); err != nil {
		return err
	}
	ms, err := s.o.Redis.Get(ctx, k.claimed).Int64()
	if err != nil {
		return err
	}
	last := time.UnixMilli(ms)
	var first, latest, prev time.Time
	n := 0
	until := now.Add(-catchupGrace)
	for t := e.sched.Next(last); !t.IsZero() && !t.After(until); t = e.sched.Next(t) {
		if n == 0 {
			first = t
		}
		prev, latest = latest, t
		n++
	}
	if n == 0 {
		return nil
	}
	ok, err := claimScript.Run(ctx, s.o.Redis, []string{k.claimed}, latest.UnixMilli()).Int64()
	if err != nil || ok == 0 {
		return err
	}
	run := e.spec.CatchupWindow > 0 && now.Sub(latest) <= e.spec.CatchupWindow
	count, lastMissed := n, latest
	if run {
		count, lastMissed = n-1, prev
	}
	if count > 0 {
		msg := fmt.Sprintf("no process ran the job at these ticks, and they are outside catchup_window (%s)", e.spec.CatchupWindow)
		r := Record{Job: e.spec.Name, Run: runID(first, "missed"), Scheduled: first.UTC(), Trigger: "schedule", Outcome: Missed, Error: msg}
		if count > 1 {
			r.Count = count
			r.Error = fmt.Sprintf("%d ticks from %s to %s: %s", count, first.UTC().Format(time.RFC3339), lastMissed.UTC().Format(time.RFC3339), msg)
		}
		if err := s.ctl.push(ctx, r); err != nil {
			return err
		}
		s.o.Metrics.miss(e.spec.Name, count)
		s.o.Events.Emit(ctx, Event{Name: "TicksMissed", Time: now.UTC(), Job: e.spec.Name, Counts: map[string]int64{"ticks": int64(count)}})
	}
	if run {
		s.start(ctx, e, latest, "catchup", nil)
	}
	return nil
}

func runID(t time.Time, trig string) string {
	id := t.UTC().Format("20060102T150405.000Z")
	if trig != "schedule" && trig != "catchup" {
		id += "-" + trig
	}
	return id
}

// start runs the tick (or trigger) scheduled at t, or gives it its
// skipped outcome. It returns once the run is started (or recorded).
func (s *Scheduler) start(ctx context.Context, e *entry, t time.Time, trig string, up *Upstream) {
	name := e.spec.Name
	base := Record{Job: name, Run: runID(t, trig), Scheduled: t.UTC(), Trigger: trig}
	if trig != "manual" {
		p, err := s.ctl.Paused(ctx, name)
		if err != nil {
			s.log.Error("reading the pause state failed; tick skipped", "job", name, "error", err)
			return
		}
		if p != nil {
			base.Outcome, base.Error = SkippedPaused, "paused: "+p.Reason
			s.pushLogged(ctx, base)
			s.o.Metrics.skip(name, "paused")
			return
		}
	}
	l, ok, err := s.ctl.acquire(ctx, e.lease, s.o.Holder, s.o.LeaseTTL, &s.stopping)
	if err != nil {
		s.log.Error("tick not run", "job", name, "error", err)
		base.Outcome, base.Error = Failed, err.Error()
		s.pushLogged(ctx, base)
		return
	}
	if ok {
		s.launch(ctx, e, l, base, up)
		return
	}
	switch e.spec.Overlap {
	case OverlapSkip:
		s.skipOverlap(ctx, e, base, "the previous run still holds the job's lease")
		return
	case OverlapCancelRunning:
		for _, other := range s.entries {
			if other.lease == e.lease && other != e {
				other.mu.Lock()
				if other.running != nil {
					other.running.cancel(ErrOverlapCancel)
				}
				other.mu.Unlock()
			}
		}
		if err := s.ctl.requestCancel(ctx, e.lease, s.o.LeaseTTL); err != nil {
			s.log.Error("asking the running job to stop failed", "job", name, "error", err)
		}
		e.mu.Lock()
		if e.running != nil {
			e.running.cancel(ErrOverlapCancel)
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	if e.buffered {
		e.mu.Unlock()
		s.skipOverlap(ctx, e, base, "a run is going and another tick already waits for it")
		return
	}
	e.buffered = true
	e.mu.Unlock()
	s.runs.Go(func() {
		defer func() { e.mu.Lock(); e.buffered = false; e.mu.Unlock() }()
		for {
			ch, stop := s.o.Clock.After(s.o.PollInterval)
			select {
			case <-ctx.Done():
				stop()
				base.Outcome, base.Error = Cancelled, "the process stopped while the tick waited for the previous run"
				s.pushLogged(context.WithoutCancel(ctx), base)
				return
			case <-ch:
			}
			l, ok, err := s.ctl.acquire(ctx, e.lease, s.o.Holder, s.o.LeaseTTL, &s.stopping)
			if err != nil {
				continue
			}
			if ok {
				e.mu.Lock()
				e.buffered = false
				e.mu.Unlock()
				s.launch(ctx, e, l, base, up)
				return
			}
		}
	})
}

func (s *Scheduler) skipOverlap(ctx context.Context, e *entry, base Record, why string) {
	base.Outcome, base.Error = SkippedOverlap, why
	s.pushLogged(ctx, base)
	s.o.Metrics.skip(e.spec.Name, "overlap")
	s.o.Events.Emit(ctx, Event{Name: "TickSkipped", Time: s.o.Clock.Now().UTC(), Job: e.spec.Name, Run: base.Run, Error: why})
}

func (s *Scheduler) pushLogged(ctx context.Context, r Record) {
	if err := s.ctl.push(ctx, r); err != nil {
		s.log.Error("recording a run failed", "job", r.Job, "run", r.Run, "outcome", r.Outcome, "error", err)
	}
}

// launch starts the run holding l in its own goroutine.
func (s *Scheduler) launch(ctx context.Context, e *entry, l *lease, base Record, up *Upstream) {
	// The run outlives ctx by up to StopTimeout: it stops at its next safe
	// point, or when Run cancels it.
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	me := &localRun{cancel: cancel}
	e.mu.Lock()
	e.running = me
	e.mu.Unlock()
	s.runs.Go(func() {
		defer cancel(nil)
		s.execute(rctx, e, l, base, up, cancel)
		// A buffered tick may have started the next run already (the
		// lease is released inside execute).
		e.mu.Lock()
		if e.running == me {
			e.running = nil
		}
		e.mu.Unlock()
	})
}

// renewLoop renews l every third of its TTL until ctx ends; a lost lease
// or a cancel request cancels the run.
func (s *Scheduler) renewLoop(ctx context.Context, e *entry, l *lease, cancel context.CancelCauseFunc) {
	last := s.o.Clock.Now()
	for {
		ch, stop := s.o.Clock.After(l.ttl / 3)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-ch:
		}
		ok, cancelReq, err := l.renew(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if s.o.Clock.Now().Sub(last) >= l.ttl {
				s.o.Metrics.leaseLost(e.spec.Name)
				cancel(fmt.Errorf("%w: renewing failed for a whole lease ttl: %w", ErrLeaseLost, err))
				return
			}
		case !ok:
			s.o.Metrics.leaseLost(e.spec.Name)
			cancel(fmt.Errorf("job %s: the lease expired or was taken over: %w", e.spec.Name, ErrLeaseLost))
			return
		case cancelReq:
			cancel(ErrOverlapCancel)
			last = s.o.Clock.Now()
		default:
			last = s.o.Clock.Now()
		}
	}
}

// execute does the run's attempts and records each.
func (s *Scheduler) execute(ctx context.Context, e *entry, l *lease, base Record, up *Upstream, cancel context.CancelCauseFunc) {
	name := e.spec.Name
	wctx := context.WithoutCancel(ctx) // bookkeeping after a cancel still lands
	defer func() {
		if err := l.release(wctx); err != nil {
			s.log.Warn("releasing the job lease failed; it expires by itself", "job", name, "error", err)
		}
	}()
	rctx, stopRenew := context.WithCancel(ctx)
	var renewing sync.WaitGroup
	renewing.Go(func() { s.renewLoop(rctx, e, l, cancel) })
	defer func() { stopRenew(); renewing.Wait() }()

	// Holding the lease, no run of any job under it can be going: a
	// "running" record of one is a dead holder's.
	for _, other := range s.order {
		if s.entries[other].lease == e.lease {
			s.reapDead(wctx, other)
		}
	}
	base.Holder, base.Fence = s.o.Holder, l.token
	var final Record
	leaseLost := false
	for attempt := 1; ; attempt++ {
		rec := base
		rec.Attempt = attempt
		start := s.o.Clock.Now().UTC()
		rec.Start, rec.Outcome = &start, Running
		if err := s.ctl.setCurrent(wctx, rec); err != nil {
			s.log.Warn("recording the running attempt failed", "job", name, "error", err)
		}
		s.o.Events.Emit(wctx, Event{Name: "RunStarted", Time: start, Job: name, Run: rec.Run, Attempt: attempt})
		res, err := s.attempt(ctx, e, &Run{Job: name, ID: rec.Run, Scheduled: base.Scheduled, Trigger: base.Trigger,
			Attempt: attempt, Upstream: up, Fence: l, sink: s.o.Events})
		end := s.o.Clock.Now().UTC()
		rec.End = &end
		rec.Generation, rec.Cut, rec.CutTime, rec.Rows, rec.Bytes = res.Generation, res.Cut, res.CutTime, res.Rows, res.Bytes
		rec.Inputs = res.Inputs
		cause := context.Cause(ctx)
		switch {
		case err == nil:
			rec.Outcome = Succeeded
		case errors.Is(err, ErrStopping) || errors.Is(cause, ErrStopping) || (s.stopping.Load() && ctx.Err() != nil):
			rec.Outcome, rec.Error = Cancelled, "the process is stopping: "+err.Error()
		case errors.Is(err, ErrOverlapCancel) || errors.Is(cause, ErrOverlapCancel):
			rec.Outcome, rec.Error = Cancelled, ErrOverlapCancel.Error()
		case lost(err) || lost(cause):
			if cause != nil && !errors.Is(err, cause) {
				err = fmt.Errorf("%w (%w)", cause, err)
			}
			rec.Outcome, rec.Error = Failed, err.Error()
			leaseLost = true
			if lost(err) && !lost(cause) {
				s.o.Metrics.leaseLost(name)
			}
		case errors.Is(err, ErrPermanent) || attempt > e.spec.Retries.Max:
			rec.Outcome, rec.Error = Failed, err.Error()
		default:
			rec.Outcome, rec.Error = Retried, err.Error()
		}
		s.o.Metrics.attempt(name, rec.Outcome, end.Sub(start).Seconds())
		if rec.Outcome != Retried {
			final = rec
			break
		}
		s.pushLogged(wctx, rec)
		wait := s.backoff(e, attempt)
		s.o.Events.Emit(wctx, Event{Name: "RetryError", Time: end, Job: name, Run: rec.Run, Attempt: attempt, Error: rec.Error,
			Counts: map[string]int64{"retry_in_ms": wait.Milliseconds()}})
		ch, stop := s.o.Clock.After(wait)
		select {
		case <-ctx.Done():
			stop()
			final = base
			final.Attempt, final.Outcome = attempt+1, Cancelled
			final.Error = fmt.Sprintf("cancelled while waiting to retry: %v", context.Cause(ctx))
		case <-ch:
		}
		if final.Outcome != "" {
			break
		}
	}
	// A run that lost its lease may have been reaped (reapDead) by the
	// next holder already: then that record stands.
	if ours, err := s.ctl.clearCurrent(wctx, name, final.Run, l.token); err != nil {
		s.log.Warn("clearing the running attempt failed", "job", name, "error", err)
		s.pushLogged(wctx, final)
	} else if ours || !leaseLost {
		s.pushLogged(wctx, final)
	}
	switch final.Outcome {
	case Succeeded:
		s.o.Metrics.success(name, float64(final.End.Unix()))
		s.o.Events.Emit(wctx, Event{Name: "RunSucceeded", Time: *final.End, Job: name, Run: final.Run, Attempt: final.Attempt,
			Generation: final.Generation, Cut: final.Cut, Counts: map[string]int64{"rows": final.Rows, "bytes": final.Bytes}, Inputs: final.Inputs})
		s.triggerDependents(wctx, e, final)
	case Failed:
		s.o.Metrics.failure(name)
		if leaseLost {
			s.o.Events.Emit(wctx, Event{Name: "LeaseLost", Time: s.o.Clock.Now().UTC(), Job: name, Run: final.Run, Attempt: final.Attempt, Error: final.Error})
			return
		}
		s.o.Events.Emit(wctx, Event{Name: "HaltError", Time: s.o.Clock.Now().UTC(), Job: name, Run: final.Run, Attempt: final.Attempt, Error: final.Error})
		if e.spec.PauseOnFailure {
			if err := s.ctl.Pause(wctx, name, fmt.Sprintf("pause_on_failure: run %s failed: %s", final.Run, final.Error)); err != nil {
				s.log.Error("pausing the failed job failed", "job", name, "error", err)
			}
		}
	case Cancelled:
		s.o.Events.Emit(wctx, Event{Name: "RunCancelled", Time: s.o.Clock.Now().UTC(), Job: name, Run: final.Run, Attempt: final.Attempt, Error: final.Error})
	}
}

// attempt runs one attempt under the job's timeout.
func (s *Scheduler) attempt(ctx context.Context, e *entry, r *Run) (res Result, err error) {
	if e.spec.Timeout > 0 {
		actx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		ch, stop := s.o.Clock.After(e.spec.Timeout)
		defer stop()
		go func() {
			select {
			case <-ch:
				cancel(fmt.Errorf("attempt %d ran past the job's timeout (%s): %w", r.Attempt, e.spec.Timeout, ErrTimeout))
			case <-actx.Done():
			}
		}()
		ctx = actx
		defer func() {
			if err != nil && errors.Is(context.Cause(actx), ErrTimeout) {
				err = fmt.Errorf("%w (%w)", context.Cause(actx), err)
			}
		}()
	}
	defer func() {
		if p := recover(); p != nil {
			err = Permanent(fmt.Errorf("job %s panicked: %v", r.Job, p))
		}
	}()
	res, err = e.job.Run(ctx, r)
	s.o.Metrics.mismatch(r.Job, res.Mismatches)
	return res, err
}

// backoff is the wait before retry n (1-based): initial·2^(n-1), capped,
// drawn in [d/2, d].
func (s *Scheduler) backoff(e *entry, n int) time.Duration {
	d := e.spec.Retries.InitialBackoff
	for i := 1; i < n && d < e.spec.Retries.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, e.spec.Retries.MaxBackoff)
	return d/2 + time.Duration(s.o.Jitter()*float64(d/2))
}

// reapDead records as failed a running attempt left by a process that
// died holding the lease (the lease expired, so we could take it).
func (s *Scheduler) reapDead(ctx context.Context, job string) {
	h, err := s.ctl.History(ctx, job, 1)
	if err != nil || len(h) == 0 || h[0].Outcome != Running {
		return
	}
	dead := h[0]
	now := s.o.Clock.Now().UTC()
	dead.End, dead.Outcome = &now, Failed
	dead.Error = fmt.Sprintf("its process (%s) stopped holding the lease without finishing (killed?); the lease expired", dead.Holder)
	s.pushLogged(ctx, dead)
	_, _ = s.ctl.clearCurrent(ctx, job, dead.Run, dead.Fence)
	s.o.Metrics.leaseLost(job)
}

// triggerDependents queues the after: jobs of e whose upstreams' latest
// runs all succeeded.
func (s *Scheduler) triggerDependents(ctx context.Context, e *entry, r Record) {
	for _, d := range e.dependents {
		de := s.entries[d]
		ready := true
		for _, a := range de.spec.After {
			if a == e.spec.Name {
				continue
			}
			h, err := s.ctl.History(ctx, a, 20)
			if err != nil {
				ready = false
				break
			}
			i := slices.IndexFunc(h, func(x Record) bool { return x.Outcome == Succeeded || x.Outcome == Failed || x.Outcome == Cancelled })
			if i < 0 || h[i].Outcome != Succeeded {
				ready = false
			}
		}
		if !ready {
			s.log.Info("after: not all upstream jobs succeeded last; not triggered", "job", d, "upstream", e.spec.Name)
			continue
		}
		if _, err := s.ctl.enqueue(ctx, d, trigger{Trigger: "after:" + e.spec.Name, Generation: r.Generation, Cut: r.Cut, Run: r.Run}); err != nil {
			s.log.Error("triggering an after: job failed", "job", d, "error", err)
		}
	}
}

func (s *Scheduler) pollLoop(ctx context.Context) {
	for {
		s.PollTriggers(ctx)
		ch, stop := s.o.Clock.After(s.o.PollInterval)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-ch:
		}
	}
}

// PollTriggers starts the runs queued by Trigger and by after:
// dependencies; the poll loop calls it every PollInterval.
func (s *Scheduler) PollTriggers(ctx context.Context) {
	for _, name := range s.order {
		e := s.entries[name]
		for ctx.Err() == nil {
			t, err := s.ctl.popTrigger(ctx, name)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("reading triggers failed", "job", name, "error", err)
				}
				break
			}
			if t == nil {
				break
			}
			var up *Upstream
			if job, ok := strings.CutPrefix(t.Trigger, "after:"); ok {
				up = &Upstream{Job: job, Run: t.Run, Generation: t.Generation, Cut: t.Cut}
			}
			s.start(ctx, e, t.At, t.Trigger, up)
		}
	}
}
