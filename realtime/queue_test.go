package realtime

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// TestQueueBoundsAStalledArchive: while the archive takes nothing, the
// capture is held back by the bound, not by the archive channel's
// capacity in whole transactions; once the archive moves, both consumers
// get every transaction in order.
func TestQueueBoundsAStalledArchive(t *testing.T) {
	const (
		limit  = 200
		rows   = 10 // per transaction: weight 11
		txns   = 500
		weight = rows + 1
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := &queue{limit: limit, consumers: 2, room: make(chan struct{}, 1)}
	in := make(chan *formats.Txn)
	out := make(chan *formats.Txn)
	archIn := make(chan *formats.Txn, 1024)
	archOut := make(chan *formats.Txn)
	go func() { // the capture
		for {
			select {
			case t := <-in:
				if !q.put(ctx, t, out, archIn) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	go q.handOff(ctx, archIn, archOut)

	var sent atomic.Int64
	go func() {
		for i := range txns {
			txn := &formats.Txn{Pos: formats.Position{File: "b.000001", Offset: uint32(i + 1)}, Events: make([]formats.Event, rows)}
			select {
			case in <- txn:
				sent.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()
	var applied []*formats.Txn
	appliedDone := make(chan struct{})
	go func() { // the applier keeps up
		defer close(appliedDone)
		for len(applied) < txns {
			select {
			case txn := <-out:
				q.taken(txn)
				applied = append(applied, txn)
			case <-ctx.Done():
				return
			}
		}
	}()

	// Wait until the capture side stops moving: the archive has taken nothing.
	for last, still := int64(-1), 0; still < 10; time.Sleep(20 * time.Millisecond) {
		if n := sent.Load(); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	// The capture may hold one more transaction while it waits for room.
	if held := (sent.Load() - 1) * weight; held > limit {
		t.Fatalf("with the archive stalled, %d transactions (%d row changes) passed the queue; the bound is %d row changes", sent.Load(), held, limit)
	}
	if sent.Load() == txns {
		t.Fatalf("all %d transactions passed with the archive stalled", txns)
	}

	for i := range txns {
		select {
		case txn := <-archOut:
			if want := uint32(i + 1); txn.Pos.Offset != want {
				t.Fatalf("archive got offset %d at %d, want %d", txn.Pos.Offset, i, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("archive got %d of %d transactions", i, txns)
		}
	}
	<-appliedDone
	for i, txn := range applied {
		if want := uint32(i + 1); txn.Pos.Offset != want {
			t.Fatalf("applier got offset %d at %d, want %d", txn.Pos.Offset, i, want)
		}
	}
	// handOff counts the archive's last transaction off just after the
	// hand-over: allow it that moment.
	deadline := time.Now().Add(10 * time.Second)
	for q.queued.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := q.queued.Load(); n != 0 {
		t.Errorf("queue counts %d row changes after both consumers took everything", n)
	}
}
