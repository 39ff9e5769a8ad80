package changelog

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// TestTickSealsIdleSegment: on an idle stream, a tick of a later segment
// seals the open one at once (no transaction needed), ticks are not
// archived, and a transaction whose commit time is older than the tick
// (a long statement, stamped at its start) goes to a later segment, also
// after a restart that no longer sees the tick: a sealed segment is never
// written again, and the chain has no gap.
func TestTickSealsIdleSegment(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	a := newArchiver(t, store)
	txn := func(off uint32, at time.Time) *formats.Txn {
		ev := formats.Event{Table: testSchema.Table, Schema: testSchema, Op: formats.OpInsert, After: testRow(int(off) % 97)}
		ev.Pos = formats.Position{File: "bin.000001", Offset: off, Row: 1}
		return &formats.Txn{Pos: formats.Position{File: "bin.000001", Offset: off}, CommitTime: at, Events: []formats.Event{ev}}
	}
	tick := func(off, n uint32, at time.Time) *formats.Txn {
		return &formats.Txn{Pos: formats.Position{File: "bin.000001", Offset: off, Row: n}, CommitTime: at}
	}
	seg := func(at time.Time) uint64 { return uint64(at.Unix() / segSeconds) }
	t0 := base
	in := make(chan *formats.Txn)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, in) }()
	in <- txn(1000, t0)
	in <- tick(1000, 1, t0)                             // same segment: nothing happens
	in <- tick(1000, 2, t0.Add(segSeconds*time.Second)) // the segment's time has passed
	r := NewReader(store, "shop")
	deadline := time.Now().Add(10 * time.Second)
	var last *Manifest
	for {
		var err error
		if last, err = r.Last(ctx); err != nil {
			t.Fatal(err)
		}
		if last != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if last == nil || last.Segment != seg(t0) || last.Last != txn(1000, t0).Pos.String() || last.Txns != 1 {
		t.Fatalf("after a later segment's tick: last sealed %+v, want segment %d ending at offset 1000 with 1 txn", last, seg(t0))
	}
	if last.NextSegment != seg(t0)+1 {
		t.Errorf("sealed segment's next_segment %d, want %d", last.NextSegment, seg(t0)+1)
	}
	// More ticks while idle seal nothing (no empty segments).
	in <- tick(1000, 3, t0.Add(2*segSeconds*time.Second))
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m, _ := r.Last(ctx); m.Segment != last.Segment {
		t.Fatalf("ticks of an idle stream sealed segment %d", m.Segment)
	}

	// Restart: the ticks are gone; a late transaction (stamped in the
	// sealed segment's time) must not reopen it.
	in = make(chan *formats.Txn)
	go func() { done <- a.Run(ctx, in) }()
	in <- txn(2000, t0)
	in <- txn(3000, t0.Add(10*segSeconds*time.Second)) // seals the late one's segment
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ms, err := r.Manifests(ctx, 0, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[1].Segment != seg(t0)+1 || ms[1].First != txn(2000, t0).Pos.String() {
		t.Fatalf("manifests %+v: want the late transaction alone in segment %d", ms, seg(t0)+1)
	}
	var offs []uint32
	for txn, err := range r.ReadSegments(ctx, 0, ^uint64(0)) {
		if err != nil {
			t.Fatal(err)
		}
		if txn.IsTick() {
			t.Fatalf("a tick was archived at %s", txn.Pos)
		}
		offs = append(offs, txn.Pos.Offset)
	}
	if len(offs) != 2 || offs[0] != 1000 || offs[1] != 2000 {
		t.Fatalf("archive holds offsets %v, want [1000 2000]", offs)
	}
}

// TestTicksGiveAnEmptyArchiveABoundary: an archive started on a quiet
// source gets its first sealed segment from ticks alone, ending at or
// after its start, so a rebuild has a boundary to cut at.
func TestTicksGiveAnEmptyArchiveABoundary(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	start := formats.Position{File: "bin.000001", Offset: 500}
	a, err := NewArchiver(store, Options{Source: "shop", SegmentSeconds: segSeconds, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan *formats.Txn)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, in) }()
	for i := range 3 {
		in <- &formats.Txn{Pos: formats.Position{File: "bin.000001", Offset: 500, Row: uint32(i + 1)}, CommitTime: base.Add(time.Duration(i) * segSeconds * time.Second)}
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m, err := NewReader(store, "shop").Last(ctx)
	if err != nil || m == nil {
		t.Fatalf("no segment sealed by ticks on an empty archive (%v)", err)
	}
	lp, _ := m.LastPosition()
	if lp.Less(start) || m.PrevLast != start.String() {
		t.Fatalf("first segment %+v: want it to chain from %s and end at or after it", m, start)
	}
	segs, _ := NewReader(store, "shop").Manifests(ctx, 0, ^uint64(0))
	if len(segs) != 1 {
		t.Errorf("%d segments sealed by ticks, want only the first one", len(segs))
	}
}
