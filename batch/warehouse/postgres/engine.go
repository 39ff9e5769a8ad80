package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
)

// ComputeViewState computes the aggregate states of view b in generation
// g over its source table as Prepare loaded it (the per-generation table,
// so the answer is g's whether or not g is swapped in): the SQL of
// formats.BoundView.WarehouseStateSQL, read by ParseWarehouseState. b must
// be bound to the source table's schema in g. formats.ErrNotPushable says
// the view must be computed locally.
func (l *Loader) ComputeViewState(ctx context.Context, b *formats.BoundView, g uint64) (formats.Delta, error) {
	src := warehouse.StableName(warehouse.KindTable, b.View().From.String())
	q, err := b.WarehouseStateSQL(formats.DialectPostgres, ident(l.gen, warehouse.GenTable(src, g)))
	if err != nil {
		return nil, err
	}
	c, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("computing view %s of generation %d: %w", b.View().Name, g, classify(err))
	}
	defer rows.Close()
	out := formats.Delta{}
	for rows.Next() {
		raw := make([]*string, len(rows.FieldDescriptions()))
		dst := make([]any, len(raw))
		for i := range raw {
			dst[i] = &raw[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("computing view %s of generation %d: %w", b.View().Name, g, classify(err))
		}
		k, a, err := b.ParseWarehouseState(formats.DialectPostgres, raw)
		if err != nil {
			return nil, err
		}
		out[k] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("computing view %s of generation %d: %w", b.View().Name, g, classify(err))
	}
	return out, nil
}

// DropGeneration drops every per-generation table of generation g, which
// no Swap took: what an earlier attempt at building g left, before g is
// prepared anew. It refuses (ErrStale) when the target already holds g or
// a newer generation.
func (l *Loader) DropGeneration(ctx context.Context, g uint64) error {
	c, err := l.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if err := l.ensureSchema(ctx, c); err != nil {
		return err
	}
	cur, err := l.current(ctx, c)
	switch {
	case errors.Is(err, warehouse.ErrNotLoaded):
	case err != nil:
		return err
	case cur.Generation >= g:
		return fmt.Errorf("generation %d: the target holds generation %d: %w", g, cur.Generation, warehouse.ErrStale)
	}
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1), $2)", "tidemark prepare "+l.gen, int32(g)); err != nil {
		return fmt.Errorf("locking generation %d: %w", g, classify(err))
	}
	defer c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1), $2)", "tidemark prepare "+l.gen, int32(g))
	names, err := l.genTables(ctx, c)
	if err != nil {
		return err
	}
	for _, name := range names {
		if n, ok := warehouse.ParseGenTable(name); !ok || n != g {
			continue
		}
		if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS "+ident(l.gen, name)); err != nil {
			return fmt.Errorf("dropping %s.%s of generation %d: %w", l.gen, name, g, classify(err))
		}
	}
	return nil
}
