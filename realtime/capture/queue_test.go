package capture

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestEventQueue: every event comes out once and in order while a reader
// outpaces Stream past the limit (backpressure), a waiting Stream is woken
// by the first event, a deadline with nothing queued is errWaited, and the
// session's end comes after the events queued before it.
func TestEventQueue(t *testing.T) {
	ctx := context.Background()
	done := make(chan struct{})
	q := newEventQueue(4, done)
	const n = 10000
	evs := make([]*replication.BinlogEvent, n)
	for i := range evs {
		evs[i] = &replication.BinlogEvent{Header: &replication.EventHeader{LogPos: uint32(i)}}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	maxQueued := 0
	go func() {
		defer wg.Done()
		for i, e := range evs {
			if err := q.HandleEvent(e); err != nil {
				t.Errorf("event %d: %v", i, err)
				return
			}
			q.mu.Lock()
			maxQueued = max(maxQueued, len(q.buf))
			q.mu.Unlock()
			if i%1000 == 0 {
				time.Sleep(time.Millisecond) // let Stream wait and be woken
			}
		}
		q.fail(errors.New("connection closed"))
	}()
	for i := range n {
		e, err := q.get(ctx, time.Now().Add(10*time.Second))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if e != evs[i] {
			t.Fatalf("event %d: got the event %d", i, e.Header.LogPos)
		}
	}
	if _, err := q.get(ctx, time.Now().Add(10*time.Second)); err == nil || err.Error() != "connection closed" {
		t.Fatalf("after the events: %v, want the session's end", err)
	}
	wg.Wait()
	if maxQueued > 4 {
		t.Errorf("%d events queued, limit 4", maxQueued)
	}

	// Nothing queued: the deadline passes; a cancelled ctx ends the wait.
	q2 := newEventQueue(4, done)
	start := time.Now()
	if _, err := q2.get(ctx, time.Now().Add(20*time.Millisecond)); !errors.Is(err, errWaited) {
		t.Fatalf("empty queue: %v, want errWaited", err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("errWaited before the deadline")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q2.get(cctx, time.Time{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// A full queue's reader stops waiting when the session ends.
	q3 := newEventQueue(1, done)
	if err := q3.HandleEvent(evs[0]); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error)
	go func() { errc <- q3.HandleEvent(evs[1]) }()
	close(done)
	if err := <-errc; !errors.Is(err, errQueueClosed) {
		t.Fatalf("reader waiting for room at the session's end: %v", err)
	}
}
