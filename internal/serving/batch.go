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
type Publisher struct{ *redisview.Store }

var _ batch.Publisher = Publisher{}

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
	if err := p.LoadMirrorBatch(ctx, name, gen, batchRows); err != nil {
		return err
	}
	return p.PublishMirror(ctx, name, redisview.MirrorFingerprint(bv), gen, cut, cutTime)
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
