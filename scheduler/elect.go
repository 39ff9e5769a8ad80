package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// ElectorOptions configure an Elector.
type ElectorOptions struct {
	Redis  redis.UniversalClient
	Prefix string // "" means "tm"
	// Name is what the lease elects for, e.g. "capture:shop".
	Name string
	// Holder names this process; "" means hostname:pid.
	Holder string
	// TTL is the lease's expiry (renewed every third of it); 0 means 5s.
	TTL   time.Duration
	Clock Clock
	Log   *slog.Logger
	// OnRole, when set, is called with true when this process becomes the
	// holder and false when it stands by (also once at the start).
	OnRole func(active bool)
}

// Elector runs a function in exactly one of the processes sharing a Redis:
// the holder of a lease (the same lease as a job's: SET NX PX with a
// fencing token, renewed by compare-value, released by compare-and-delete).
// The others stand by and take over within the TTL (plus a third of it)
// when the holder dies. A holder on the same host whose process is gone
// (kill -9, then a restart) is replaced at once instead of after its TTL.
type Elector struct {
	o      ElectorOptions
	c      *Control
	active atomic.Bool
	token  atomic.Uint64
	held   atomic.Pointer[lease]
}

// NewElector returns an Elector.
func NewElector(o ElectorOptions) *Elector {
	if o.Prefix == "" {
		o.Prefix = "tm"
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Holder == "" {
		h, _ := os.Hostname()
		o.Holder = h + ":" + strconv.Itoa(os.Getpid())
	}
	return &Elector{o: o, c: NewControl(o.Redis, o.Prefix, []string{o.Name}, o.Clock, 1)}
}

// Active reports whether this process holds the lease now.
func (e *Elector) Active() bool { return e.active.Load() }

// Token is the fencing token of the current (or last) holding.
func (e *Elector) Token() uint64 { return e.token.Load() }

func (e *Elector) setRole(active bool) {
	e.active.Store(active)
	if e.o.OnRole != nil {
		e.o.OnRole(active)
	}
}

// Run stands by until it holds the lease, then runs fn with a context
// that ends when the lease is lost (cause ErrLeaseLost) or ctx ends. When
// fn returns after losing the lease, Run stands by again; when it returns
// an error otherwise, Run releases the lease and returns that error. Run
// returns nil once ctx ends.
func (e *Elector) Run(ctx context.Context, fn func(ctx context.Context) error) error {
	return e.run(ctx, fn, false)
}

// RunOnce is Run for a one-shot holder (`tidemark batch` beside the
// scheduler): it waits for the lease, runs fn once holding it, releases
// it and returns fn's error. Fence is the holding's fence while fn runs.
func (e *Elector) RunOnce(ctx context.Context, fn func(ctx context.Context) error) error {
	return e.run(ctx, fn, true)
}

// Fence is the fence of the current holding (nil while standing by).
func (e *Elector) Fence() Fence {
	if l := e.held.Load(); l != nil {
		return l
	}
	return nil
}

func (e *Elector) run(ctx context.Context, fn func(ctx context.Context) error, once bool) error {
	e.setRole(false)
	stopping := &atomic.Bool{}
	told := false
	for ctx.Err() == nil {
		l, ok, err := e.c.acquire(ctx, e.o.Name, e.o.Holder, e.o.TTL, stopping)
		if err == nil && !ok {
			l, ok, err = e.steal(ctx)
		}
		if err != nil && ctx.Err() == nil {
			e.o.Log.Warn("acquiring the lease failed; retrying", "lease", e.o.Name, "error", err)
		}
		if !ok {
			if !told && err == nil {
				told = true
				holder, _ := e.o.Redis.Get(ctx, jobKeys(e.o.Prefix, e.o.Name).lease).Result()
				e.o.Log.Info("the lease is held by another process: standing by", "lease", e.o.Name, "holder", holder)
			}
			ch, stop := e.o.Clock.After(min(e.o.TTL/3, time.Second))
			select {
			case <-ctx.Done():
				stop()
			case <-ch:
			}
			continue
		}
		e.token.Store(l.token)
		e.held.Store(l)
		e.o.Log.Info("lease acquired: this process is active", "lease", e.o.Name, "token", l.token)
		e.setRole(true)
		err = e.hold(ctx, l, fn)
		e.setRole(false)
		e.held.Store(nil)
		if rerr := l.release(context.WithoutCancel(ctx)); rerr != nil {
			e.o.Log.Warn("releasing the lease failed; it expires by itself", "lease", e.o.Name, "error", rerr)
		}
		switch {
		case once:
			return err
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrLeaseLost):
			e.o.Log.Warn("lease lost: standing by", "lease", e.o.Name, "error", err)
		case err != nil:
			return err
		}
	}
	return nil
}

func (e *Elector) hold(ctx context.Context, l *lease, fn func(ctx context.Context) error) error {
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		last := e.o.Clock.Now()
		for {
			ch, stop := e.o.Clock.After(l.ttl / 3)
			select {
			case <-lctx.Done():
				stop()
				return
			case <-ch:
			}
			ok, _, err := l.renew(lctx)
			switch {
			case err != nil && lctx.Err() != nil:
				return
			case err != nil:
				if e.o.Clock.Now().Sub(last) >= l.ttl {
					cancel(fmt.Errorf("%s: renewing failed for a whole lease ttl: %w (%w)", e.o.Name, ErrLeaseLost, err))
					return
				}
			case !ok:
				cancel(fmt.Errorf("%s: the lease expired or was taken over: %w", e.o.Name, ErrLeaseLost))
				return
			default:
				last = e.o.Clock.Now()
			}
		}
	}()
	err := fn(lctx)
	if c := context.Cause(lctx); errors.Is(c, ErrLeaseLost) {
		err = c
	}
	cancel(nil)
	<-renewed
	return err
}

// Taking a lease from a holder known dead: only if it still holds it.
var stealScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return redis.call('INCR', KEYS[2])
end
return 0`)

// steal takes the lease from a holder on this host whose process no longer
// exists: a restart after kill -9 need not wait for the TTL.
func (e *Elector) steal(ctx context.Context) (*lease, bool, error) {
	k := jobKeys(e.o.Prefix, e.o.Name)
	cur, err := e.o.Redis.Get(ctx, k.lease).Result()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !deadOnThisHost(cur, e.o.Holder) {
		return nil, false, nil
	}
	tok, err := stealScript.Run(ctx, e.o.Redis, []string{k.lease, k.fence}, cur, e.o.Holder, e.o.TTL.Milliseconds()).Int64()
	if err != nil || tok == 0 {
		return nil, false, err
	}
	e.o.Log.Info("took the lease from a process of this host that is gone", "lease", e.o.Name, "previous", cur)
	return &lease{c: e.c, k: k, job: e.o.Name, holder: e.o.Holder, token: uint64(tok), ttl: e.o.TTL}, true, nil
}

// deadOnThisHost reports whether holder (host:pid) names a process of
// this host (me is our own host:pid) that does not exist.
func deadOnThisHost(holder, me string) bool {
	host, pidText, ok := strings.Cut(holder, ":")
	myHost, _, _ := strings.Cut(me, ":")
	if !ok || host != myHost || holder == me {
		return false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// RoleMetrics is the tidemark_capture_role gauge: 1 while this process
// captures the source, 0 while it stands by.
type RoleMetrics struct{ g *prometheus.GaugeVec }

// NewRoleMetrics registers the gauge with reg.
func NewRoleMetrics(reg prometheus.Registerer) *RoleMetrics {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tidemark_capture_role",
		Help: "1 while this process is the active capture of the source (holds its lease), 0 while it stands by.",
	}, []string{"source"})
	reg.MustRegister(g)
	return &RoleMetrics{g: g}
}

// Set records source's role.
func (m *RoleMetrics) Set(source string, active bool) {
	if m == nil {
		return
	}
	v := 0.0
	if active {
		v = 1
	}
	m.g.WithLabelValues(source).Set(v)
}
