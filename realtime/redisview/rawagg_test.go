package redisview

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

func pos(off uint32) formats.Position {
	return formats.Position{File: "bin.000001", Offset: off}
}

// fold adds states into a Go-side model of a hash, deleting all-zero sums.
func fold(t testing.TB, layout string, into map[string]string, fields ...string) {
	t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		f, st := fields[i], fields[i+1]
		cur, ok := into[f]
		if !ok {
			cur = zeroState(layout)
		}
		sum, zero, err := addStates(layout, cur, st)
		if err != nil {
			t.Fatal(err)
		}
		if zero {
			delete(into, f)
		} else {
			into[f] = sum
		}
	}
}

func zeroState(layout string) string {
	b := make([]byte, 0, 2*len(layout))
	for i := range layout {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, '0')
	}
	return string(b)
}

func positives(m map[string]string) map[string]string {
	out := map[string]string{}
	for f, st := range m {
		if positiveCount(st) {
			out[f] = st
		}
	}
	return out
}

func hgetall(t testing.TB, b backend, key string) map[string]string {
	t.Helper()
	m, err := b.rdb.HGetAll(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func bootstrapEncoded(t testing.TB, b backend, view, layout string, cut formats.Position, cutSeg uint64, groups map[string]string) {
	t.Helper()
	ctx := context.Background()
	if err := b.store.loadEncoded(ctx, view, 0, maps.All(groups), viewKeys.batch); err != nil {
		t.Fatal(err)
	}
	if err := b.store.publishAggEncoded(ctx, view, layout, 0, cut, cutSeg, time.Unix(1000, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestAggEncoded(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		const layout = "iiiif" // count, nn, sum (exact), nn, sum (float)
		s := b.store

		t.Run("missing", func(t *testing.T) {
			errs := s.applyEncoded(ctx, []encodedApply{{view: "nothing", layout: layout, from: pos(1), to: pos(2)}})
			if !errors.Is(errs[0], ErrStateMissing) {
				t.Fatalf("apply on missing state: %v, want ErrStateMissing", errs[0])
			}
			if _, err := s.readAggEncoded(ctx, "nothing"); !errors.Is(err, ErrStateMissing) {
				t.Fatalf("read on missing state: %v, want ErrStateMissing", err)
			}
			if _, err := s.Meta(ctx, "nothing"); !errors.Is(err, ErrStateMissing) {
				t.Fatalf("meta on missing state: %v, want ErrStateMissing", err)
			}
		})

		t.Run("idempotent and fenced", func(t *testing.T) {
			v := "idem"
			bootstrapEncoded(t, b, v, layout, pos(100), 10, map[string]string{"a": "2 2 300 2 1.5"})
			batch := encodedApply{view: v, layout: layout, from: pos(100), to: pos(200), toSeg: 11, segs: []encodedSeg{
				{seg: 11, fields: []string{"a", "1 1 99999999999999999999 1 0.25", "b", "1 1 -5 0 0"}},
			}}
			for i := range 2 { // the second run is the replay after a crash
				if err := s.applyEncoded(ctx, []encodedApply{batch})[0]; err != nil {
					t.Fatalf("apply #%d: %v", i, err)
				}
			}
			snap, err := s.readAggEncoded(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"a": "3 3 100000000000000000299 3 1.75", "b": "1 1 -5 0 0"}
			if !maps.Equal(snap.groups, want) {
				t.Fatalf("groups %v, want %v", snap.groups, want)
			}
			if snap.meta.Checkpoint != pos(200) || snap.meta.Segment != 11 || snap.meta.Generation != 0 || snap.meta.Cut != pos(100) {
				t.Fatalf("meta %+v", snap.meta)
			}
			// A writer that believes the checkpoint is elsewhere is fenced.
			stale := encodedApply{view: v, layout: layout, from: pos(150), to: pos(300), toSeg: 11}
			err = s.applyEncoded(ctx, []encodedApply{stale})[0]
			var fe *FenceError
			if !errors.Is(err, ErrFenced) || !errors.As(err, &fe) || fe.Have != pos(200) {
				t.Fatalf("stale writer: %v, want FenceError with checkpoint %s", err, pos(200))
			}
			// A batch whose layout differs is refused before any write.
			err = s.applyEncoded(ctx, []encodedApply{{view: v, layout: "ii", from: pos(200), to: pos(300)}})[0]
			if !errors.Is(err, ErrLayoutMismatch) {
				t.Fatalf("other layout: %v, want ErrLayoutMismatch", err)
			}
			// A malformed state is refused before any write.
			for _, st := range []string{"1 1 1.5 1 1", "1 1 1 1", "1 1 1 1 1 1", "1 1  1 1", "1 1 1 1 x", "1 1 1 1 ", " 1 1 1 1", "1 1 +1 1 1", "1 1 1 1 1e"} {
				bad := encodedApply{view: v, layout: layout, from: pos(200), to: pos(300), toSeg: 12, segs: []encodedSeg{
					{seg: 12, fields: []string{"a", "1 1 1 1 1", "c", st}},
				}}
				if err := s.applyEncoded(ctx, []encodedApply{bad})[0]; err == nil {
					t.Fatalf("malformed state %q accepted", st)
				}
			}
			dup := encodedApply{view: v, layout: layout, from: pos(200), to: pos(300), toSeg: 12, segs: []encodedSeg{
				{seg: 12, fields: []string{"a", "1 1 1 1 1", "a", "1 1 1 1 1"}},
			}}
			if err := s.applyEncoded(ctx, []encodedApply{dup})[0]; err == nil {
				t.Fatal("a group twice in one segment accepted")
			}
			if got := hgetall(t, b, "tm:{idem}:speed"); got["a"] != "1 1 99999999999999999999 1 0.25" {
				t.Fatalf("speed after refused batch: %v", got)
			}
		})

		t.Run("zero fields deleted", func(t *testing.T) {
			v := "zero"
			bootstrapEncoded(t, b, v, layout, pos(100), 10, nil)
			errs := s.applyEncoded(ctx, []encodedApply{
				{view: v, layout: layout, from: pos(100), to: pos(110), toSeg: 11, segs: []encodedSeg{{seg: 11, fields: []string{"a", "1 1 7 1 2"}}}},
			})
			errs = append(errs, s.applyEncoded(ctx, []encodedApply{
				{view: v, layout: layout, from: pos(110), to: pos(120), toSeg: 11, segs: []encodedSeg{{seg: 11, fields: []string{"a", "-1 -1 -7 -1 -2", "z", "0 0 0 0 0"}}}},
			})...)
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if n, _ := b.rdb.Exists(ctx, "tm:{zero}:speed", "tm:{zero}:s:11").Result(); n != 0 {
				t.Fatalf("all-zero fields were kept: %d keys", n)
			}
		})

		t.Run("random batches, publish", func(t *testing.T) {
			v := "rand"
			r := rand.New(rand.NewPCG(7, 8))
			randState := func() string {
				c := r.IntN(5) - 2
				return strconv.Itoa(c) + " " + strconv.Itoa(c) + " " + randBig(r, 30).String() + " " + strconv.Itoa(r.IntN(3)) + " " + strconv.FormatFloat(float64(r.IntN(100))/4, 'g', -1, 64)
			}
			batch0 := map[string]string{"g0": "5 5 100 5 1.25", "g1": "1 1 -3 1 0.5"}
			bootstrapEncoded(t, b, v, layout, pos(1000), 100, batch0)
			segModel := map[uint64]map[string]string{}
			ckpt, seg := pos(1000), uint64(100)
			var all []encodedApply
			for i := range 40 {
				to := pos(1000 + uint32(10*(i+1)))
				a := encodedApply{view: v, layout: layout, from: ckpt, to: to}
				for range 1 + r.IntN(2) {
					seg += uint64(r.IntN(2))
					var fields []string
					seen := map[string]bool{} // a segment's delta names each group once
					for range 1 + r.IntN(6) {
						g := "g" + strconv.Itoa(r.IntN(8))
						if !seen[g] {
							seen[g] = true
							fields = append(fields, g, randState())
						}
					}
					a.segs = append(a.segs, encodedSeg{seg: seg, fields: fields})
					if segModel[seg] == nil {
						segModel[seg] = map[string]string{}
					}
					fold(t, layout, segModel[seg], fields...)
				}
				if seg == 100 {
					t.Fatal("test bug: segment at the cut")
				}
				a.toSeg = seg
				all = append(all, a)
				ckpt = to
			}
			// Pipelined in groups of 5 consecutive batches per call would be
			// fenced (each needs the previous checkpoint), so apply one by one.
			for _, a := range all {
				if err := s.applyEncoded(ctx, []encodedApply{a})[0]; err != nil {
					t.Fatal(err)
				}
			}
			speedModel := map[string]string{}
			for _, m := range segModel {
				for f, st := range m {
					fold(t, layout, speedModel, f, st)
				}
			}
			checkSpeed := func(model map[string]string) {
				t.Helper()
				got := hgetall(t, b, "tm:{rand}:speed")
				if len(got) != len(model) {
					t.Fatalf("speed has %d groups, model %d\n got %v\nwant %v", len(got), len(model), got, model)
				}
				for f, st := range model {
					if !sameState(t, layout, got[f], st) {
						t.Fatalf("speed[%s] = %q, model %q", f, got[f], st)
					}
				}
			}
			checkSpeed(speedModel)
			for sg, m := range segModel {
				got := hgetall(t, b, "tm:{rand}:s:"+strconv.FormatUint(sg, 10))
				if len(got) != len(m) {
					t.Fatalf("segment %d: %v, model %v", sg, got, m)
				}
			}
			checkRead := func(batch map[string]string, speed map[string]string) {
				t.Helper()
				merged := maps.Clone(batch)
				for f, st := range speed {
					fold(t, layout, merged, f, st)
				}
				snap, err := s.readAggEncoded(ctx, v)
				if err != nil {
					t.Fatal(err)
				}
				want := positives(merged)
				if len(snap.groups) != len(want) {
					t.Fatalf("read %v, want %v", snap.groups, want)
				}
				for f, st := range want {
					if !sameState(t, layout, snap.groups[f], st) {
						t.Fatalf("read[%s] = %q, want %q", f, snap.groups[f], st)
					}
				}
			}
			checkRead(batch0, speedModel)

			// Publish generation 1 at the end of a middle segment: the
			// segments it covers go, the total is recomputed from the rest.
			cutSeg := uint64(100 + (seg-100)/2)
			var cut formats.Position
			for _, a := range all {
				if a.toSeg <= cutSeg {
					cut = a.to
				}
			}
			batch1 := map[string]string{"g0": "1 1 1 1 1", "g9": "2 2 2 2 2"}
			if err := s.loadEncoded(ctx, v, 1, maps.All(batch1), viewKeys.batch); err != nil {
				t.Fatal(err)
			}
			// Invisible until published.
			checkRead(batch0, speedModel)
			if err := s.publishAggEncoded(ctx, v, layout, 1, cut, cutSeg, time.Unix(2000, 0)); err != nil {
				t.Fatal(err)
			}
			speedModel = map[string]string{}
			for sg, m := range segModel {
				if sg > cutSeg {
					for f, st := range m {
						fold(t, layout, speedModel, f, st)
					}
				} else if n, _ := b.rdb.Exists(ctx, "tm:{rand}:s:"+strconv.FormatUint(sg, 10)).Result(); n != 0 {
					t.Fatalf("segment %d covered by the cut survived", sg)
				}
			}
			checkSpeed(speedModel)
			checkRead(batch1, speedModel)
			meta, err := s.Meta(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Generation != 1 || meta.Cut != cut || meta.CutSegment != cutSeg || meta.Checkpoint != ckpt || !meta.CutTime.Equal(time.Unix(2000, 0)) {
				t.Fatalf("meta after publish %+v", meta)
			}
			// Publishing again is a no-op; an older generation is refused.
			if err := s.publishAggEncoded(ctx, v, layout, 1, cut, cutSeg, time.Unix(2000, 0)); err != nil {
				t.Fatalf("republish: %v", err)
			}
			if err := s.publishAggEncoded(ctx, v, layout, 0, pos(1), 1, time.Unix(2000, 0)); !errors.Is(err, ErrStaleGeneration) {
				t.Fatalf("older generation: %v, want ErrStaleGeneration", err)
			}

			// The speed layer goes on after the publish.
			late := encodedApply{view: v, layout: layout, from: ckpt, to: pos(5000), toSeg: seg + 1, segs: []encodedSeg{
				{seg: seg + 1, fields: []string{"g0", "1 1 1 1 1"}},
			}}
			if err := s.applyEncoded(ctx, []encodedApply{late})[0]; err != nil {
				t.Fatal(err)
			}
			fold(t, layout, speedModel, "g0", "1 1 1 1 1")
			checkSpeed(speedModel)

			// Generation 2: generation 0 is deleted, 1 is kept.
			if err := s.loadEncoded(ctx, v, 2, maps.All(map[string]string{"g1": "1 1 1 1 1"}), viewKeys.batch); err != nil {
				t.Fatal(err)
			}
			if err := s.publishAggEncoded(ctx, v, layout, 2, pos(5000), seg+1, time.Unix(3000, 0)); err != nil {
				t.Fatal(err)
			}
			n, _ := b.rdb.Exists(ctx, "tm:{rand}:b:0").Result()
			m, _ := b.rdb.Exists(ctx, "tm:{rand}:b:1", "tm:{rand}:b:2").Result()
			if n != 0 || m != 2 {
				t.Fatalf("retention: b:0 exists=%d, b:1+b:2 exist=%d", n, m)
			}
			checkRead(map[string]string{"g1": "1 1 1 1 1"}, nil)
			if err := s.Reset(ctx, v); err != nil {
				t.Fatal(err)
			}
			keys, _ := b.rdb.Keys(ctx, "tm:{rand}:*").Result()
			if b.name == "redis" && len(keys) != 0 {
				t.Fatalf("after reset: %v", keys)
			}
		})

		t.Run("publish moves a lagging checkpoint", func(t *testing.T) {
			v := "lag"
			bootstrapEncoded(t, b, v, layout, pos(100), 10, nil)
			if err := s.loadEncoded(ctx, v, 1, maps.All(map[string]string{"a": "1 1 1 1 1"}), viewKeys.batch); err != nil {
				t.Fatal(err)
			}
			if err := s.publishAggEncoded(ctx, v, layout, 1, pos(500), 20, time.Unix(5, 0)); err != nil {
				t.Fatal(err)
			}
			meta, err := s.Meta(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Checkpoint != pos(500) || meta.Segment != 20 {
				t.Fatalf("meta %+v: want checkpoint moved to the cut", meta)
			}
			err = s.applyEncoded(ctx, []encodedApply{{view: v, layout: layout, from: pos(100), to: pos(200)}})[0]
			if err != nil {
				t.Fatalf("batch behind the cut: %v, want no-op", err)
			}
			err = s.applyEncoded(ctx, []encodedApply{{view: v, layout: layout, from: pos(100), to: pos(600)}})[0]
			var fe *FenceError
			if !errors.As(err, &fe) || fe.Have != pos(500) {
				t.Fatalf("batch straddling the cut: %v, want FenceError at %s", err, pos(500))
			}
		})

		t.Run("restart empty", func(t *testing.T) {
			v := "restart"
			bootstrapEncoded(t, b, v, layout, pos(100), 10, map[string]string{"a": "1 1 1 1 1"})
			b.restartEmpty(t)
			err := s.applyEncoded(ctx, []encodedApply{{view: v, layout: layout, from: pos(100), to: pos(200)}})[0]
			if !errors.Is(err, ErrStateMissing) {
				t.Fatalf("after restart: %v, want ErrStateMissing", err)
			}
		})
	})
}
