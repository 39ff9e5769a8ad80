package config

// Engines of batch.engine.
const (
	EngineLocal    = "local"
	EnginePostgres = "postgres"
	EngineRedshift = "redshift"
)

// validateEngine checks batch.engine and batch.engine_target: a warehouse
// engine needs a warehouse target of its kind.
func (c *Config) validateEngine(add func(path, format string, args ...any)) {
	switch c.Batch.Engine {
	case EngineLocal, "":
		if c.Batch.EngineTarget != "" {
			add("batch.engine_target", "%q: set only with batch.engine postgres or redshift", c.Batch.EngineTarget)
		}
		return
	case EnginePostgres, EngineRedshift:
	default:
		add("batch.engine", "%q: want local, postgres or redshift", c.Batch.Engine)
		return
	}
	if c.Batch.EngineTarget == "" {
		add("batch.engine_target", "required with batch.engine %s: the name of a warehouse target of kind %s", c.Batch.Engine, c.Batch.Engine)
		return
	}
	for _, w := range c.Warehouse {
		if w.Name != c.Batch.EngineTarget {
			continue
		}
		if w.Kind != c.Batch.Engine {
			add("batch.engine_target", "%q is a %s target, but batch.engine is %s", w.Name, w.Kind, c.Batch.Engine)
		}
		return
	}
	add("batch.engine_target", "%q: no warehouse target has that name", c.Batch.EngineTarget)
}

// EngineTarget returns the warehouse target batch.engine computes views
// in; nil for the local engine.
func (c *Config) EngineTarget() *Warehouse {
	if c.Batch.Engine == EngineLocal || c.Batch.Engine == "" {
		return nil
	}
	return c.WarehouseTarget(c.Batch.EngineTarget)
}
