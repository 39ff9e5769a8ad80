package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

// Captures reports whether s captures table t: its database is in Databases
// or the table is in Tables.
func (s Source) Captures(t formats.TableID) bool {
	return slices.Contains(s.Databases, t.DB) || slices.Contains(s.Tables, t.String())
}

// CapturingSource returns the index in Sources of the first source that
// captures t, or -1. Validate makes sure every view's table is captured by
// exactly one source, and every batch.history table by one that has views.
func (c *Config) CapturingSource(t formats.TableID) int {
	return slices.IndexFunc(c.Sources, func(s Source) bool { return s.Captures(t) })
}

// validateTables checks what ties the sections together by table: the
// source that captures each view's table, the batch.history tables' sources,
// and batch.partitions (keys naming a table the batch rebuilds, specs that
// parse), so that none of it waits for a client to be built or for the first
// rebuild to fail.
func (c *Config) validateTables(add func(path, format string, args ...any)) {
	rebuilt := map[formats.TableID]bool{} // tables a rebuild snapshots
	hasViews := make([]bool, len(c.Sources))
	for i, spec := range c.Views {
		v, err := formats.ParseView(spec)
		if err != nil {
			continue // reported by Validate
		}
		rebuilt[v.From] = true
		var owners []string
		for k, s := range c.Sources {
			if s.Captures(v.From) {
				owners = append(owners, s.Name)
				hasViews[k] = true
			}
		}
		p := fmt.Sprintf("views[%d].from", i)
		switch len(owners) {
		case 0:
			add(p, "%s is not captured by any source; add %q to a source's databases or %q to its tables", v.From, v.From.DB, v.From.String())
		case 1:
		default:
			add(p, "%s is captured by %d sources (%s and %s); capture it from one", v.From, len(owners), owners[0], owners[1])
		}
	}
	for i, h := range c.Batch.History {
		id, err := formats.ParseTableID(h)
		if err != nil {
			continue // reported by Validate
		}
		rebuilt[id] = true
		// Not captured at all is reported by Validate. The archive that
		// rolls a history forward runs with the speed layer, which a source
		// runs only for its views.
		if k := c.CapturingSource(id); k >= 0 && !hasViews[k] {
			add(fmt.Sprintf("batch.history[%d]", i), "%s is captured by source %s, which has no views, so its changes are not archived: declare a view of one of its tables", id, c.Sources[k].Name)
		}
	}
	keys := make([]string, 0, len(c.Batch.Partitions))
	for k := range c.Batch.Partitions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := "batch.partitions[" + strconv.Quote(k) + "]"
		id, err := formats.ParseTableID(k)
		if err != nil {
			add(p, "%q: want db.table", k)
			continue
		}
		if !rebuilt[id] {
			add(p, "%s is not a table the batch rebuilds (no view reads it and batch.history does not list it): check the spelling", id)
			continue
		}
		if err := snapshot.CheckPartitionSpec(c.Batch.Partitions[k]); err != nil {
			if fe, ok := errors.AsType[*snapshot.FieldError](err); ok {
				add(fmt.Sprintf("%s[%d]", p, fe.Index), "%q: %v", fe.Field, fe.Err)
			} else {
				add(p, "%v", err)
			}
		}
	}
}
