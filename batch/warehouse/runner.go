package warehouse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
)

// Phase is where a target's latest load stands.
type Phase string

const (
	PhaseIdle    Phase = "idle"    // nothing attempted yet
	PhaseLoading Phase = "loading" // a load is running
	PhaseLoaded  Phase = "loaded"  // the latest attempt swapped its generation in
	PhaseFailed  Phase = "failed"  // the latest attempt failed (Error says why); retried
)

// State is a target's load state.
type State struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	Phase  Phase  `json:"phase"`
	// Generation is the generation of the latest attempt; Loaded the
	// generation the target holds (0 with LoadedOK false: none).
	Generation uint64 `json:"generation"`
	Loaded     uint64 `json:"loaded_generation"`
	LoadedOK   bool   `json:"loaded"`
	Error      string `json:"error,omitempty"`
	Attempts   int    `json:"attempts"`
	Rows       int64  `json:"rows"`
	Bytes      int64  `json:"bytes"`
	// Seconds is the latest attempt's duration.
	Seconds   float64   `json:"seconds"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// Target is one configured warehouse target.
type Target struct {
	Name   string
	Kind   string // postgres | redshift
	Loader Loader
	Select Selection
}

// Metrics receives load outcomes; nil means none. (cmd/tidemark wires
// Prometheus metrics; see metrics.go.)
type Metrics interface {
	// LoadDone reports one load attempt.
	LoadDone(target string, gen uint64, rows int64, d time.Duration, err error)
	// Loaded reports the generation a target holds.
	Loaded(target string, gen uint64)
}

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	// Keep is the retention: generations whose tables a target keeps, the
	// loaded one included. 0 means 3 (the lake's default).
	Keep int
	// MinBackoff and MaxBackoff bound the wait between retries of a failed
	// load. 0 means 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	Metrics                Metrics
	Log                    *slog.Logger
}

// Runner loads generations into targets. It is safe for concurrent use.
type Runner struct {
	store   lake.Store
	targets []Target
	o       RunnerOptions

	mu     sync.Mutex
	states map[string]*State
	want   map[string]uint64 // newest published generation not yet loaded
	kick   map[string]chan struct{}
}

// NewRunner returns a Runner over the lake store and targets.
func NewRunner(store lake.Store, targets []Target, o RunnerOptions) *Runner {
	if o.Keep <= 0 {
		o.Keep = 3
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{store: store, targets: targets, o: o,
		states: map[string]*State{}, want: map[string]uint64{}, kick: map[string]chan struct{}{}}
	for _, t := range targets {
		r.states[t.Name] = &State{Target: t.Name, Kind: t.Kind, Phase: PhaseIdle}
		r.kick[t.Name] = make(chan struct{}, 1)
	}
	return r
}

// Targets returns the targets' names, in configuration order.
func (r *Runner) Targets() []string {
	names := make([]string, len(r.targets))
	for i, t := range r.targets {
		names[i] = t.Name
	}
	return names
}

func (r *Runner) target(name string) (*Target, error) {
	for i := range r.targets {
		if r.targets[i].Name == name {
			return &r.targets[i], nil
		}
	}
	return nil, fmt.Errorf("no warehouse target %q", name)
}

// Load loads generation gen (0: the newest published) into target with
// fencing token fence (0: none), and returns the target's state after it.
// It is the scheduler's load job and the body of `tidemark warehouse
// load`. A generation already loaded is a no-op; ErrStale and ErrFenced
// come back as such (errors.Is), and connection failures as
// ErrUnavailable. It makes one attempt: Run retries.
func (r *Runner) Load(ctx context.Context, target string, gen, fence uint64) (State, error) {
	t, err := r.target(target)
	if err != nil {
		return State{}, err
	}
	start := time.Now()
	st := r.begin(t.Name, gen, start)
	g, err := r.generation(ctx, gen)
	if err == nil {
		st.Generation = g.Number
		r.set(st)
		st, err = r.load(ctx, t, g.Select(t.Select), fence, st)
	}
	st.Seconds = time.Since(start).Seconds()
	st.EndedAt = time.Now().UTC()
	if errors.Is(err, ErrNoGeneration) { // nothing to load is no failure
		st.Phase, st.Attempts = PhaseIdle, st.Attempts-1
		r.set(st)
		return st, err
	}
	if err != nil {
		err = fmt.Errorf("loading generation %d into warehouse target %s: %w", st.Generation, t.Name, err)
		st.Phase, st.Error = PhaseFailed, err.Error()
	} else {
		st.Phase, st.Error = PhaseLoaded, ""
	}
	r.set(st)
	if r.o.Metrics != nil {
		r.o.Metrics.LoadDone(t.Name, st.Generation, st.Rows, time.Since(start), err)
		if st.LoadedOK {
			r.o.Metrics.Loaded(t.Name, st.Loaded)
		}
	}
	r.persist(ctx, st)
	return st, err
}

func (r *Runner) generation(ctx context.Context, gen uint64) (*Generation, error) {
	if gen != 0 {
		return FromManifest(ctx, r.store, gen)
	}
	g, err := Latest(ctx, r.store)
	if err == nil && g == nil {
		err = ErrNoGeneration
	}
	return g, err
}

func (r *Runner) load(ctx context.Context, t *Target, g *Generation, fence uint64, st State) (State, error) {
	p, err := t.Loader.Prepare(ctx, g)
	if err != nil {
		return st, err
	}
	st.Rows, st.Bytes = p.Rows, p.Bytes
	swapped, err := t.Loader.Swap(ctx, g, fence)
	if err != nil {
		return st, err
	}
	st.LoadedOK, st.Loaded = true, g.Number
	if !swapped {
		r.o.Log.Info("warehouse target already holds the generation", "target", t.Name, "generation", g.Number)
	} else {
		r.o.Log.Info("warehouse target loaded", "target", t.Name, "generation", g.Number, "rows", p.Rows, "bytes", p.Bytes)
	}
	if err := t.Loader.DropOld(ctx, r.o.Keep); err != nil {
		// The generation is in; old tables go at the next load.
		r.o.Log.Warn("dropping old warehouse generations failed; retried after the next load", "target", t.Name, "err", err)
	}
	return st, nil
}

func (r *Runner) begin(target string, gen uint64, at time.Time) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := *r.states[target]
	st.Phase, st.Generation, st.Error = PhaseLoading, gen, ""
	st.Rows, st.Bytes, st.Seconds = 0, 0, 0
	st.Attempts++
	st.StartedAt, st.EndedAt = at.UTC(), time.Time{}
	*r.states[target] = st
	return st
}

func (r *Runner) set(st State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.states[st.Target] = st
}

// stateKey is where a target's state is kept in the lake, for `tidemark
// warehouse status` and the API of another process.
func stateKey(target string) string { return "_warehouse/" + target + ".json" }

func (r *Runner) persist(ctx context.Context, st State) {
	b, err := json.Marshal(st)
	if err == nil {
		err = r.store.Put(context.WithoutCancel(ctx), stateKey(st.Target), bytes.NewReader(b))
	}
	if err != nil {
		r.o.Log.Warn("saving the warehouse load state in the lake failed", "target", st.Target, "err", err)
	}
}

// ReadState returns target's last recorded state from the lake (written by
// whichever process loaded it last); ok false when there is none.
func ReadState(ctx context.Context, store lake.Store, target string) (State, bool, error) {
	b, err := lake.ReadAll(ctx, store, stateKey(target))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, false, fmt.Errorf("decoding %s: %w", stateKey(target), err)
	}
	return st, true, nil
}

// Published tells the runner that generation gen was published: Run loads
// it into every target, superseding any older one still pending. It never
// blocks. A nil Runner does nothing.
func (r *Runner) Published(gen uint64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.targets {
		if gen > r.want[t.Name] {
			r.want[t.Name] = gen
		}
		select {
		case r.kick[t.Name] <- struct{}{}:
		default:
		}
	}
}

// Run loads each published generation into each target until ctx ends:
// first the newest the lake has (catching up a target that was behind when
// the process started), then each one Published announces. A failed load
// is retried with exponential backoff between MinBackoff and MaxBackoff; a
// newer generation published meanwhile replaces the one retried. ErrStale
// and ErrFenced are not retried: another loader is ahead. It returns nil
// when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range r.targets {
		wg.Add(1)
		go func(t *Target) {
			defer wg.Done()
			r.runTarget(ctx, t)
		}(&r.targets[i])
	}
	wg.Wait()
	return nil
}

func (r *Runner) runTarget(ctx context.Context, t *Target) {
	backoff := r.o.MinBackoff
	var done uint64 // the newest generation loaded (or refused as stale) here
	first := true
	for {
		r.mu.Lock()
		want := r.want[t.Name]
		r.mu.Unlock()
		if first || want > done {
			gen := want
			if first {
				gen = 0 // the newest published
			}
			st, err := r.Load(ctx, t.Name, gen, 0)
			switch {
			case ctx.Err() != nil:
				return
			case errors.Is(err, ErrNoGeneration):
				first = false
				continue
			case err == nil || errors.Is(err, ErrStale) || errors.Is(err, ErrFenced):
				first = false
				done = max(done, st.Generation, want)
				backoff = r.o.MinBackoff
				if err != nil {
					r.o.Log.Warn("warehouse load refused", "target", t.Name, "err", err)
				}
				continue
			default:
				r.o.Log.Error("warehouse load failed; retrying with backoff (the generation stays published)",
					"target", t.Name, "generation", st.Generation, "retry_in", backoff, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				case <-r.kick[t.Name]: // a newer generation supersedes the wait
				}
				backoff = min(2*backoff, r.o.MaxBackoff)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick[t.Name]:
		}
	}
}

// LoadNow loads generation gen (0: the newest) into every target once
// each, retrying a target that is unavailable up to attempts times (0
// means 3) with backoff. It returns every target's state and the failures
// joined; a failure of one target does not stop the others.
func (r *Runner) LoadNow(ctx context.Context, gen, fence uint64, attempts int) ([]State, error) {
	if attempts <= 0 {
		attempts = 3
	}
	var errs []error
	for _, t := range r.targets {
		backoff := r.o.MinBackoff
		for a := 1; ; a++ {
			_, err := r.Load(ctx, t.Name, gen, fence)
			if err == nil || !errors.Is(err, ErrUnavailable) || a >= attempts || ctx.Err() != nil {
				if err != nil {
					errs = append(errs, err)
				}
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, r.o.MaxBackoff)
		}
	}
	return r.States(), errors.Join(errs...)
}

// Status is a target's state beside what it holds and what the lake has.
type Status struct {
	State
	// Current is the target's control row; nil when it holds none or is
	// unreachable (CurrentError says why).
	Current      *Loaded `json:"current,omitempty"`
	CurrentError string  `json:"current_error,omitempty"`
	// Lake is the newest published generation (0 with none).
	Lake uint64 `json:"lake_generation"`
	// Behind is true when the target does not hold the lake's newest.
	Behind bool `json:"behind"`
}

// Status asks each target what it holds (bounded by ctx) and returns it
// with the runner's state of each, or the state another process recorded
// in the lake when this runner has not loaded the target yet.
func (r *Runner) Status(ctx context.Context) []Status {
	var lakeGen uint64
	if gs, err := batch.Generations(ctx, r.store); err == nil && len(gs) > 0 {
		lakeGen = gs[len(gs)-1]
	}
	states := r.States()
	out := make([]Status, len(states))
	for i, st := range states {
		if st.Phase == PhaseIdle {
			if saved, ok, err := ReadState(ctx, r.store, st.Target); err == nil && ok {
				st = saved
			}
		}
		s := Status{State: st, Lake: lakeGen}
		cur, err := r.targets[i].Loader.Current(ctx)
		switch {
		case err == nil:
			s.Current = cur
			s.Loaded, s.LoadedOK = cur.Generation, true
		case errors.Is(err, ErrNotLoaded):
		default:
			s.CurrentError = err.Error()
		}
		s.Behind = lakeGen > 0 && (s.Current == nil || s.Current.Generation < lakeGen)
		out[i] = s
	}
	return out
}

// States returns every target's state, in configuration order.
func (r *Runner) States() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]State, 0, len(r.targets))
	for _, t := range r.targets {
		out = append(out, *r.states[t.Name])
	}
	return out
}

// Close closes every target's loader. A nil Runner does nothing.
func (r *Runner) Close() {
	if r == nil {
		return
	}
	for _, t := range r.targets {
		t.Loader.Close()
	}
}
