package redisview

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"
)

// TestFencedWritesRefuseAnOlderToken: a writer with token 1 (a zombie whose
// lease check passed before its lease was taken over) is refused inside the
// store's scripts once the holder with token 2 has written the view: its
// load start, its chunks and its flip, for aggregates and mirrors, on a
// single Redis and on a Cluster (the fence lives in the view's slot).
func TestFencedWritesRefuseAnOlderToken(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.store
		zombie := s.Fenced(WriteFence{Scope: "lake", Token: 1})
		holder := s.Fenced(WriteFence{Scope: "lake", Token: 2})

		t.Run("aggregate", func(t *testing.T) {
			const v, layout = "fenced", "iiiif"
			bootstrapEncoded(t, b, v, layout, pos(100), 10, map[string]string{"a": "1 1 1 1 1"})
			// The zombie starts loading generation 1 (its check passed).
			if err := s.loadEncodedFenced(ctx, zombie.fence(), v, 1, maps.All(map[string]string{"z": "9 9 9 9 9"}), viewKeys.batch); err != nil {
				t.Fatal(err)
			}
			// The new holder loads generation 1 too: the fence moves to 2.
			if err := s.loadEncodedFenced(ctx, holder.fence(), v, 1, maps.All(map[string]string{"h": "2 2 2 2 2"}), viewKeys.batch); err != nil {
				t.Fatal(err)
			}
			// The zombie's late chunk, its reload and its flip are refused.
			err := s.loadEncodedFenced(ctx, zombie.fence(), v, 1, maps.All(map[string]string{"z": "9 9 9 9 9"}), viewKeys.batch)
			if !errors.Is(err, ErrStaleToken) {
				t.Fatalf("zombie load after the holder's: %v, want ErrStaleToken", err)
			}
			k, _ := s.keys(v)
			err = s.scripts.loadChunk.Run(ctx, b.rdb, []string{k.meta(), k.batch(1)}, "lake", "1", "z", "9 9 9 9 9").Err()
			if !errors.Is(scriptError(v, pos(0), err), ErrStaleToken) {
				t.Fatalf("zombie chunk: %v, want TMTOKEN", err)
			}
			err = s.publishAggFenced(ctx, zombie.fence(), v, layout, 1, pos(200), 20, time.Unix(2000, 0))
			if !errors.Is(err, ErrStaleToken) {
				t.Fatalf("zombie flip: %v, want ErrStaleToken", err)
			}
			if m, err := s.Meta(ctx, v); err != nil || m.Generation != 0 {
				t.Fatalf("the zombie's flip landed: %+v %v", m, err)
			}
			if got := hgetall(t, b, k.batch(1)); !maps.Equal(got, map[string]string{"h": "2 2 2 2 2"}) {
				t.Fatalf("generation 1's hash %v: the zombie wrote into the holder's load", got)
			}
			// The holder publishes.
			if err := s.publishAggFenced(ctx, holder.fence(), v, layout, 1, pos(200), 20, time.Unix(2000, 0)); err != nil {
				t.Fatal(err)
			}
			snap, err := s.readAggEncoded(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			if snap.meta.Generation != 1 || !maps.Equal(snap.groups, map[string]string{"h": "2 2 2 2 2"}) {
				t.Fatalf("published %+v %v", snap.meta, snap.groups)
			}
			// Unfenced writes are not checked (the speed layer's bootstrap).
			if err := s.loadEncoded(ctx, v, 2, maps.All(map[string]string{"u": "1 1 1 1 1"}), viewKeys.batch); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("mirror", func(t *testing.T) {
			const v, layout = "fenced_mirror", "id:bigint,name:varchar"
			if err := s.LoadMirrorBatch(ctx, v, 0, batchRows(MirrorBatchRow{PK: "1", Values: []byte("a")})); err != nil {
				t.Fatal(err)
			}
			if err := s.PublishMirror(ctx, v, layout, 0, pos(100), time.Unix(100, 0)); err != nil {
				t.Fatal(err)
			}
			if err := holder.LoadMirrorBatch(ctx, v, 1, batchRows(MirrorBatchRow{PK: "1", Values: []byte("h")})); err != nil {
				t.Fatal(err)
			}
			if err := zombie.LoadMirrorBatch(ctx, v, 1, batchRows(MirrorBatchRow{PK: "1", Values: []byte("z")})); !errors.Is(err, ErrStaleToken) {
				t.Fatalf("zombie mirror load: %v, want ErrStaleToken", err)
			}
			if err := zombie.PublishMirror(ctx, v, layout, 1, pos(200), time.Unix(200, 0)); !errors.Is(err, ErrStaleToken) {
				t.Fatalf("zombie mirror flip: %v, want ErrStaleToken", err)
			}
			if err := holder.PublishMirror(ctx, v, layout, 1, pos(200), time.Unix(200, 0)); err != nil {
				t.Fatal(err)
			}
			r, err := s.ReadMirror(ctx, v, "1")
			if err != nil || !r.Found || string(r.Row.Values) != "h" {
				t.Fatalf("mirror row %+v %v, want the holder's", r, err)
			}
		})
	})
}
