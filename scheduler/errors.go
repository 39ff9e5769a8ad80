package scheduler

import (
	"errors"
	"fmt"
)

// Error kinds. Callers test them with errors.Is.
var (
	// ErrPermanent marks a job error that retrying cannot fix (bad config,
	// a verify mismatch, a refused schema): the run fails at once, without
	// its retries. Every other error is taken as transient and retried.
	ErrPermanent = errors.New("permanent failure")
	// ErrFenced: a newer holder of the job's lease exists (its fencing
	// token is higher), so this run's work must not land.
	ErrFenced = errors.New("fenced: a newer lease holder exists")
	// ErrLeaseLost: the run's lease expired or was taken over.
	ErrLeaseLost = errors.New("job lease lost")
	// ErrStopping: the process is shutting down; the run stopped at a
	// safe point, before publishing.
	ErrStopping = errors.New("scheduler stopping")
	// ErrTimeout: an attempt ran past the job's timeout.
	ErrTimeout = errors.New("job timeout")
	// ErrOverlapCancel: a later tick of a cancel_running job cancelled the
	// run.
	ErrOverlapCancel = errors.New("cancelled by a later tick (overlap: cancel_running)")
	// ErrUnknownJob: no job of that name is configured.
	ErrUnknownJob = errors.New("unknown job")
)

// Permanent marks err as not worth retrying (ErrPermanent); nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}
