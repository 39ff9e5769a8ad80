package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tidemark/tidemark/formats"
)

// Columns is a source's column policy: sensitive columns never leave the
// source unless allowed. It is applied in the capture, before anything is
// stored, so Redis, the changelog archive, the lake (tables and history)
// and every warehouse see only the policy-applied rows and schemas.
type Columns struct {
	// Exclude lists columns (db.table.column) that are dropped: absent from
	// every schema and row, as if the table did not have them. A primary
	// key column cannot be excluded (mask it instead).
	Exclude []string `yaml:"exclude"`
	// Mask lists columns (db.table.column) whose values are replaced by a
	// keyed hash: the hex HMAC-SHA256 of the value under MaskKey, a
	// VARCHAR(64) in every store. Equal values hash equally in every
	// table, so joins on a masked column still work; NULL stays NULL.
	Mask []string `yaml:"mask"`
	// MaskKey is the HMAC key, required when Mask is not empty; set it from
	// the environment (TIDEMARK_SOURCES_<i>_COLUMNS_MASK_KEY) rather than
	// in the file. At least 16 bytes. Changing it changes every masked
	// value: the stores must then be rebuilt from the source.
	MaskKey Secret `yaml:"mask_key"`
}

// minMaskKey is the shortest mask key accepted: a shorter HMAC key makes the
// hashes of low-entropy values (names, e-mail addresses) guessable offline.
const minMaskKey = 16

// columnRef is one column of a policy list, parsed.
type columnRef struct {
	Table  formats.TableID
	Column string
}

// parseColumnRef parses db.table.column.
func parseColumnRef(s string) (columnRef, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return columnRef{}, false
	}
	return columnRef{Table: formats.TableID{DB: parts[0], Table: parts[1]}, Column: parts[2]}, true
}

// validate checks source s's columns section at path p (sources[i].columns).
// Whether the columns exist is only known with the source's schema: the
// binary checks that at start-up (capture.Capture.CheckColumns).
func (c *Columns) validate(p string, s *Source, add func(path, format string, args ...any)) {
	seen := map[string]string{}
	check := func(list string, items []string) {
		for j, item := range items {
			path := fmt.Sprintf("%s.%s[%d]", p, list, j)
			r, ok := parseColumnRef(item)
			if !ok {
				add(path, "%q: want db.table.column", item)
				continue
			}
			key := strings.ToLower(item)
			if prev, dup := seen[key]; dup {
				add(path, "%q is already listed at %s: a column is either excluded or masked, once", item, prev)
				continue
			}
			seen[key] = path
			if !s.Captures(r.Table) {
				add(path, "%q: table %s is not captured by this source: add %q to its databases or %q to its tables, or remove the entry",
					item, r.Table, r.Table.DB, r.Table.String())
			}
		}
	}
	check("exclude", c.Exclude)
	check("mask", c.Mask)
	switch {
	case len(c.Mask) > 0 && c.MaskKey == "":
		add(p+".mask_key", "required when mask is set: a secret of at least %d bytes, e.g. TIDEMARK_%s_MASK_KEY=$(openssl rand -hex 32)",
			minMaskKey, strings.ToUpper(strings.NewReplacer("[", "_", "]", "", ".", "_").Replace(p)))
	case c.MaskKey != "" && len(c.MaskKey) < minMaskKey:
		add(p+".mask_key", "%d bytes: use at least %d (e.g. openssl rand -hex 32), or hashes of short values can be guessed", len(c.MaskKey), minMaskKey)
	}
}

// validateViewColumns refuses views that would need a column the policy
// keeps in the source: a view may not group by, filter on, count, sum or
// mirror an excluded column, and may not compare, transform, sum or
// average a masked one (its values are hashes: a comparison with a literal
// or a sum means nothing). Grouping by, counting, mirroring or testing a
// masked column for NULL is allowed: the view then shows the hashes.
//
// Partition specs (batch.partitions) may not use an excluded or a masked
// column either: the folder names would hold its values (or hashes).
func validateViewColumns(sources []Source, views []formats.ViewSpec, partitions map[string][]string, add func(path, format string, args ...any)) {
	type rule struct {
		excluded bool
		source   int
		entry    string
	}
	rules := map[string]rule{} // lower-cased db.table.column
	for i, s := range sources {
		for j, e := range s.Columns.Exclude {
			rules[strings.ToLower(e)] = rule{true, i, fmt.Sprintf("sources[%d].columns.exclude[%d]", i, j)}
		}
		for j, m := range s.Columns.Mask {
			if _, ok := rules[strings.ToLower(m)]; !ok {
				rules[strings.ToLower(m)] = rule{false, i, fmt.Sprintf("sources[%d].columns.mask[%d]", i, j)}
			}
		}
	}
	if len(rules) == 0 {
		return
	}
	tables := make([]string, 0, len(partitions))
	for t := range partitions {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		for j, spec := range partitions[t] {
			col := partitionColumn(spec)
			r, ok := rules[strings.ToLower(t+"."+col)]
			if !ok {
				continue
			}
			how := "masked"
			if r.excluded {
				how = "excluded"
			}
			add(fmt.Sprintf("batch.partitions[%s][%d]", strconv.Quote(t), j), "%q: column %s.%s is %s by %s: a partition folder would name its values; partition by another column",
				spec, t, col, how, r.entry)
		}
	}
	for i, spec := range views {
		v, err := formats.ParseView(spec)
		if err != nil {
			continue // reported by Validate
		}
		p := fmt.Sprintf("views[%d]", i)
		lookup := func(col string) (rule, bool) {
			r, ok := rules[strings.ToLower(v.From.String()+"."+col)]
			if ok && !sources[r.source].Captures(v.From) {
				return rule{}, false
			}
			return r, ok
		}
		excluded := func(path, col, use string) {
			if r, ok := lookup(col); ok && r.excluded {
				add(path, "column %s.%s is excluded by %s: it never leaves the source, so a view cannot %s it; remove it from the view or from the policy",
					v.From, col, r.entry, use)
			}
		}
		if v.Mirror {
			for j, c := range v.Columns {
				excluded(fmt.Sprintf("%s.columns[%d]", p, j), c, "mirror")
			}
			continue
		}
		for j, g := range v.GroupBy {
			path := fmt.Sprintf("%s.group_by[%d]", p, j)
			excluded(path, g.Column, "group by")
			if r, ok := lookup(g.Column); ok && !r.excluded && g.Transform != formats.TransformNone {
				add(path, "column %s.%s is masked by %s: its values are hashes, so %s of it means nothing; group by the column itself",
					v.From, g.Column, r.entry, g.Transform)
			}
		}
		for j, m := range v.Measures {
			if m.Column == "" {
				continue
			}
			path := fmt.Sprintf("%s.measures[%d]", p, j)
			excluded(path, m.Column, m.Func.String())
			if r, ok := lookup(m.Column); ok && !r.excluded && m.Func != formats.MeasureCount {
				add(path, "column %s.%s is masked by %s: its values are hashes, so %s of it means nothing; use count(%s) or remove the mask",
					v.From, m.Column, r.entry, m.Func, m.Column)
			}
		}
		for _, w := range whereColumns(v.Where) {
			excluded(p+".where", w.name, "filter on")
			if r, ok := lookup(w.name); ok && !r.excluded && w.compared {
				add(p+".where", "column %s.%s is masked by %s: its values are hashes, so the view cannot compare it with a value (IS [NOT] NULL is allowed)", v.From, w.name, r.entry)
			}
		}
	}
}

// whereColumn is a column a where clause reads; compared is set when it is
// compared with a value or a list (not only tested for NULL).
type whereColumn struct {
	name     string
	compared bool
}

// whereColumns lists the columns a where clause reads, once each, in order.
func whereColumns(e formats.Expr) []whereColumn {
	var out []whereColumn
	operand := func(o formats.ExprOperand, compared bool) {
		c, ok := o.(*formats.ExprColumn)
		if !ok {
			return
		}
		if i := slices.IndexFunc(out, func(w whereColumn) bool { return w.name == c.Name }); i >= 0 {
			out[i].compared = out[i].compared || compared
			return
		}
		out = append(out, whereColumn{c.Name, compared})
	}
	var walk func(formats.Expr)
	walk = func(e formats.Expr) {
		switch x := e.(type) {
		case *formats.ExprCompare:
			operand(x.Left, true)
			operand(x.Right, true)
		case *formats.ExprIn:
			operand(x.Left, true)
		case *formats.ExprIsNull:
			operand(x.Operand, false)
		case *formats.ExprAnd:
			for _, t := range x.Terms {
				walk(t)
			}
		case *formats.ExprOr:
			for _, t := range x.Terms {
				walk(t)
			}
		case *formats.ExprNot:
			walk(x.X)
		}
	}
	if e != nil {
		walk(e)
	}
	return out
}

// partitionRE picks the column of a partition field: col, transform(col)
// or truncate(W, col), optionally AS name (batch/snapshot parses it fully).
var partitionRE = regexp.MustCompile(`^\s*(?:[A-Za-z_]+\s*\(\s*(?:-?\d+\s*,\s*)?([^(),\s]+)\s*\)|([^(),\s]+))`)

func partitionColumn(spec string) string {
	m := partitionRE.FindStringSubmatch(spec)
	if m == nil {
		return ""
	}
	if m[1] != "" {
		return m[1]
	}
	return m[2]
}
