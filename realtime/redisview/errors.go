package redisview

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is matched (errors.Is) by the errors of Store methods that
// failed because Redis could not be reached or could not serve the command
// at that moment: a refused, reset or timed-out connection, a pool timeout,
// a server still loading its dataset (LOADING), a Cluster being resharded
// or without a quorum (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, MASTERDOWN), a
// replica that cannot take writes (READONLY, during a failover). Such a
// failure is worth retrying with backoff; every other error is not a
// Redis outage and retrying would not cure it.
//
// The kind is decided here, where the error leaves go-redis, from its
// types and predicates: callers never look at message text.
var ErrUnavailable = errors.New("redis unavailable")

// unavailableError marks err as ErrUnavailable, keeping it in the chain.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{e.err, ErrUnavailable} }

// classify returns err marked ErrUnavailable when it is a Redis outage (see
// ErrUnavailable), else err unchanged. Every error the Store gets from
// go-redis passes here before it is wrapped with context.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, redis.Nil) {
		return err
	}
	if isOutage(err) {
		return &unavailableError{err: err}
	}
	return err
}

func isOutage(err error) bool {
	// A closed client is our own shutdown, not an outage.
	if errors.Is(err, redis.ErrClosed) {
		return false
	}
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true // dial, read and write errors, timeouts included
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	if _, ok := redis.IsMovedError(rerr); ok {
		return true
	}
	if _, ok := redis.IsAskError(rerr); ok {
		return true
	}
	return redis.IsLoadingError(rerr) || redis.IsTryAgainError(rerr) || redis.IsClusterDownError(rerr) ||
		redis.IsMasterDownError(rerr) || redis.IsReadOnlyError(rerr) || redis.IsMaxClientsError(rerr)
}
