package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// ViewEngine computes a generation's aggregate views somewhere other than
// this process's columnar engine: a warehouse holding the generation's
// tables (batch/warehouse's Engine adapts a PostgreSQL or Redshift
// loader). Rebuild writes the generation's tables to the lake, has the
// engine Prepare them, asks it for each aggregate view's states, and then
// writes and publishes those exactly as the local engine's.
type ViewEngine interface {
	// Name names the engine in logs and errors, e.g. "postgres target pg".
	Name() string
	// Prepare makes gen's tables (and histories) readable by ComputeView.
	// gen is the generation as its manifest will be, without its views;
	// the manifest is not written yet. A later attempt at the same
	// generation number may have other rows: Prepare must replace what an
	// earlier, failed attempt left, never reuse it.
	Prepare(ctx context.Context, gen *Generation) error
	// ComputeView returns the aggregate states, per group, of view bv over
	// its source table in generation gen. formats.ErrNotPushable says the
	// engine cannot compute it exactly: Rebuild computes it locally.
	ComputeView(ctx context.Context, bv *formats.BoundView, gen uint64) (formats.Delta, error)
}

// ErrViewEngine marks a rebuild that failed because its view engine
// failed (unreachable, a query refused): nothing was published and the
// attempt may be retried.
var ErrViewEngine = errors.New("view engine failed")

// engineViews has o.ViewEngine compute the aggregate views of gen (whose
// tables are written), filling deltas; a view the engine cannot push
// down is computed locally from the table files just written.
func engineViews(ctx context.Context, store lake.Store, gen *Generation, o Options, bound map[string]*formats.BoundView,
	deltas map[string]formats.Delta, log *slog.Logger) error {
	e := o.ViewEngine
	var pushed []*formats.BoundView
	for _, v := range o.Views {
		if bv := bound[v.Name]; bv != nil && !v.Mirror {
			pushed = append(pushed, bv)
		}
	}
	if len(pushed) == 0 {
		return nil
	}
	start := time.Now()
	if err := e.Prepare(ctx, gen); err != nil {
		return fmt.Errorf("%w: %s: preparing generation %d's tables: %w", ErrViewEngine, e.Name(), gen.Generation, err)
	}
	log.Info("ViewEnginePrepared", "event", "ViewEnginePrepared", "engine", e.Name(), "seconds", time.Since(start).Seconds())
	files := map[string][]string{}
	for _, t := range gen.Tables {
		for _, f := range t.Files {
			files[t.Table] = append(files[t.Table], f.Key)
		}
	}
	for _, bv := range pushed {
		name := bv.View().Name
		vstart := time.Now()
		d, err := e.ComputeView(ctx, bv, gen.Generation)
		engine := e.Name()
		if errors.Is(err, formats.ErrNotPushable) {
			log.Info("view not computable in the warehouse: computed locally", "event", "ViewComputedLocally", "view", name,
				"engine", e.Name(), "reason", err.Error())
			engine = "local"
			d = formats.Delta{}
			err = tableRecords(ctx, store, files[bv.View().From.String()], bv.Schema(), func(rec arrow.Record) error {
				return bv.AccumulateRecord(rec, nil, d)
			})
			if err != nil {
				return fmt.Errorf("view %s: computing it locally: %w", name, err)
			}
		} else if err != nil {
			return fmt.Errorf("%w: %s: view %s: %w", ErrViewEngine, e.Name(), name, err)
		}
		deltas[name] = d
		log.Info("ViewEngineComputed", "event", "ViewEngineComputed", "view", name, "engine", engine, "groups", len(d),
			"seconds", time.Since(vstart).Seconds())
	}
	return nil
}
