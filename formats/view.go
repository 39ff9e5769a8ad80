package formats

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// This file and view_*.go hold the view language. A view is declared once
// (ViewSpec, from config), parsed without a schema (ParseView: syntax, names,
// the where grammar), then bound to its table's schema (View.Bind: column
// names and types, output types) into a BoundView that is compiled:
//
//   - an incremental Go evaluator (Accumulate, AccumulateRow): a row change
//     becomes +1/-1 contributions to mergeable group states (Agg) in a Delta;
//     Result turns a merged state into the answer row;
//   - the batch layer's columnar evaluator (AccumulateRecord, in
//     view_columnar.go): the same contributions from Arrow record batches,
//     column by column;
//   - MySQL/MariaDB SQL for `tidemark verify` (VerifySQL, ParseVerifyRow)
//     and the where clause alone (WhereSQL).
//
// Semantics are SQL's, made exact and independent of server settings:
//   - NULL compares as unknown and unknown rows are excluded; NULL keys form
//     their own group; sum and avg skip NULLs and are NULL over no input; a
//     group whose row count is <= 0 is absent.
//   - Strings compare and group byte-wise (as a _bin collation); the SQL
//     compiles them with CAST(col AS BINARY) to agree.
//   - Integers and DECIMAL compare and sum exactly (a literal 1.5 against an
//     INT column is compared as 1.5); FLOAT/DOUBLE compare as doubles.
//   - Temporal literals ('2024-01-31', '2024-01-31 10:00:00') compare with
//     DATE/DATETIME/TIMESTAMP columns as UTC instants; TIMESTAMP values are
//     UTC throughout.
//   - avg of an integer or DECIMAL(P,S) column is DECIMAL with scale S+4,
//     rounded half away from zero, as MySQL's AVG; of a float, a double.

// ViewSpec is a view as declared in configuration (the `views:` list).
// ParseView validates it; nothing reads these strings after that.
type ViewSpec struct {
	Name     string   `yaml:"name" json:"name"`
	From     string   `yaml:"from" json:"from"`
	Where    string   `yaml:"where,omitempty" json:"where,omitempty"`
	GroupBy  []string `yaml:"group_by,omitempty" json:"group_by,omitempty"`
	Measures []string `yaml:"measures,omitempty" json:"measures,omitempty"`
	Mirror   bool     `yaml:"mirror,omitempty" json:"mirror,omitempty"`
	Columns  []string `yaml:"columns,omitempty" json:"columns,omitempty"`
}

// View is a parsed, validated view declaration. It does not know column
// types yet: Bind checks it against a table schema and compiles it.
//
// A View is safe for concurrent use. Its exported fields must not be
// modified after ParseView returns.
type View struct {
	Name string
	From TableID
	// Mirror views keep the latest row per primary key; they have Columns
	// and no Where, GroupBy or Measures.
	Mirror bool
	// Columns are a mirror's selected columns as written; empty means all.
	Columns []string
	// Where is nil when the view has no where clause.
	Where    Expr
	GroupBy  []GroupBySpec
	Measures []MeasureSpec

	// shape is the aggregate layout fixed by the first Bind. It lives on
	// the View (not only the BoundView) because stored states are decoded
	// by view, and a schema change must not silently change their meaning.
	shape atomic.Pointer[aggShape]
}

// Transform is how a group key derives from its column.
type Transform uint8

const (
	TransformNone     Transform = iota // the column's value itself
	TransformYear                      // "YYYY" of a DATE/DATETIME/TIMESTAMP
	TransformMonth                     // "YYYY-MM"
	TransformDay                       // "YYYY-MM-DD"
	TransformHour                      // "YYYY-MM-DD HH"
	TransformTruncate                  // integers: floor(col/W)*W; strings: first W characters
)

var transformNames = [...]string{"", "year", "month", "day", "hour", "truncate"}

func (t Transform) String() string {
	if int(t) < len(transformNames) {
		return transformNames[t]
	}
	return "transform(" + strconv.Itoa(int(t)) + ")"
}

// GroupBySpec is one group key: a column, or a transform of one.
type GroupBySpec struct {
	Column    string
	Transform Transform
	// Width is truncate's W (> 0); zero for other transforms.
	Width int64
	// Name is the output column name: the AS name, or the default
	// (the column, or <col>_<transform>).
	Name string
}

// String renders g in the view language, always with its AS name, so that
// parsing it gives g back.
func (g GroupBySpec) String() string {
	var s string
	switch g.Transform {
	case TransformNone:
		s = viewIdent(g.Column)
	case TransformTruncate:
		s = "truncate(" + strconv.FormatInt(g.Width, 10) + ", " + viewIdent(g.Column) + ")"
	default:
		s = g.Transform.String() + "(" + viewIdent(g.Column) + ")"
	}
	return s + " AS " + g.Name
}

// MeasureFunc is an aggregate function. Only invertible aggregates exist:
// the speed layer subtracts a deleted row's contribution.
type MeasureFunc uint8

const (
	MeasureCount MeasureFunc = iota + 1 // count() (Column == "") or count(col): non-NULL values
	MeasureSum                          // sum(col): NULL when every input is NULL
	MeasureAvg                          // avg(col) = sum/count(col)
)

func (f MeasureFunc) String() string {
	switch f {
	case MeasureCount:
		return "count"
	case MeasureSum:
		return "sum"
	case MeasureAvg:
		return "avg"
	}
	return "measure(" + strconv.Itoa(int(f)) + ")"
}

// MeasureSpec is one measure.
type MeasureSpec struct {
	Func MeasureFunc
	// Column is "" for count().
	Column string
	// Name is the output column name: the AS name, or the default
	// (count, count_<col>, sum_<col>, avg_<col>).
	Name string
}

// String renders m in the view language with its AS name.
func (m MeasureSpec) String() string {
	return m.Func.String() + "(" + viewIdentOpt(m.Column) + ") AS " + m.Name
}

// Spec renders v back as a ViewSpec in canonical form: every key and
// measure with its AS name, the where clause normalized. ParseView of the
// result gives a View equal to v.
func (v *View) Spec() ViewSpec {
	s := ViewSpec{Name: v.Name, From: v.From.String(), Mirror: v.Mirror}
	if v.Mirror {
		s.Columns = append([]string(nil), v.Columns...)
		return s
	}
	if v.Where != nil {
		s.Where = v.Where.String()
	}
	for _, g := range v.GroupBy {
		s.GroupBy = append(s.GroupBy, g.String())
	}
	for _, m := range v.Measures {
		s.Measures = append(s.Measures, m.String())
	}
	return s
}

// OutputColumn is one column of a view's answer.
type OutputColumn struct {
	Name string
	Type Type
	// Key marks group keys (a mirror's primary key columns).
	Key bool
}

// GroupKey identifies one group of a view (one row of a mirror): the key
// values, canonically encoded, usable as a Redis hash field.
//
// Encoding: each key value in its MySQL text form (integers in decimal,
// DECIMAL in canonical text, DATE "YYYY-MM-DD", DATETIME/TIMESTAMP
// "YYYY-MM-DD HH:MM:SS[.fsp digits]", TIME "[-]HH:MM:SS[.f]", FLOAT/DOUBLE
// as strconv 'g' -1, strings and bytes verbatim, transforms as their
// strings), with '\' and '|' escaped as `\\` and `\|`; NULL is `\N`, so it
// differs from the empty string; values are joined by '|'. A view without
// group keys has the single key "". Equal key values always encode to the
// same bytes, and DecodeKey reverses the encoding.
type GroupKey string

// viewIdent renders a column name for the view language: bare when it is a
// plain identifier that is no keyword, else in backquotes.
func viewIdent(name string) string {
	if isPlainIdent(name) && !isKeyword(name) {
		return name
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

func viewIdentOpt(name string) string {
	if name == "" {
		return ""
	}
	return viewIdent(name)
}

func isPlainIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// isKeyword reports whether an identifier is a word of the view language
// that cannot name a column without backquotes.
func isKeyword(s string) bool {
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "AS":
		return true
	}
	return false
}

// errorf builds a view error for one part of the spec ("where",
// "group_by[0]", ...); the config layer prefixes the view's own path.
func partErrorf(part, format string, args ...any) error {
	return fmt.Errorf(part+": "+format, args...)
}
