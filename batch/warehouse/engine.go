package warehouse

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/formats"
)

// ViewLoader is a Loader that can also compute views over the tables it
// prepared (the PostgreSQL and Redshift loaders).
type ViewLoader interface {
	Loader
	// ComputeViewState returns the aggregate states of b in generation g
	// over its source table's per-generation table; formats.ErrNotPushable
	// when the dialect cannot compute b exactly.
	ComputeViewState(ctx context.Context, b *formats.BoundView, g uint64) (formats.Delta, error)
	// DropGeneration drops generation g's per-generation tables (g not
	// swapped in); ErrStale when the target holds g or newer.
	DropGeneration(ctx context.Context, g uint64) error
}

// Engine is a batch.ViewEngine over one warehouse target (batch.engine:
// postgres | redshift): it prepares a generation's tables into the
// target's per-generation tables (no swap: readers see no change) and
// computes the views there. The target's own load of the generation, once
// it is published, then reuses those tables.
type Engine struct {
	target string
	kind   string
	l      ViewLoader
	sel    Selection
}

var _ batch.ViewEngine = (*Engine)(nil)

// NewEngine returns the view engine of target (of kind postgres or
// redshift) loading through l. sel is the target's selection: Prepare
// loads every table and the histories sel selects.
func NewEngine(target, kind string, l ViewLoader, sel Selection) *Engine {
	return &Engine{target: target, kind: kind, l: l, sel: sel}
}

// Name names the engine: "postgres target NAME".
func (e *Engine) Name() string { return e.kind + " target " + e.target }

// Prepare drops what an earlier attempt at the generation left and loads
// the generation's tables.
func (e *Engine) Prepare(ctx context.Context, gen *batch.Generation) error {
	m := *gen
	m.Views = nil // not computed yet; the target's load brings them
	g, err := FromBatch(&m)
	if err != nil {
		return err
	}
	// Every table (any may be a view's source), the histories the target
	// selects; tables it does not select are dropped by its DropOld.
	sel := Selection{History: e.sel.History, Views: []string{}}
	if err := e.l.DropGeneration(ctx, g.Number); err != nil {
		return err
	}
	if _, err := e.l.Prepare(ctx, g.Select(sel)); err != nil {
		return err
	}
	return nil
}

// ComputeView computes b's states in generation gen.
func (e *Engine) ComputeView(ctx context.Context, b *formats.BoundView, gen uint64) (formats.Delta, error) {
	d, err := e.l.ComputeViewState(ctx, b, gen)
	if err != nil {
		return nil, fmt.Errorf("view %s: %w", b.View().Name, err)
	}
	return d, nil
}
