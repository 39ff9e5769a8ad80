package realtime

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// Bootstrap builds generation 0 of views from one consistent snapshot of
// their tables and publishes it at the snapshot's exact binlog position:
// the checkpoint from which streaming continues. Aggregates are folded in
// Go (memory grows with the number of groups, not rows); mirror rows
// stream into Redis as they are read. Until the publish, nothing of it is
// visible, so a crash mid-bootstrap leaves the view without state and the
// next session bootstraps it again.
func (p *Pipeline) Bootstrap(ctx context.Context, views []*formats.View) error {
	start := time.Now()
	tables := map[formats.TableID][]*formats.View{}
	var order []formats.TableID
	for _, v := range views {
		if _, ok := tables[v.From]; !ok {
			order = append(order, v.From)
		}
		tables[v.From] = append(tables[v.From], v)
		if err := p.store.Reset(ctx, v.Name); err != nil {
			return fmt.Errorf("bootstrapping view %s: clearing old state: %w", v.Name, err)
		}
	}
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.Name
	}
	p.log.Info("bootstrap started", "views", names, "tables", len(order))

	type viewBuild struct {
		view   *formats.View
		bound  map[*formats.TableSchema]*formats.BoundView
		delta  formats.Delta
		rows   chan redisview.MirrorBatchRow
		loaded chan error
		layout string
	}
	lctx, cancelLoads := context.WithCancel(ctx)
	defer cancelLoads()
	builds := map[formats.TableID][]*viewBuild{}
	var all []*viewBuild
	for _, t := range order {
		for _, v := range tables[t] {
			b := &viewBuild{view: v, bound: map[*formats.TableSchema]*formats.BoundView{}}
			if v.Mirror {
				b.rows = make(chan redisview.MirrorBatchRow, 1024)
				b.loaded = make(chan error, 1)
				go func() {
					b.loaded <- p.store.LoadMirrorBatch(lctx, v.Name, 0, chanSeq(b.rows))
				}()
			} else {
				b.delta = formats.Delta{}
			}
			builds[t] = append(builds[t], b)
			all = append(all, b)
		}
	}
	closeRows := func() {
		for _, b := range all {
			if b.rows != nil {
				close(b.rows)
				b.rows = nil
			}
		}
	}
	defer closeRows()

	emit := func(ctx context.Context, s *formats.TableSchema, r formats.Row) error {
		for _, b := range builds[s.Table] {
			bv, ok := b.bound[s]
			if !ok {
				var err error
				if bv, err = b.view.Bind(s); err != nil {
					return fmt.Errorf("view %s: %w", b.view.Name, err)
				}
				b.bound[s] = bv
				if b.view.Mirror {
					b.layout = redisview.MirrorFingerprint(bv)
				}
			}
			if !b.view.Mirror {
				if err := bv.AccumulateRow(r, 1, b.delta); err != nil {
					return fmt.Errorf("view %s: %w", b.view.Name, err)
				}
				continue
			}
			key, err := bv.MirrorKey(r)
			if err != nil {
				return fmt.Errorf("view %s: %w", b.view.Name, err)
			}
			select {
			case b.rows <- redisview.MirrorBatchRow{PK: string(key), Values: redisview.AppendMirrorRow(nil, bv, r)}:
			case err := <-b.loaded:
				return fmt.Errorf("loading mirror %s: %w", b.view.Name, err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	var lastTable formats.TableID
	var lastRows int64
	progress := func(pr capture.Progress) {
		if p.opts.Metrics != nil {
			if pr.Table != lastTable {
				lastTable, lastRows = pr.Table, 0
			}
			p.opts.Metrics.BootstrapRows(pr.Table, pr.Rows-lastRows)
			lastRows = pr.Rows
		}
		p.log.Info("bootstrap progress", "table", pr.Table.String(), "rows", pr.Rows, "estimate", pr.Estimate,
			"tables_done", pr.TablesDone, "tables", pr.Tables, "rows_per_second", int64(pr.RowsPerSecond), "done", pr.Done)
	}
	pos, err := p.cap.Snapshot(ctx, order, emit, progress)
	if err != nil {
		return fmt.Errorf("bootstrapping %v: %w", names, err)
	}
	closeRows()
	now := time.Now()
	// A bootstrap cut is a snapshot position, not a segment boundary: it
	// publishes segment 0, so every streamed transaction after it lands in
	// a later segment (see redisview's package documentation).
	const cutSeg = 0
	for _, b := range all {
		v := b.view
		if v.Mirror {
			if err := <-b.loaded; err != nil {
				return fmt.Errorf("bootstrapping mirror %s: %w", v.Name, err)
			}
			layout := b.layout
			if layout == "" { // an empty table: bind to its current schema for the layout
				bv, err := p.bindToCurrent(ctx, v)
				if err != nil {
					return fmt.Errorf("bootstrapping mirror %s: %w", v.Name, err)
				}
				layout = redisview.MirrorFingerprint(bv)
			}
			if err := p.store.PublishMirror(ctx, v.Name, layout, 0, pos, now); err != nil {
				return fmt.Errorf("publishing bootstrap of mirror %s: %w", v.Name, err)
			}
			continue
		}
		if v.AggLayout() == "" {
			// An empty table bound nothing: without its layout the state
			// would be stored for an unbound view, and the first streamed
			// row would find it mismatched and bootstrap the view again.
			if _, err := p.bindToCurrent(ctx, v); err != nil {
				return fmt.Errorf("bootstrapping view %s: %w", v.Name, err)
			}
		}
		if err := p.store.LoadBatch(ctx, v, 0, deltaSeq(b.delta)); err != nil {
			return fmt.Errorf("loading bootstrap of view %s: %w", v.Name, err)
		}
		if err := p.store.PublishAgg(ctx, v, 0, pos, cutSeg, now); err != nil {
			return fmt.Errorf("publishing bootstrap of view %s: %w", v.Name, err)
		}
	}
	p.log.Info("bootstrap published", "views", names, "position", pos.String(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func chanSeq(ch <-chan redisview.MirrorBatchRow) iter.Seq2[redisview.MirrorBatchRow, error] {
	return func(yield func(redisview.MirrorBatchRow, error) bool) {
		for r := range ch {
			if !yield(r, nil) {
				for range ch { // keep the producer unblocked
				}
				return
			}
		}
	}
}

func deltaSeq(d formats.Delta) iter.Seq2[formats.GroupKey, *formats.Agg] {
	return func(yield func(formats.GroupKey, *formats.Agg) bool) {
		for k, a := range d {
			if !yield(k, a) {
				return
			}
		}
	}
}

// bindToCurrent binds v to its table's current schema: the layout of a
// view whose table was empty in the snapshot (no row bound it).
func (p *Pipeline) bindToCurrent(ctx context.Context, v *formats.View) (*formats.BoundView, error) {
	sch, err := p.cap.Schemas(ctx, []formats.TableID{v.From})
	if err != nil {
		return nil, err
	}
	return v.Bind(sch[v.From])
}
