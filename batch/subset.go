package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// A subset rebuild (Options.Only) re-extracts or rolls forward only the
// named tables; every other table of Options.Tables is carried into the new
// generation from the previous one by reference: its manifest entry names
// the same files (under the older generation's folder), with the position
// it is exact at (TableSnapshot.Cut, older than the generation's cut) and
// the generation that wrote the files (CarriedFrom). So every manifest
// still lists every table, and the next roll-forward replays a carried
// table's changes from its own position. Views over carried tables are
// carried the same way and not published again: the serving store keeps
// the results it has for them (exact at the table's position, the speed
// layer covering what follows), rather than recomputing an unchanged
// table's views. Retention is reference-aware (retire): a retired
// generation's folder that a kept manifest still names stays.

// carry is what a subset rebuild takes over from the previous generation.
type carry struct {
	tables, views, histories []snapshotRef
}

// snapshotRef is a manifest entry carried forward: a table, history
// or view snapshot by reference.
type snapshotRef struct {
	Table *TableSnapshot
	View  *ViewSnapshot
}

// splitSubset restricts o to the tables of o.Only and the views reading
// them, and returns what is carried from prev for the rest.
func splitSubset(prev *Generation, o Options) (Options, *carry, error) {
	if len(o.Only) == 0 {
		return o, nil, nil
	}
	if prev == nil {
		return o, nil, errors.New("rebuild: a rebuild of a subset of tables needs a previous generation to carry the others from")
	}
	have := map[string]*TableSnapshot{}
	for i := range prev.Tables {
		have[prev.Tables[i].Table] = &prev.Tables[i]
	}
	only := map[formats.TableID]bool{}
	for i, id := range o.Only {
		if !slices.ContainsFunc(o.Tables, func(t Table) bool { return t.ID == id }) {
			return o, nil, fmt.Errorf("rebuild: only[%d]: %s is not among the batch tables", i, id)
		}
		only[id] = true
	}
	c := &carry{}
	sub := o
	sub.Tables, sub.Views = nil, nil
	for _, t := range o.Tables {
		if only[t.ID] {
			sub.Tables = append(sub.Tables, t)
			continue
		}
		ts := have[t.ID.String()]
		if ts == nil {
			return o, nil, fmt.Errorf("rebuild: %s is not rebuilt but generation %d does not have it to carry forward", t.ID, prev.Generation)
		}
		cp := *ts
		if cp.Cut == "" { // not carried before: prev wrote it
			cp.Cut, cp.CutSegment, cp.CarriedFrom = prev.Cut, prev.CutSegment, prev.Generation
		}
		c.tables = append(c.tables, snapshotRef{Table: &cp})
		for i := range prev.Histories {
			if h := prev.Histories[i]; h.Table == ts.Table {
				if h.Cut == "" {
					h.Cut, h.CutSegment, h.CarriedFrom = prev.Cut, prev.CutSegment, prev.Generation
				}
				c.histories = append(c.histories, snapshotRef{Table: &h})
			}
		}
	}
	for _, v := range o.Views {
		if only[v.From] {
			sub.Views = append(sub.Views, v)
			continue
		}
		for i := range prev.Views {
			if vs := prev.Views[i]; vs.View == v.Name {
				if vs.Cut == "" {
					vs.Cut, vs.CarriedFrom = prev.Cut, prev.Generation
				}
				c.views = append(c.views, snapshotRef{View: &vs})
			}
		}
	}
	return sub, c, nil
}

// addTo lists the carried entries in gen's manifest.
func (c *carry) addTo(gen *Generation) {
	if c == nil {
		return
	}
	for _, r := range c.tables {
		gen.Tables = append(gen.Tables, *r.Table)
	}
	for _, r := range c.histories {
		gen.Histories = append(gen.Histories, *r.Table)
	}
	for _, r := range c.views {
		gen.Views = append(gen.Views, *r.View)
	}
}

// exactAt is the position (and changelog segment) ts is exact at in
// generation gen: its own when carried, else the generation's.
func (ts *TableSnapshot) exactAt(gen *Generation) (formats.Position, uint64, error) {
	if ts.Cut == "" {
		p, err := gen.CutPosition()
		return p, gen.CutSegment, err
	}
	p, err := formats.ParsePosition(ts.Cut)
	return p, ts.CutSegment, err
}

// referencedPrefixes are the folders the manifests of gens name: what
// retention must keep whatever generation number the folder carries.
func referencedPrefixes(ctx context.Context, store lake.Store, gens []uint64, skip func(uint64) bool) (map[string]bool, error) {
	refs := map[string]bool{}
	for _, n := range gens {
		if skip(n) {
			continue
		}
		gen, err := ReadGeneration(ctx, store, n)
		if err != nil {
			return nil, err
		}
		for _, f := range gen.folders() {
			refs[f] = true
		}
	}
	return refs, nil
}

// folders are the lake folders gen's manifest names ("<prefix>/"): its
// tables', views' and histories', carried ones included.
func (gen *Generation) folders() []string {
	var out []string
	for _, t := range gen.Tables {
		out = append(out, t.Prefix+"/")
	}
	for _, v := range gen.Views {
		out = append(out, v.Prefix+"/")
	}
	for _, h := range gen.Histories {
		out = append(out, h.Prefix+"/")
	}
	return out
}
