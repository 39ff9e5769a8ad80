package redisview

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// ErrStaleToken: a fenced batch write (FencedStore) carried a fencing token
// older than one that already wrote the view's batch state: the writer lost
// its lease to a newer holder, which has written this view since. The write
// is refused inside the store's own script, atomically with the check.
var ErrStaleToken = errors.New("stale fencing token")

// WriteFence is the fencing token of a lease (the orchestrator's lake
// lease) carried into the batch writes of a view. Tokens of one Scope are
// compared; Token 0 means unfenced.
type WriteFence struct {
	Scope string
	Token uint64
}

// FencedStore writes batch generations into the Store with a fencing token
// checked inside every write's own script: the view's meta remembers the
// highest token of the scope that loaded or published it (field
// "fence:<scope>"), a write with an older token is refused with
// ErrStaleToken, a newer one raises it. The load's start (emptying and
// registering the generation's hash), each loaded chunk and the publish
// flip are each one script step, so a writer that passed its lease check
// just before its lease was taken over (a zombie) can no longer land once
// the new holder has written the view, whatever the delay between its
// check and its write. Unfenced writes (Store's own methods) are not
// checked and do not move the fence.
type FencedStore struct {
	s *Store
	f WriteFence
}

// Fenced returns s writing with fence f.
func (s *Store) Fenced(f WriteFence) *FencedStore { return &FencedStore{s: s, f: f} }

func (f *FencedStore) fence() *WriteFence {
	if f.f.Token == 0 {
		return nil
	}
	return &f.f
}

// LoadBatch is Store.LoadBatch, fenced.
func (f *FencedStore) LoadBatch(ctx context.Context, view *formats.View, gen uint64, groups iter.Seq2[formats.GroupKey, *formats.Agg]) error {
	fields := func(yield func(string, string) bool) {
		var buf []byte
		for k, a := range groups {
			if a == nil || a.Count <= 0 {
				continue
			}
			buf = a.AppendEncode(buf[:0])
			if !yield(string(k), string(buf)) {
				return
			}
		}
	}
	return f.s.loadEncodedFenced(ctx, f.fence(), view.Name, gen, fields, viewKeys.batch)
}

// PublishAgg is Store.PublishAgg, fenced.
func (f *FencedStore) PublishAgg(ctx context.Context, view *formats.View, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error {
	return f.s.publishAggFenced(ctx, f.fence(), view.Name, Fingerprint(view), gen, cut, cutSeg, cutTime)
}

// LoadMirrorBatch is Store.LoadMirrorBatch, fenced.
func (f *FencedStore) LoadMirrorBatch(ctx context.Context, view string, gen uint64, rows iter.Seq2[MirrorBatchRow, error]) error {
	return f.s.loadMirrorBatch(ctx, f.fence(), view, gen, rows)
}

// PublishMirror is Store.PublishMirror, fenced.
func (f *FencedStore) PublishMirror(ctx context.Context, view, layout string, gen uint64, cut formats.Position, cutTime time.Time) error {
	return f.s.publishMirror(ctx, f.fence(), view, layout, gen, cut, cutTime)
}

// fenceArgs are the scripts' optional trailing ARGV of fence f.
func fenceArgs(f *WriteFence) []any {
	if f == nil {
		return nil
	}
	return []any{f.Scope, strconv.FormatUint(f.Token, 10)}
}

// loadStartFenced empties and registers generation gen's hash dst, the
// fence checked in the same step.
func (s *Store) loadStartFenced(ctx context.Context, f *WriteFence, k viewKeys, dst string, gen uint64) error {
	err := s.scripts.loadStart.Run(ctx, s.rdb, []string{k.meta(), dst, k.gens()}, f.Scope, strconv.FormatUint(f.Token, 10),
		strconv.FormatUint(gen, 10)).Err()
	if err != nil {
		return scriptError(k.view, formats.Position{}, err)
	}
	return nil
}

// tokenError is the ErrStaleToken error of a TMTOKEN reply.
func tokenError(view, rest string) error {
	return fmt.Errorf("view %s: %w: %s", view, ErrStaleToken, rest)
}
