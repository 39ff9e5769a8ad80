package warehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
	LoadDone(target string, gen uint64, rows int64, d time.Duration, err error)
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
// It is the scheduler's load job. A generation already loaded is a no-op;
// ErrStale and ErrFenced come back as such.
func (r *Runner) Load(ctx context.Context, target string, gen, fence uint64) (State, error) {
	return State{}, errors.New("not implemented yet")
}

// Published tells the runner that generation gen was published: Run loads
// it into every target, superseding any older one still pending.
func (r *Runner) Published(gen uint64) {}

// Run loads each published generation into each target until ctx ends,
// retrying failed loads with backoff. It returns nil when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
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
