package changelog

import (
	"context"
	"errors"
	"testing"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// TestRebase: a gap recorded after the last sealed segment moves the
// checkpoint to its end, chains like a segment, is found by GapAfter,
// refuses a replay across it (ErrIncomplete) and allows one that starts
// after it; the archive then continues after the gap.
func TestRebase(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	a := newArchiver(t, store)
	n := boundary(20)
	if err := a.Run(ctx, feed(0, n+1, 0)); err != nil {
		t.Fatal(err)
	}
	ckpt, seg, err := a.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(store, "shop")
	if gap, err := r.GapAfter(ctx, 0); err != nil || gap != nil {
		t.Fatalf("GapAfter before any gap: %v, %v", gap, err)
	}

	// The purged stretch: txns n+1 .. n+29 are never archived.
	to := testTxn(n + 29).Pos
	if err := a.Rebase(ctx, ckpt, "no-op"); err != nil {
		t.Fatal(err)
	}
	if err := a.Rebase(ctx, to, "binlog purged"); err != nil {
		t.Fatal(err)
	}
	got, gapSeg, err := a.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Compare(to) != 0 || gapSeg != seg+1 {
		t.Fatalf("checkpoint after the gap: %s segment %d, want %s segment %d", got, gapSeg, to, seg+1)
	}
	gap, err := r.GapAfter(ctx, 0)
	if err != nil || gap == nil || gap.Segment != gapSeg || gap.Gap.Until != to.String() || gap.Gap.After != ckpt.String() {
		t.Fatalf("GapAfter: %+v, %v", gap, err)
	}
	if gap, err := r.GapAfter(ctx, gapSeg); err != nil || gap != nil {
		t.Fatalf("GapAfter past the gap: %v, %v", gap, err)
	}

	// The archive continues after the gap: txns after `to` land in later
	// segments that chain to it.
	end := boundary(n + 50)
	if err := a.Run(ctx, feed(n+30, end+1, 0)); err != nil {
		t.Fatal(err)
	}
	last, err := r.Last(ctx)
	if err != nil || last.Segment <= gapSeg {
		t.Fatalf("nothing sealed after the gap: %v, %v", last, err)
	}
	ms, err := r.Manifests(ctx, 0, last.Segment)
	if err != nil {
		t.Fatalf("the manifests across the gap do not chain: %v", err)
	}
	if err := CheckNoGap("shop", ms, ckpt); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("a base before the gap: %v, want ErrIncomplete", err)
	}
	if err := CheckNoGap("shop", ms, to); err != nil {
		t.Fatalf("a base at the gap's end: %v", err)
	}
	for _, err := range r.ReadSegments(ctx, 0, last.Segment) {
		if err != nil {
			if !errors.Is(err, ErrIncomplete) {
				t.Fatalf("reading across the gap: %v, want ErrIncomplete", err)
			}
			break
		}
	}
	var after []formats.Position
	for txn, err := range r.ReadSegments(ctx, AfterGaps(ms, 0), last.Segment) {
		if err != nil {
			t.Fatal(err)
		}
		after = append(after, txn.Pos)
	}
	if len(after) == 0 || after[0].Compare(testTxn(n+30).Pos) != 0 {
		t.Fatalf("the replay after the gap starts at %v, want %s", after[:min(1, len(after))], testTxn(n+30).Pos)
	}
}
