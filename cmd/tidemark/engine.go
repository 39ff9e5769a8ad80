package main

import (
	"fmt"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
)

// viewEngine returns the batch.engine's view engine over the lake st and
// the function that releases it; nil for the local engine.
func (a *app) viewEngine(st lake.Store) (batch.ViewEngine, func(), error) {
	w := a.cfg.EngineTarget()
	if w == nil {
		return nil, func() {}, nil
	}
	l, err := a.newLoader(w, st)
	if err != nil {
		return nil, nil, fmt.Errorf("batch.engine %s: %w", a.cfg.Batch.Engine, err)
	}
	vl, ok := l.(warehouse.ViewLoader)
	if !ok {
		l.Close()
		return nil, nil, fmt.Errorf("batch.engine %s: target %s cannot compute views", a.cfg.Batch.Engine, w.Name)
	}
	return warehouse.NewEngine(w.Name, w.Kind, vl, warehouse.Selection{Tables: w.Tables, Views: w.Views, History: w.History}), l.Close, nil
}
