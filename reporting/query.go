package reporting

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidemark/tidemark/formats"
)

// query is a parsed, validated /v1/views/{name} request. Every value in it
// has been checked against the view's schema: nothing the client wrote
// reaches the store except as typed key values.
type query struct {
	view    *viewDef
	join    *joinSpec
	filters []filter
	// groupBy is nil for the view's own groups, else the re-aggregation
	// keys (possibly empty: one total row).
	groupBy []colRef
	order   []orderTerm
	limit   int
	offset  int
	format  format
	// list is set for a mirror read as a listing (mirror_list.go), not by
	// primary key; after is the primary key its page starts after (nil:
	// from the first row).
	list  bool
	after formats.Row
}

// colRef names a column of the working row: the view's column Index, or,
// when Mirror is set, column Index of the joined mirror.
type colRef struct {
	Mirror bool
	Index  int
	Name   string // as the answer names it ("col" or "mirror.col")
	Type   formats.Type
}

type joinSpec struct {
	mirror *viewDef
	keys   []int // view column per mirror PK column, in PK order
}

type filterOp uint8

const (
	opIn filterOp = iota + 1
	opRange
	opNull
)

type filter struct {
	col      colRef
	op       filterOp
	values   []any // opIn
	from, to any   // opRange; nil means unbounded
	null     bool  // opNull: want NULL (true) or not NULL (false)
	param    string
}

type orderTerm struct {
	col  colRef
	desc bool
}

// reserved parameters; a column with one of these names is filtered with
// "<col>.eq=".
var reserved = map[string]bool{"join": true, "group_by": true, "order": true, "limit": true, "offset": true, "format": true, "after": true}

// parseQuery validates params against v's schema.
func parseQuery(cat *catalog, v *viewDef, params url.Values, cfg *Config, f format) (*query, *apiError) {
	q := &query{view: v, limit: cfg.DefaultRows, format: f}
	for name, vals := range params {
		for _, s := range vals {
			if !utf8.ValidString(s) {
				return nil, badParam(name, "value is not valid UTF-8")
			}
		}
	}
	if js, ok := params["join"]; ok {
		if len(js) != 1 {
			return nil, badParam("join", "given %d times; one join per request", len(js))
		}
		j, err := parseJoin(cat, v, js[0])
		if err != nil {
			return nil, err
		}
		q.join = j
	}
	var err *apiError
	if q.limit, err = intParam(params, "limit", q.limit, 0, cfg.MaxRows); err != nil {
		return nil, err
	}
	if q.offset, err = intParam(params, "offset", 0, 0, cfg.MaxGroups); err != nil {
		return nil, err
	}
	// Filters, in a stable order so error messages are deterministic.
	for _, name := range sortedKeys(params) {
		if reserved[name] {
			continue
		}
		f, err := q.parseFilter(name, params[name])
		if err != nil {
			return nil, err
		}
		q.filters = append(q.filters, f)
	}
	if q.filters, err = mergeRanges(q.filters); err != nil {
		return nil, err
	}
	if gs, ok := params["group_by"]; ok {
		if v.mirror {
			return nil, badParam("group_by", "view %q is a mirror (one row per primary key); group_by applies to aggregate views", v.name)
		}
		q.groupBy = []colRef{}
		seen := map[string]bool{}
		for _, name := range splitList(gs) {
			c, err := q.resolve("group_by", name)
			if err != nil {
				return nil, err
			}
			if !c.Mirror && !v.cols[c.Index].Key {
				return nil, badParam("group_by", "%q is a measure; group_by takes group keys (%s) or joined mirror columns", name, v.keyNames())
			}
			if seen[c.Name] {
				return nil, badParam("group_by", "%q listed twice", name)
			}
			seen[c.Name] = true
			q.groupBy = append(q.groupBy, c)
		}
	}
	if os, ok := params["order"]; ok {
		out := q.outputRefs()
		for _, term := range splitList(os) {
			desc := strings.HasPrefix(term, "-")
			name := strings.TrimPrefix(strings.TrimPrefix(term, "-"), "+")
			c, err := q.resolve("order", name)
			if err != nil {
				return nil, err
			}
			if !slices.ContainsFunc(out, func(o colRef) bool { return o.Name == c.Name }) {
				return nil, badParam("order", "%q is not a column of this answer (group_by removed it)", name)
			}
			q.order = append(q.order, orderTerm{col: c, desc: desc})
		}
	}
	if v.mirror {
		if err := q.mirrorMode(params, cfg); err != nil {
			return nil, err
		}
	} else if _, ok := params["after"]; ok {
		return nil, badParam("after", "after= pages mirror listings; page aggregate views with offset=")
	}
	return q, nil
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func intParam(params url.Values, name string, def, lo, hi int) (int, *apiError) {
	vals, ok := params[name]
	if !ok {
		return def, nil
	}
	if len(vals) != 1 {
		return 0, badParam(name, "given %d times, want once", len(vals))
	}
	n, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil {
		return 0, badParam(name, "%q is not an integer", vals[0])
	}
	if n < int64(lo) || n > int64(hi) {
		return 0, badParam(name, "%d is out of range [%d, %d]", n, lo, hi)
	}
	return int(n), nil
}

func parseJoin(cat *catalog, v *viewDef, s string) (*joinSpec, *apiError) {
	if v.mirror {
		return nil, badParam("join", "view %q is a mirror; join applies to aggregate views", v.name)
	}
	mname, keys, ok := strings.Cut(s, ":")
	if !ok || mname == "" || keys == "" {
		return nil, badParam("join", "%q: want <mirror>:<key column>[,<key column>...]", s)
	}
	m, ok := cat.views[mname]
	if !ok || !m.mirror {
		return nil, badParam("join", "%q is not a mirror view; mirrors: %s", mname, strings.Join(cat.mirrorNames(), ", "))
	}
	names := strings.Split(keys, ",")
	if len(names) != len(m.keys) {
		return nil, badParam("join", "mirror %q has a %d-column primary key (%s); %d key columns given", mname, len(m.keys), m.keyNames(), len(names))
	}
	j := &joinSpec{mirror: m}
	for i, name := range names {
		ci, ok := v.column(strings.TrimSpace(name))
		if !ok {
			return nil, badParam("join", "view %q has no column %q; its group keys: %s", v.name, name, v.keyNames())
		}
		if !v.cols[ci].Key {
			return nil, badParam("join", "%q is a measure; join on group keys (%s)", name, v.keyNames())
		}
		pk := m.cols[m.keys[i]]
		if !formats.Joinable(v.cols[ci].Type, pk.Type) {
			return nil, badParam("join", "key %q (%s) cannot match %s.%s (%s)", name, v.cols[ci].Type.String(), mname, pk.Name, pk.Type.String())
		}
		j.keys = append(j.keys, ci)
	}
	return j, nil
}

func (c *catalog) mirrorNames() []string {
	var out []string
	for _, n := range c.names {
		if c.views[n].mirror {
			out = append(out, n)
		}
	}
	return out
}

// resolve finds a column of the working row by the name a client used.
func (q *query) resolve(param, name string) (colRef, *apiError) {
	v := q.view
	if mname, col, ok := strings.Cut(name, "."); ok {
		if q.join == nil || !strings.EqualFold(mname, q.join.mirror.name) {
			if q.join == nil {
				return colRef{}, badParam(param, "%q names a joined column but the request has no join=%s:<key>", name, mname)
			}
			return colRef{}, badParam(param, "%q: the joined mirror is %q", name, q.join.mirror.name)
		}
		m := q.join.mirror
		i, ok := m.column(col)
		if !ok {
			return colRef{}, badParam(param, "mirror %q has no column %q; its columns: %s", m.name, col, m.columnNames())
		}
		return colRef{Mirror: true, Index: i, Name: m.name + "." + m.cols[i].Name, Type: m.cols[i].Type}, nil
	}
	i, ok := v.column(name)
	if !ok {
		return colRef{}, badParam(param, "view %q has no column %q; its columns: %s", v.name, name, v.columnNames())
	}
	return colRef{Index: i, Name: v.cols[i].Name, Type: v.cols[i].Type}, nil
}

// parseFilter reads one filter parameter: "<col>" or "<col>.eq" (equality;
// repeated values mean IN), "<col>.from" / "<col>.to" (inclusive bounds),
// "<col>.null" (true or false). Joined columns are "<mirror>.<col>...".
func (q *query) parseFilter(param string, vals []string) (filter, *apiError) {
	name, op := param, "eq"
	if i := strings.LastIndexByte(param, '.'); i >= 0 {
		switch suffix := param[i+1:]; suffix {
		case "eq", "from", "to", "null":
			name, op = param[:i], suffix
		}
	}
	c, err := q.resolve(param, name)
	if err != nil {
		if !strings.Contains(param, ".") {
			err.Msg += fmt.Sprintf("; other parameters: %s", strings.Join(sortedKeys(reserved), ", "))
		}
		return filter{}, err
	}
	if !c.Mirror && !q.view.cols[c.Index].Key && !q.view.mirror {
		return filter{}, badParam(param, "%q is a measure; filters apply to group keys (%s) and joined mirror columns", name, q.view.keyNames())
	}
	f := filter{col: c, param: param}
	switch op {
	case "eq":
		f.op = opIn
		for _, s := range vals {
			x, err := parseValue(c.Type, s)
			if err != nil {
				return filter{}, badParam(param, "%v", err)
			}
			f.values = append(f.values, x)
		}
	case "null":
		if len(vals) != 1 {
			return filter{}, badParam(param, "given %d times, want once", len(vals))
		}
		b, err := strconv.ParseBool(vals[0])
		if err != nil {
			return filter{}, badParam(param, "%q: want true or false", vals[0])
		}
		f.op, f.null = opNull, b
	case "from", "to":
		if len(vals) != 1 {
			return filter{}, badParam(param, "given %d times, want once", len(vals))
		}
		x, err := parseValue(c.Type, vals[0])
		if err != nil {
			return filter{}, badParam(param, "%v", err)
		}
		f.op = opRange
		if op == "from" {
			f.from = x
		} else {
			f.to = x
		}
	}
	return f, nil
}

// mergeRanges folds <col>.from and <col>.to of one column into one filter
// and rejects an empty range (from > to), which is always a client mistake.
func mergeRanges(fs []filter) ([]filter, *apiError) {
	var out []filter
	byCol := map[string]int{}
	for _, f := range fs {
		if f.op != opRange {
			out = append(out, f)
			continue
		}
		if i, ok := byCol[f.col.Name]; ok {
			if f.from != nil {
				out[i].from = f.from
			}
			if f.to != nil {
				out[i].to = f.to
			}
			continue
		}
		byCol[f.col.Name] = len(out)
		out = append(out, f)
	}
	for _, f := range out {
		if f.op == opRange && f.from != nil && f.to != nil && compareValues(f.col.Type, f.from, f.to) > 0 {
			return nil, badParam(f.col.Name+".from", "range is empty: from %s is after to %s",
				formats.FormatText(f.col.Type, f.from), formats.FormatText(f.col.Type, f.to))
		}
	}
	return out, nil
}

// checkMirrorLookup: a mirror is read by primary key, never scanned, so a
// query on one must pin every PK column with equality filters.
func (q *query) checkMirrorLookup(cfg *Config) *apiError {
	n := 1
	for _, k := range q.view.keys {
		var vals []any
		for _, f := range q.filters {
			if !f.col.Mirror && f.col.Index == k && f.op == opIn {
				vals = f.values
			}
		}
		if vals == nil {
			return badParam(q.view.cols[k].Name, "view %q is a mirror, read by primary key: give %s (repeat a parameter for several rows)", q.view.name, q.view.keyNames())
		}
		n *= len(vals)
		if n > cfg.MaxJoinKeys {
			return badParam(q.view.cols[k].Name, "%d primary keys requested, the limit is %d", n, cfg.MaxJoinKeys)
		}
	}
	return nil
}

// outputRefs are the answer's columns as references into the working row.
func (q *query) outputRefs() []colRef {
	v := q.view
	var out []colRef
	if q.groupBy != nil {
		out = append(out, q.groupBy...)
		for i, c := range v.cols {
			if !c.Key {
				out = append(out, colRef{Index: i, Name: c.Name, Type: c.Type})
			}
		}
		return out
	}
	for i, c := range v.cols {
		out = append(out, colRef{Index: i, Name: c.Name, Type: c.Type})
	}
	if q.join != nil {
		m := q.join.mirror
		for i, c := range m.cols {
			out = append(out, colRef{Mirror: true, Index: i, Name: m.name + "." + c.Name, Type: c.Type})
		}
	}
	return out
}

// parseValue reads a query-string value as a canonical Go value of type t,
// in the text form formats.FormatText writes (the form CSV answers use). It
// is strict: a value that does not parse as t is the client's mistake (a
// 400 naming the parameter), never a silent "no rows".
func parseValue(t formats.Type, s string) (any, error) {
	switch t.Kind {
	case formats.KindGeometry:
		return nil, fmt.Errorf("columns of type %s cannot be filtered", t.String())
	case formats.KindEnum:
		for _, e := range t.Elems {
			if e == s {
				return e, nil
			}
		}
		return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(t.Elems, ", "))
	case formats.KindFloat, formats.KindDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, fmt.Errorf("%q is not a finite number", s)
		}
	}
	v, err := formats.ParseText(t, s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a %s value", s, t.String())
	}
	return v, nil
}
