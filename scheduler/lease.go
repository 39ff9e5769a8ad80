package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Fence is a run's hold on its job's lease, handed to the job so the work
// can be checked where it lands. Token is the fencing token minted with
// the lease: strictly greater for every new holder of the job's lease, so
// a store that remembers the highest token it saw (the warehouse control
// row) refuses a stale one.
type Fence interface {
	Token() uint64
	// Check returns nil while this run still holds the job's lease and no
	// newer token exists; else ErrLeaseLost or ErrFenced. It returns
	// ErrStopping once the process is stopping: callers check at their
	// safe points (before each write that publishes) and stop there.
	Check(ctx context.Context) error
	// Verify is Check without the stop: for work past its commit point,
	// which finishes rather than leaving a half-published result.
	Verify(ctx context.Context) error
}

// lease is a held job lease.
type lease struct {
	c        *Control
	k        keys
	job      string
	holder   string
	token    uint64
	ttl      time.Duration
	stopping *atomic.Bool
}

var _ Fence = (*lease)(nil)

// acquire takes job's lease for holder, minting a fencing token in the
// same step; ok is false while someone holds it.
func (c *Control) acquire(ctx context.Context, job, holder string, ttl time.Duration, stopping *atomic.Bool) (*lease, bool, error) {
	k := jobKeys(c.prefix, job)
	tok, err := acquireScript.Run(ctx, c.rdb, []string{k.lease, k.fence, k.cancel}, holder, ttl.Milliseconds()).Int64()
	if err != nil {
		return nil, false, fmt.Errorf("acquiring the lease of job %s: %w", job, err)
	}
	if tok == 0 {
		return nil, false, nil
	}
	return &lease{c: c, k: k, job: job, holder: holder, token: uint64(tok), ttl: ttl, stopping: stopping}, true, nil
}

func (l *lease) Token() uint64 { return l.token }

func (l *lease) Check(ctx context.Context) error {
	if l.stopping != nil && l.stopping.Load() {
		return fmt.Errorf("job %s at a safe point: %w", l.job, ErrStopping)
	}
	return CheckFence(ctx, l.c, l.job, l.holder, l.token)
}

func (l *lease) Verify(ctx context.Context) error {
	return CheckFence(ctx, l.c, l.job, l.holder, l.token)
}

// CheckFence checks that holder still holds job's lease with token.
func CheckFence(ctx context.Context, c *Control, job, holder string, token uint64) error {
	k := jobKeys(c.prefix, job)
	v, err := checkScript.Run(ctx, c.rdb, []string{k.lease, k.fence}, holder, token).Int64()
	if err != nil {
		return fmt.Errorf("checking the lease of job %s: %w", job, err)
	}
	switch v {
	case 1:
		return nil
	case -1:
		return fmt.Errorf("job %s, token %d: %w", job, token, ErrFenced)
	default:
		return fmt.Errorf("job %s, token %d: %w", job, token, ErrLeaseLost)
	}
}

// renew extends the lease: ok false when it is no longer ours; cancel
// true when a later tick asks the run to stop.
func (l *lease) renew(ctx context.Context) (ok, cancel bool, err error) {
	v, err := renewScript.Run(ctx, l.c.rdb, []string{l.k.lease, l.k.cancel}, l.holder, l.ttl.Milliseconds()).Int64()
	if err != nil {
		return true, false, fmt.Errorf("renewing the lease of job %s: %w", l.job, err)
	}
	return v != 0, v == 2, nil
}

func (l *lease) release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.c.rdb, []string{l.k.lease, l.k.cancel}, l.holder).Err(); err != nil {
		return fmt.Errorf("releasing the lease of job %s: %w", l.job, err)
	}
	return nil
}

// requestCancel asks the lease's current holder to stop (cancel_running);
// it sees the request at its next renewal.
func (c *Control) requestCancel(ctx context.Context, job string, ttl time.Duration) error {
	return c.rdb.Set(ctx, jobKeys(c.prefix, job).cancel, "1", ttl).Err()
}

// lost reports whether err says the run lost its lease.
func lost(err error) bool { return errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrFenced) }
