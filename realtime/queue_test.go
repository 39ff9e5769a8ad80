package realtime

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/redisview"
)

func txnAt(off uint32, rows int) *formats.Txn {
	return &formats.Txn{Pos: formats.Position{File: "b.000001", Offset: off}, Events: make([]formats.Event, rows)}
}

// TestArchiveTapNeverHoldsTheStream: while the archive takes nothing, the
// speed side's offers never wait; the tap buffers at most its bound, then
// detaches the archive, which gets what was buffered, in order, and then
// nothing more until it is level with the live stream again.
func TestArchiveTapNeverHoldsTheStream(t *testing.T) {
	const (
		limit = 200
		rows  = 10 // weight 11
	)
	tap := newArchiveTap(limit, nil)
	tap.sessionStarted(formats.Position{File: "b.000001", Offset: 4})
	if !tap.attach(formats.Position{File: "b.000001", Offset: 4}) {
		t.Fatal("an archive level with the session's start did not attach")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 500 {
			tap.offer(txnAt(uint32(i+5), rows))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("offers blocked with the archive stalled")
	}
	if tap.weight > limit {
		t.Fatalf("the tap buffers %d row changes; the bound is %d", tap.weight, limit)
	}
	ctx := context.Background()
	var got []uint32
	for {
		txn, ok := tap.take(ctx)
		if !ok {
			break
		}
		got = append(got, txn.Pos.Offset)
	}
	if len(got) == 0 || len(got) > limit/(rows+1)+1 {
		t.Fatalf("the detached archive got %d buffered transactions", len(got))
	}
	for i, off := range got {
		if off != uint32(i+5) {
			t.Fatalf("buffered transaction %d at offset %d, want %d", i, off, i+5)
		}
	}
	if tap.weight != 0 {
		t.Errorf("tap counts %d row changes after the archive took everything", tap.weight)
	}
	// Not level: the live stream is at offset 504.
	if tap.attach(formats.Position{File: "b.000001", Offset: 300}) {
		t.Fatal("an archive 200 transactions behind re-attached")
	}
	tap.offer(txnAt(505, rows))
	if _, ok := tap.take(ctx); ok {
		t.Fatal("a detached archive was given a transaction past a gap")
	}
	// Level (a heartbeat tick at the same commit counts): it attaches and
	// gets what the stream offers next.
	if !tap.attach(formats.Position{File: "b.000001", Offset: 505, Row: 0}) {
		t.Fatal("a level archive did not re-attach")
	}
	tap.offer(txnAt(506, 0))
	if txn, ok := tap.take(ctx); !ok || txn.Pos.Offset != 506 {
		t.Fatalf("after re-attaching the archive got %v, %v; want offset 506", txn, ok)
	}
	// A speed session that ends detaches the archive: it must not wait for
	// the next one.
	tap.sessionEnded()
	if _, ok := tap.take(ctx); ok {
		t.Fatal("take returned a transaction after the session ended")
	}
	if tap.attach(formats.Position{File: "b.000001", Offset: 999}) {
		t.Fatal("attached with no speed session streaming")
	}
	// A new session that resumes after the tap's head (the views were
	// ahead) leaves a gap: the archive stays detached until level.
	tap.sessionStarted(formats.Position{File: "b.000001", Offset: 900})
	if tap.attach(formats.Position{File: "b.000001", Offset: 600}) {
		t.Fatal("attached behind a session that starts later")
	}
	if !tap.attach(formats.Position{File: "b.000001", Offset: 900}) {
		t.Fatal("did not attach at the new session's start")
	}
}

// TestOutageKinds: only errors the Redis boundary marked (or broken
// connections to the source) are retried; the product's own errors whose
// text merely contains words like "loading", "mask" or "task" are not.
func TestOutageKinds(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{errText("loading generation 3: task failed"), ""},
		{errText("mask"), ""},
		{errText("EOF while parsing the view spec; ask the operator"), ""},
		{errText("MOVED 3999 127.0.0.1:6381"), ""}, // a string, not a Redis reply
		{context.Canceled, ""},
	} {
		if got := outage(c.err); got != c.want {
			t.Errorf("outage(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}

type errText string

func (e errText) Error() string { return string(e) }

// TestOutageOfRealRedis: errors go-redis returns for an unreachable Redis
// pass through the store marked, and are retried as a Redis outage, also
// when wrapped again.
func TestOutageOfRealRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	_, err = redisview.New(rdb, redisview.Options{}).Meta(context.Background(), "v")
	if err == nil {
		t.Fatal("Meta on a closed port succeeded")
	}
	if got := outage(fmt.Errorf("reading checkpoint of view v: %w", err)); got != "redis" {
		t.Errorf("outage(%v) = %q, want redis", err, got)
	}
}
