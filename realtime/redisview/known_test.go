package redisview

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// TestKnownMatchesPlain applies the same random batches to two views of
// one definition, one without Known and one with, and holds their stored
// states equal after every step: also after what makes Known stale (a
// publish recomputing the running total, a batch applied without Known, a
// fenced batch whose sums never landed), with batches spanning segments,
// and with a Known bound small enough to overflow. It also checks that
// most fields were stored from the caller's sums, so the test exercises
// the shortcut and not only its fallback.
func TestKnownMatchesPlain(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		for _, bound := range []int{0, 8} {
			t.Run(fmt.Sprintf("bound=%d", bound), func(t *testing.T) {
				testKnownMatchesPlain(t, b, bound)
			})
		}
	})
}

func testKnownMatchesPlain(t *testing.T, b backend, bound int) {
	ctx := context.Background()
	s := b.store
	spec := revenueSpec
	spec.Name = fmt.Sprintf("plain%d", bound)
	vp, bv := benchView(t, spec)
	spec.Name = fmt.Sprintf("known%d", bound)
	vk, _ := benchView(t, spec)
	for _, v := range []*formats.View{vp, vk} {
		if err := s.PublishAgg(ctx, v, 0, pos(0), 0, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(7, uint64(bound)))
	known := NewKnown(0, bound)
	var at uint32 // the views' checkpoint offset
	var seg uint64
	gen := uint64(0)
	delta := func() formats.Delta {
		d := formats.Delta{}
		for range 1 + r.IntN(12) {
			sign := 1
			if r.IntN(3) == 0 {
				sign = -1
			}
			if err := bv.AccumulateRow(benchRow(r.Int64N(1000), 30), sign, d); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	batch := func() []SegDelta {
		var sds []SegDelta
		for range 1 + r.IntN(3) {
			if len(sds) > 0 || r.IntN(8) == 0 {
				seg++
			}
			sds = append(sds, SegDelta{Seg: seg, Delta: delta()})
		}
		return sds
	}
	apply := func(v *formats.View, from, to uint32, sds []SegDelta, k *Known) error {
		return s.ApplyAll(ctx, []AggApply{{View: v, From: pos(from), To: pos(to), ToSeg: seg, Deltas: sds, Known: k}}, nil)[0]
	}
	for step := range 300 {
		switch x := r.IntN(100); {
		case x < 5: // a publish: the running total is recomputed
			gen++
			for _, v := range []*formats.View{vp, vk} {
				if err := s.LoadBatch(ctx, v, gen, func(func(formats.GroupKey, *formats.Agg) bool) {}); err != nil {
					t.Fatal(err)
				}
				if err := s.PublishAgg(ctx, v, gen, pos(at), seg, time.Unix(0, 0)); err != nil {
					t.Fatal(err)
				}
			}
			seg++ // later transactions are in later segments
		case x < 10: // a batch applied without Known
			sds := batch()
			for _, v := range []*formats.View{vp, vk} {
				if err := apply(v, at, at+1, sds, nil); err != nil {
					t.Fatal(err)
				}
			}
			at++
		case x < 14: // a fenced batch: Known records sums that never land
			err := apply(vk, at+7, at+8, batch(), known)
			if !errors.Is(err, ErrFenced) {
				t.Fatalf("step %d: fenced batch: %v", step, err)
			}
		default:
			sds := batch()
			if err := apply(vp, at, at+1, sds, nil); err != nil {
				t.Fatal(err)
			}
			if err := apply(vk, at, at+1, sds, known); err != nil {
				t.Fatal(err)
			}
			at++
		}
		sameStates(t, b, vp, vk, step)
	}
	if bound == 0 && known.matched < 3*known.added {
		t.Errorf("the script stored %d of the caller's sums and added %d deltas itself: the shortcut is hardly used", known.matched, known.added)
	}
	t.Logf("stored the caller's sum %d times, added in Lua %d times", known.matched, known.added)
}

// sameStates fails unless views a and b hold equal running totals and
// segments (compared decoded: Go and Lua format float sums differently).
func sameStates(t *testing.T, b backend, va, vb *formats.View, step int) {
	t.Helper()
	ctx := context.Background()
	decoded := func(v *formats.View, key string) map[string]string {
		out := map[string]string{}
		for f, enc := range hgetall(t, b, key) {
			a, err := v.DecodeAgg([]byte(enc))
			if err != nil {
				t.Fatalf("step %d: %s field %q: %v", step, key, f, err)
			}
			out[f] = a.String()
		}
		return out
	}
	segs := func(v *formats.View) []string {
		ids, err := b.rdb.ZRange(ctx, "tm:{"+v.Name+"}:segs", 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	sa, sb := segs(va), segs(vb)
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Fatalf("step %d: segments %v and %v", step, sa, sb)
	}
	for _, name := range append([]string{"speed"}, prefixed("s:", sa)...) {
		ha := decoded(va, "tm:{"+va.Name+"}:"+name)
		hb := decoded(vb, "tm:{"+vb.Name+"}:"+name)
		if !mapsEqual(ha, hb) {
			t.Fatalf("step %d: %s differs:\nwithout Known %v\nwith Known    %v", step, name, ha, hb)
		}
	}
}

func prefixed(p string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			panic(id)
		}
		out[i] = p + id
	}
	return out
}

// TestApplyAllKeepsOutcomesApart sends batches of several views in one
// ApplyAll (one script call on a single Redis, a pipeline on a Cluster):
// each batch gets its own outcome, a refused one changes nothing of its
// view and does not stop the others, and the sums an aggregate's script
// computed itself reach that batch's Known.
func TestApplyAllKeepsOutcomesApart(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.store
		var views []*formats.View
		var bv *formats.BoundView
		for _, name := range []string{"ok", "fenced", "missing"} {
			spec := revenueSpec
			spec.Name = name
			v, bound := benchView(t, spec)
			views, bv = append(views, v), bound
			if name != "missing" {
				if err := s.PublishAgg(ctx, v, 0, pos(10), 0, time.Unix(0, 0)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.LoadMirrorBatch(ctx, "rows", 0, batchRows()); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishMirror(ctx, "rows", "", 0, pos(10), time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		d := formats.Delta{}
		for id := range int64(5) {
			if err := bv.AccumulateRow(benchRow(id, 3), 1, d); err != nil {
				t.Fatal(err)
			}
		}
		known := NewKnown(0, 0)
		sds := []SegDelta{{Seg: 1, Delta: d}}
		errs := s.ApplyAll(ctx, []AggApply{
			{View: views[0], From: pos(10), To: pos(20), ToSeg: 1, Deltas: sds, Known: known},
			{View: views[1], From: pos(15), To: pos(20), ToSeg: 1, Deltas: sds},
			{View: views[2], From: pos(10), To: pos(20), ToSeg: 1, Deltas: sds},
		}, []MirrorApply{{View: "rows", From: pos(10), To: pos(20)}})
		if errs[0] != nil || !errors.Is(errs[1], ErrFenced) || !errors.Is(errs[2], ErrStateMissing) || errs[3] != nil {
			t.Fatalf("outcomes %v, want nil, fenced, missing, nil", errs)
		}
		for i, want := range []formats.Position{pos(20), pos(10)} {
			m, err := s.Meta(ctx, views[i].Name)
			if err != nil || m.Checkpoint != want {
				t.Fatalf("view %s: checkpoint %v (%v), want %v", views[i].Name, m.Checkpoint, err, want)
			}
		}
		if m, err := s.Meta(ctx, "rows"); err != nil || m.Checkpoint != pos(20) {
			t.Fatalf("mirror: checkpoint %v (%v), want %v", m.Checkpoint, err, pos(20))
		}
		if got := hgetall(t, b, "tm:{fenced}:speed"); len(got) != 0 {
			t.Fatalf("the fenced batch wrote %v", got)
		}
		// The running total was empty and loaded, so every group was known
		// absent there; the segment was new: all sums were the caller's.
		if m, a := known.Counts(); m != 2*len(d) || a != 0 {
			t.Fatalf("Known counts: %d stored from the caller's sums, %d added by the script; want %d and 0", m, a, 2*len(d))
		}
		snap, err := s.ReadAgg(ctx, views[0])
		if err != nil {
			t.Fatal(err)
		}
		for g, a := range d {
			if snap.Groups[g].String() != a.String() {
				t.Fatalf("group %s: %s, want %s", g, snap.Groups[g], a)
			}
		}
	})
}
