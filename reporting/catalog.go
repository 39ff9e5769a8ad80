package reporting

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tidemark/tidemark/formats"
)

// catalog is the set of views the API serves, fixed at New.
type catalog struct {
	views   map[string]*viewDef
	names   []string                     // sorted
	byTable map[formats.TableID]*viewDef // mirrors by source table
}

// viewDef is one served view with what queries need of it precomputed.
type viewDef struct {
	name   string
	bound  *formats.BoundView
	mirror bool
	table  formats.TableID
	cols   []outColumn
	byName map[string]int // lower-cased column name → index in cols
	keys   []int          // indexes of key columns (group keys; a mirror's PK) in cols
}

func newCatalog(views []*formats.BoundView) (*catalog, error) {
	c := &catalog{views: map[string]*viewDef{}, byTable: map[formats.TableID]*viewDef{}}
	for i, bv := range views {
		if bv == nil {
			return nil, fmt.Errorf("views[%d]: nil", i)
		}
		v := newViewDef(bv)
		if _, dup := c.views[v.name]; dup {
			return nil, fmt.Errorf("views[%d]: view %q served twice", i, v.name)
		}
		if v.mirror && len(v.keys) == 0 {
			return nil, fmt.Errorf("views[%d]: mirror %q has no primary key columns", i, v.name)
		}
		for _, col := range v.cols {
			if strings.Contains(col.Name, ".") {
				return nil, fmt.Errorf("views[%d]: column %q of view %q contains a dot, which the API reserves for joined columns", i, col.Name, v.name)
			}
		}
		c.views[v.name] = v
		c.names = append(c.names, v.name)
		if v.mirror {
			if other, dup := c.byTable[v.table]; dup {
				return nil, fmt.Errorf("views[%d]: mirrors %q and %q both mirror %s", i, other.name, v.name, v.table)
			}
			c.byTable[v.table] = v
		}
	}
	sort.Strings(c.names)
	return c, nil
}

func newViewDef(bv *formats.BoundView) *viewDef {
	spec := bv.View()
	v := &viewDef{
		name:   spec.Name,
		bound:  bv,
		mirror: spec.Mirror,
		table:  spec.From,
		byName: map[string]int{},
	}
	for i, c := range bv.Columns() {
		v.cols = append(v.cols, outColumn{Name: c.Name, Type: c.Type, Key: c.Key})
		v.byName[strings.ToLower(c.Name)] = i
		if c.Key {
			v.keys = append(v.keys, i)
		}
	}
	return v
}

// column finds a column by name, case-insensitively as MySQL does.
func (v *viewDef) column(name string) (int, bool) {
	i, ok := v.byName[strings.ToLower(name)]
	return i, ok
}

func (v *viewDef) columnNames() string {
	names := make([]string, len(v.cols))
	for i, c := range v.cols {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

func (v *viewDef) keyNames() string {
	names := make([]string, len(v.keys))
	for i, k := range v.keys {
		names[i] = v.cols[k].Name
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
