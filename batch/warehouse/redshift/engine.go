package redshift

import (
	"context"
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
)

// ComputeViewState computes the aggregate states of view b in generation
// g over its source table as Prepare loaded it: the SQL of
// formats.BoundView.WarehouseStateSQL, read by ParseWarehouseState (the
// states batch.Rebuild writes and publishes; ComputeView answers result
// rows). formats.ErrNotPushable says the view must be computed locally.
func (l *Loader) ComputeViewState(ctx context.Context, b *formats.BoundView, g uint64) (formats.Delta, error) {
	src := warehouse.StableName(warehouse.KindTable, b.View().From.String())
	q, err := b.WarehouseStateSQL(formats.DialectRedshift, qualified(l.gen, warehouse.GenTable(src, g)))
	if err != nil {
		return nil, err
	}
	rows, err := l.exec.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("computing view %s of generation %d: %w", b.View().Name, g, classify(err))
	}
	out := make(formats.Delta, len(rows))
	for _, r := range rows {
		raw := make([]*string, len(r))
		for i, v := range r {
			if v != nil {
				s := asString(v)
				raw[i] = &s
			}
		}
		k, a, err := b.ParseWarehouseState(formats.DialectRedshift, raw)
		if err != nil {
			return nil, err
		}
		out[k] = a
	}
	return out, nil
}

// DropGeneration drops every per-generation table of generation g, which
// no Swap took (an earlier attempt at building g), before g is prepared
// anew. It refuses (ErrStale) when the target holds g or a newer one.
func (l *Loader) DropGeneration(ctx context.Context, g uint64) (err error) {
	defer l.recheckOnError(&err)
	if err := l.ensureSchema(ctx); err != nil {
		return err
	}
	cur, err := l.Current(ctx)
	switch {
	case errors.Is(err, warehouse.ErrNotLoaded):
	case err != nil:
		return err
	case cur.Generation >= g:
		return fmt.Errorf("generation %d: the target holds generation %d: %w", g, cur.Generation, warehouse.ErrStale)
	}
	names, err := l.tables(ctx, l.gen)
	if err != nil {
		return err
	}
	for _, name := range names {
		if n, ok := warehouse.ParseGenTable(name); !ok || n != g {
			continue
		}
		if _, err := l.exec.Exec(ctx, DropTableSQL(l.gen, name)); err != nil {
			return fmt.Errorf("dropping %s.%s of generation %d: %w", l.gen, name, g, classify(err))
		}
	}
	return nil
}
