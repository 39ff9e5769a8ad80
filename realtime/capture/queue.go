package capture

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// eventQueue hands go-mysql's decoded events from its reader goroutine to
// Stream's in batches. The reader appends each event under a mutex (it is
// the syncer's SynchronousEventHandler); Stream takes everything queued at
// once and reads it without further synchronisation. go-mysql's own
// hand-off, a channel send and a select per event on each side with the
// two goroutines contending for the channel's lock, cost a fifth of the
// capture's CPU on a backlog of small transactions (about ten events per
// four row changes). A caught-up stream still gets each event at once: the
// reader wakes a waiting Stream on the first event it queues.
//
// The queue holds at most limit events beside the batch Stream is reading;
// a full queue makes the reader wait for room, which is the backpressure
// on the replication connection. The session's end (a connection or
// decoding error, reported by the syncer's streamer) is queued after the
// events received before it.
type eventQueue struct {
	limit int
	done  <-chan struct{} // the session is over: the reader stops waiting

	mu      sync.Mutex
	buf     []*replication.BinlogEvent
	err     error
	waiting bool // Stream waits for ready
	full    bool // the reader waits for room
	ready   chan struct{}
	room    chan struct{}

	// Stream's side only.
	out   []*replication.BinlogEvent
	next  int
	timer *time.Timer
}

// errQueueClosed ends the reader's wait for room when the session is over.
var errQueueClosed = errors.New("capture: the session reading the events has ended")

func newEventQueue(limit int, done <-chan struct{}) *eventQueue {
	return &eventQueue{limit: max(limit, 1), done: done,
		ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// HandleEvent queues e, waiting for room while the queue is full. It runs
// on go-mysql's reader goroutine.
func (q *eventQueue) HandleEvent(e *replication.BinlogEvent) error {
	for {
		q.mu.Lock()
		if len(q.buf) < q.limit {
			q.buf = append(q.buf, e)
			q.wakeLocked()
			q.mu.Unlock()
			return nil
		}
		q.full = true
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-q.done:
			return errQueueClosed
		}
	}
}

// fail queues the session's end after the events already queued; the
// first error stays.
func (q *eventQueue) fail(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.wakeLocked()
	q.mu.Unlock()
}

func (q *eventQueue) wakeLocked() {
	if q.waiting {
		q.waiting = false
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
}

// get returns the next event; errWaited once deadline has passed with
// none (a zero deadline waits until ctx is done), ctx's error once it is
// done, or the session's end once every event before it was returned.
func (q *eventQueue) get(ctx context.Context, deadline time.Time) (*replication.BinlogEvent, error) {
	for {
		if q.next < len(q.out) {
			e := q.out[q.next]
			q.out[q.next] = nil
			q.next++
			return e, nil
		}
		q.mu.Lock()
		if len(q.buf) > 0 {
			q.out, q.buf, q.next = q.buf, q.out[:0], 0
			room := q.full
			q.full = false
			q.mu.Unlock()
			if room {
				select {
				case q.room <- struct{}{}:
				default:
				}
			}
			continue
		}
		if err := q.err; err != nil {
			q.mu.Unlock()
			return nil, err
		}
		q.waiting = true
		q.mu.Unlock()
		if err := q.wait(ctx, deadline); err != nil {
			return nil, err
		}
	}
}

// wait blocks until the reader signals, ctx is done or deadline passes. A
// signal may be stale (left by an earlier wait that ended otherwise): get
// looks again either way.
func (q *eventQueue) wait(ctx context.Context, deadline time.Time) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if deadline.IsZero() {
		select {
		case <-q.ready:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d := time.Until(deadline)
	if d <= 0 {
		return errWaited
	}
	if q.timer == nil {
		q.timer = time.NewTimer(d)
	} else {
		q.timer.Reset(d)
	}
	defer q.timer.Stop()
	select {
	case <-q.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-q.timer.C:
		return errWaited
	}
}

// poll returns an event already received, waiting at most a moment.
func (q *eventQueue) poll(ctx context.Context) (*replication.BinlogEvent, error) {
	return q.get(ctx, time.Now().Add(50*time.Millisecond))
}
