package serving

import (
	"context"
	"iter"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// BatchSource adapts a capture to what the batch layer extracts from
// (batch.Source and batch.SchemaSource).
type BatchSource struct{ C *capture.Capture }

var _ batch.SchemaSource = BatchSource{}

// Snapshot implements batch.Source.
func (s BatchSource) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error) {
	return s.C.Snapshot(ctx, tables, emit, nil)
}

// Schemas implements batch.SchemaSource.
func (s BatchSource) Schemas(ctx context.Context, tables []formats.TableID) (map[formats.TableID]*formats.TableSchema, error) {
	return s.C.Schemas(ctx, tables)
}

// Publisher publishes batch generations into the Redis view store
// (batch.Publisher): aggregate results as they are, mirror rows keyed and
// projected the way the speed layer writes them.
//
// With Fence set (Fenced.Publisher sets it from the run's lease), every
// load and flip carries the fencing token into the store's own scripts
// (redisview.FencedStore), which refuse it atomically once a newer token
// wrote the view.
type Publisher struct {
	*redisview.Store
	Fence *redisview.WriteFence
}

var _ batch.Publisher = Publisher{}

// writer is the store the loads and flips go through.
func (p Publisher) writer() *redisview.FencedStore {
	if p.Fence == nil {
		return p.Store.Fenced(redisview.WriteFence{})
	}
	return p.Store.Fenced(*p.Fence)
}

// LoadBatch implements batch.Publisher.
func (p Publisher) LoadBatch(ctx context.Context, view *formats.View, gen uint64, groups iter.Seq2[formats.GroupKey, *formats.Agg]) error {
	return p.writer().LoadBatch(ctx, view, gen, groups)
}

// PublishAgg implements batch.Publisher.
func (p Publisher) PublishAgg(ctx context.Context, view *formats.View, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error {
	return p.writer().PublishAgg(ctx, view, gen, cut, cutSeg, cutTime)
}

// PublishMirrorRows implements batch.Publisher.
func (p Publisher) PublishMirrorRows(ctx context.Context, bv *formats.BoundView, gen uint64, cut formats.Position,
	cutTime time.Time, rows iter.Seq2[formats.Row, error]) error {
	name := bv.View().Name
	batchRows := func(yield func(redisview.MirrorBatchRow, error) bool) {
		for r, err := range rows {
			if err != nil {
				yield(redisview.MirrorBatchRow{}, err)
				return
			}
			k, err := bv.MirrorKey(r)
			if !yield(redisview.MirrorBatchRow{PK: string(k), Values: redisview.AppendMirrorRow(nil, bv, r)}, err) || err != nil {
				return
			}
		}
	}
	w := p.writer()
	if err := w.LoadMirrorBatch(ctx, name, gen, batchRows); err != nil {
		return err
	}
	return w.PublishMirror(ctx, name, redisview.MirrorFingerprint(bv), gen, cut, cutTime)
}

var _ batch.ColumnDefaultSource = BatchSource{}

// ColumnDefaults implements batch.ColumnDefaultSource.
func (s BatchSource) ColumnDefaults(ctx context.Context, table formats.TableID) (*batch.TableDefaults, error) {
	td, err := s.C.ColumnDefaults(ctx, table)
	if err != nil {
		return nil, err
	}
	out := &batch.TableDefaults{Columns: map[string]batch.ColumnDefault{}, DefinedAt: td.DefinedAt}
	for name, cd := range td.Columns {
		out.Columns[name] = batch.ColumnDefault{Default: cd.Default, Generated: cd.Generated}
	}
	return out, nil
}
