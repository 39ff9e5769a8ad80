package serving

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/redisview"
	"github.com/tidemark/tidemark/scheduler"
)

// Fenced makes a scheduled rebuild's writes conditional on its job lease
// (scheduler.Fence): the lake store checks the fence before every write,
// and the publisher before every Redis load and flip, so a run that lost
// its lease (a "zombie" paused past its expiry) is refused with
// scheduler.ErrFenced or ErrLeaseLost where its work would land.
//
// The generation manifest is the commit point. Before it, a stop in
// progress (scheduler.ErrStopping) also refuses the write: the rebuild
// stops at that safe point and the next one clears what it left. Once the
// manifest is written, only the fence is checked, so a stopping process
// finishes flipping Redis to the generation the lake already has.
//
// In Redis the fence is also inside the store's own writes: the Redis
// publisher (a serving.Publisher) gets the run's token (scope
// LakeFenceScope), and every load step and flip of a view checks it in
// the same Lua script that writes, against the highest token that wrote
// that view. So a zombie whose check passed just before its lease was
// taken over cannot flip (or load into) a view the new holder has
// written: it is refused with scheduler.ErrFenced (wrapping
// redisview.ErrStaleToken) however long it froze between check and write.
//
// In the lake the check runs just before each write, not inside it: a
// write already past its check when the process froze still lands. The
// manifest is checked on its own, so such a write can only be a data file
// under the generation's folder, which the successful holder's rebuild
// clears (clearAttempt) or overwrites; readers that follow the manifest
// (the Redis views, the warehouse) never see it.
type Fenced struct {
	Fence     scheduler.Fence
	committed atomic.Bool
}

// NewFenced returns the fence of one rebuild attempt.
func NewFenced(f scheduler.Fence) *Fenced { return &Fenced{Fence: f} }

func (f *Fenced) check(ctx context.Context) error {
	if f.committed.Load() {
		return f.Fence.Verify(ctx)
	}
	return f.Fence.Check(ctx)
}

// Store wraps st.
func (f *Fenced) Store(st lake.Store) lake.Store { return fencedStore{Store: st, f: f} }

// LakeFenceScope names the lake lease's tokens in the view store's fence.
const LakeFenceScope = "lake"

// Publisher wraps p; a serving.Publisher also carries the token into the
// store's scripts.
func (f *Fenced) Publisher(p batch.Publisher) batch.Publisher {
	if sp, ok := p.(Publisher); ok && f.Fence.Token() > 0 {
		sp.Fence = &redisview.WriteFence{Scope: LakeFenceScope, Token: f.Fence.Token()}
		p = sp
	}
	return fencedPublisher{p: p, f: f}
}

// fenced marks the store's refusal of a stale token as the scheduler's
// ErrFenced, the kind the orchestrator decides on.
func fenced(err error) error {
	if errors.Is(err, redisview.ErrStaleToken) && !errors.Is(err, scheduler.ErrFenced) {
		return fmt.Errorf("%w: %w", scheduler.ErrFenced, err)
	}
	return err
}

type fencedStore struct {
	lake.Store
	f *Fenced
}

func (s fencedStore) Put(ctx context.Context, key string, r io.Reader) error {
	if err := s.f.check(ctx); err != nil {
		return err
	}
	if err := s.Store.Put(ctx, key, r); err != nil {
		return err
	}
	if strings.HasPrefix(key, "_generations/") {
		s.f.committed.Store(true)
	}
	return nil
}

func (s fencedStore) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := s.f.check(ctx); err != nil {
		return err
	}
	return s.Store.Delete(ctx, keys...)
}

type fencedPublisher struct {
	p batch.Publisher
	f *Fenced
}

func (p fencedPublisher) LoadBatch(ctx context.Context, view *formats.View, gen uint64, groups iter.Seq2[formats.GroupKey, *formats.Agg]) error {
	if err := p.f.check(ctx); err != nil {
		return err
	}
	return fenced(p.p.LoadBatch(ctx, view, gen, groups))
}

func (p fencedPublisher) PublishAgg(ctx context.Context, view *formats.View, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error {
	if err := p.f.check(ctx); err != nil {
		return err
	}
	return fenced(p.p.PublishAgg(ctx, view, gen, cut, cutSeg, cutTime))
}

func (p fencedPublisher) PublishMirrorRows(ctx context.Context, view *formats.BoundView, gen uint64, cut formats.Position, cutTime time.Time,
	rows iter.Seq2[formats.Row, error]) error {
	if err := p.f.check(ctx); err != nil {
		return err
	}
	return fenced(p.p.PublishMirrorRows(ctx, view, gen, cut, cutTime, rows))
}
