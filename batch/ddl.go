package batch

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/tidemark/tidemark/formats"
)

// Carrying a table across DDL.
//
// The archive holds row changes only: a DDL shows as the first change of a
// table written under a new schema. Where the rows of the old schema turn
// into rows of the new one exactly, an evolution does it (for the base's
// rows, the net changes replayed so far and the history's versions):
//
//   - a dropped column is dropped;
//   - an added column takes, in every older row, the default MariaDB gave
//     it: NULL or the declared constant DEFAULT, read from
//     information_schema (ColumnDefaultSource), and only while the table's
//     definition has not changed since (its CREATE_TIME, which every ALTER
//     moves, is not after the first change under the new schema);
//   - a column whose type widens exactly (integers to wider integers,
//     FLOAT to DOUBLE, longer strings, DECIMAL with as many integer and at
//     least as many fraction digits, more fractional seconds, ENUM/SET
//     with added members, NOT NULL to NULL) keeps its values.
//
// Anything else cannot be derived from the rows: a column dropped and
// another added in one step (a RENAME COLUMN looks just like that), a
// narrowing or inexact type change, a changed primary key, an added column
// without a constant default (an expression, AUTO_INCREMENT, a generated
// column, NOT NULL without DEFAULT). The rebuild then re-extracts that table
// alone from the source and rolls it forward to the cut (rebuild.go).

// ColumnDefaultSource is optionally implemented by a Source: the rebuild
// asks it for the defaults of columns a DDL added. Without it every added
// column makes the rebuild re-extract its table.
// realtime/capture's (*Capture).ColumnDefaults has this shape.
type ColumnDefaultSource interface {
	ColumnDefaults(ctx context.Context, table formats.TableID) (*TableDefaults, error)
}

// TableDefaults are a table's column defaults as information_schema has
// them now.
type TableDefaults struct {
	// Columns are keyed by lower-case column name.
	Columns map[string]ColumnDefault
	// DefinedAt is when the table's definition last changed (MariaDB's
	// information_schema.TABLES.CREATE_TIME, which every ALTER TABLE moves,
	// ALTER COLUMN ... SET DEFAULT included); zero when the server cannot
	// say, and then no default is trusted.
	DefinedAt time.Time
}

// ColumnDefault is one column's default.
type ColumnDefault struct {
	// Default is information_schema.COLUMNS.COLUMN_DEFAULT as MariaDB
	// (≥ 10.2.7) spells it: NULL, a quoted string literal, a number, or
	// an expression; nil when the column has no default.
	Default *string
	// Generated is set for a virtual or stored generated column, or an
	// AUTO_INCREMENT one: no default gives their values in older rows.
	Generated bool
}

// colSource says where a column of the new schema takes its value from in
// a row of the old one.
type colSource struct {
	from int // ordinal in the old schema; -1: the constant val
	val  any
	conv func(any) (any, error) // nil: the value as it is
}

// evolution turns rows of schema from into rows of schema to.
type evolution struct {
	from, to *formats.TableSchema
	cols     []colSource
	desc     string // what changed, for the log
}

// row converts a row of e.from.
func (e *evolution) row(r formats.Row) (formats.Row, error) {
	if r == nil {
		return nil, nil
	}
	out := make(formats.Row, len(e.cols))
	for j, c := range e.cols {
		if c.from < 0 {
			out[j] = c.val
			continue
		}
		v := r[c.from]
		if c.conv != nil && v != nil {
			var err error
			if v, err = c.conv(v); err != nil {
				return nil, fmt.Errorf("column %s: %w", e.to.Columns[j].Name, err)
			}
		}
		out[j] = v
	}
	return out, nil
}

// then is e followed by next (next.from is e.to).
func (e *evolution) then(next *evolution) *evolution {
	out := &evolution{from: e.from, to: next.to, cols: make([]colSource, len(next.cols)), desc: e.desc + "; " + next.desc}
	for j, c := range next.cols {
		if c.from < 0 {
			out.cols[j] = c
			continue
		}
		p := e.cols[c.from]
		switch {
		case p.from < 0:
			v := p.val
			if c.conv != nil && v != nil {
				// Converting a valid constant by a widening cannot fail;
				// keep the unconverted value if it somehow does.
				if w, err := c.conv(v); err == nil {
					v = w
				}
			}
			out.cols[j] = colSource{from: -1, val: v}
		case p.conv == nil:
			out.cols[j] = colSource{from: p.from, conv: c.conv}
		case c.conv == nil:
			out.cols[j] = p
		default:
			f, g := p.conv, c.conv
			out.cols[j] = colSource{from: p.from, conv: func(v any) (any, error) {
				w, err := f(v)
				if err != nil {
					return nil, err
				}
				return g(w)
			}}
		}
	}
	return out
}

// record converts a record batch of e.from's columns into one of e.to's
// (sch its Arrow schema); columns kept as they are share their arrays.
// The caller releases the result.
func (e *evolution) record(rec arrow.Record, sch *arrow.Schema) (arrow.Record, error) {
	n := int(rec.NumRows())
	cols := make([]arrow.Array, len(e.cols))
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for j, c := range e.cols {
		t := e.to.Columns[j].Type
		if c.from >= 0 && c.conv == nil && arrow.TypeEqual(rec.Column(c.from).DataType(), sch.Field(j).Type) {
			cols[j] = rec.Column(c.from)
			cols[j].Retain()
			continue
		}
		src := e.from.Columns[max(c.from, 0)].Type
		a, err := buildColumn(t, n, func(i int) (any, error) {
			if c.from < 0 {
				return c.val, nil
			}
			v, err := formats.ArrowValue(rec.Column(c.from), i, src)
			if err != nil || v == nil || c.conv == nil {
				return v, err
			}
			return c.conv(v)
		})
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", e.to.Columns[j].Name, err)
		}
		cols[j] = a
	}
	return array.NewRecord(sch, cols, int64(n)), nil
}

// addedValue gives the value older rows hold in an added column c, or why
// it is not known exactly.
type addedValue func(c formats.Column) (any, string)

// evolve works out the evolution from rows of old to rows of new, or
// returns why the change cannot be derived from the rows.
func evolve(old, new *formats.TableSchema, added addedValue) (*evolution, string) {
	e := &evolution{from: old, to: new, cols: make([]colSource, len(new.Columns))}
	var adds, drops, changed []string
	for j, c := range new.Columns {
		i := old.ColumnIndex(c.Name)
		if i < 0 {
			adds = append(adds, c.Name)
			continue
		}
		conv, ok := widening(old.Columns[i], c)
		if !ok {
			return nil, fmt.Sprintf("column %s changed from %s to %s, which is not an exact widening",
				c.Name, describeColumn(old.Columns[i]), describeColumn(c))
		}
		if old.Columns[i].Type.String() != c.Type.String() || old.Columns[i].Nullable != c.Nullable {
			changed = append(changed, fmt.Sprintf("%s %s -> %s", c.Name, describeColumn(old.Columns[i]), describeColumn(c)))
		}
		e.cols[j] = colSource{from: i, conv: conv}
	}
	for _, c := range old.Columns {
		if new.ColumnIndex(c.Name) < 0 {
			drops = append(drops, c.Name)
		}
	}
	if len(adds) > 0 && len(drops) > 0 {
		return nil, fmt.Sprintf("columns %s went and %s came in one change: a RENAME COLUMN and a DROP with an ADD look alike in the binlog",
			strings.Join(drops, ", "), strings.Join(adds, ", "))
	}
	if !samePK(old, new) {
		return nil, "its primary key changed"
	}
	for j, c := range new.Columns {
		if old.ColumnIndex(c.Name) >= 0 {
			continue
		}
		v, why := added(c)
		if why != "" {
			return nil, fmt.Sprintf("column %s was added and %s", c.Name, why)
		}
		e.cols[j] = colSource{from: -1, val: v}
	}
	var parts []string
	if len(adds) > 0 {
		parts = append(parts, "added "+strings.Join(adds, ", "))
	}
	if len(drops) > 0 {
		parts = append(parts, "dropped "+strings.Join(drops, ", "))
	}
	if len(changed) > 0 {
		parts = append(parts, "widened "+strings.Join(changed, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "reordered columns")
	}
	e.desc = strings.Join(parts, "; ")
	return e, ""
}

func describeColumn(c formats.Column) string {
	if c.Nullable {
		return c.Type.String() + " NULL"
	}
	return c.Type.String() + " NOT NULL"
}

// samePK reports whether both schemas have the same primary key columns,
// by name and in order.
func samePK(a, b *formats.TableSchema) bool {
	if len(a.PK) != len(b.PK) {
		return false
	}
	for k := range a.PK {
		if !strings.EqualFold(a.Columns[a.PK[k]].Name, b.Columns[b.PK[k]].Name) {
			return false
		}
	}
	return true
}

// intBytes is an integer kind's storage width.
func intBytes(k formats.Kind) int {
	switch k {
	case formats.KindTinyInt:
		return 1
	case formats.KindSmallInt:
		return 2
	case formats.KindMediumInt:
		return 3
	case formats.KindInt:
		return 4
	case formats.KindBigInt:
		return 8
	}
	return 0
}

// widening reports whether every value of column a is, unchanged, a value
// of column b (MariaDB's ALTER keeps it as it is), and the conversion of
// its canonical Go value when that differs.
func widening(ac, bc formats.Column) (func(any) (any, error), bool) {
	if ac.Nullable && !bc.Nullable {
		return nil, false // NULLs would have become the type's zero, or the ALTER failed
	}
	a, b := ac.Type, bc.Type
	switch {
	case intBytes(a.Kind) > 0 && intBytes(b.Kind) > 0:
		wa, wb := intBytes(a.Kind), intBytes(b.Kind)
		switch {
		case a.Unsigned == b.Unsigned && wb >= wa:
			return nil, true
		case a.Unsigned && !b.Unsigned && wb > wa:
			return func(v any) (any, error) {
				u, ok := v.(uint64)
				if !ok {
					return nil, fmt.Errorf("value %v (%T) is not an unsigned integer", v, v)
				}
				return int64(u), nil
			}, true
		}
		return nil, false
	case a.Kind == formats.KindFloat && (b.Kind == formats.KindFloat || b.Kind == formats.KindDouble),
		a.Kind == formats.KindDouble && b.Kind == formats.KindDouble:
		return nil, true
	case a.Kind == formats.KindDecimal && b.Kind == formats.KindDecimal:
		if b.Scale < a.Scale || b.Precision-b.Scale < a.Precision-a.Scale {
			return nil, false
		}
		if b.Scale == a.Scale {
			return nil, true
		}
		return func(v any) (any, error) {
			d, ok := v.(formats.Decimal)
			if !ok {
				return nil, fmt.Errorf("value %v (%T) is not a decimal", v, v)
			}
			return formats.ParseDecimal(string(d), b.Scale)
		}, true
	case (a.Kind == formats.KindChar || a.Kind == formats.KindVarChar) && b.Kind == formats.KindVarChar,
		a.Kind == formats.KindChar && b.Kind == formats.KindChar,
		a.Kind == formats.KindVarBinary && b.Kind == formats.KindVarBinary:
		return nil, b.Precision >= a.Precision
	case (a.Kind == formats.KindChar || a.Kind == formats.KindVarChar || a.Kind == formats.KindText) && b.Kind == formats.KindText,
		(a.Kind == formats.KindVarBinary || a.Kind == formats.KindBlob) && b.Kind == formats.KindBlob:
		return nil, b.Precision == 0 || b.Precision >= a.Precision
	case a.Kind == b.Kind && (a.Kind == formats.KindDateTime || a.Kind == formats.KindTimestamp || a.Kind == formats.KindTime):
		return nil, b.FSP >= a.FSP
	case a.Kind == b.Kind && (a.Kind == formats.KindEnum || a.Kind == formats.KindSet):
		for _, m := range a.Elems {
			if !slices.Contains(b.Elems, m) {
				return nil, false
			}
		}
		return nil, true
	case a.Kind == formats.KindBit && b.Kind == formats.KindBit:
		return nil, b.Precision >= a.Precision
	}
	return nil, a.String() == b.String()
}

var numericLiteral = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// defaultValue reads the value older rows got in an added column c from
// its information_schema default, or says why it cannot.
func defaultValue(c formats.Column, d ColumnDefault, known bool) (any, string) {
	switch {
	case !known:
		return nil, "the source does not say its default"
	case d.Generated:
		return nil, "is generated or AUTO_INCREMENT"
	case d.Default == nil:
		return nil, "has no declared default (older rows hold the type's implicit one)"
	}
	s := *d.Default
	if s == "NULL" {
		if !c.Nullable {
			return nil, "its default is NULL but it is NOT NULL"
		}
		return nil, ""
	}
	switch c.Type.Kind {
	case formats.KindTimestamp, formats.KindJSON, formats.KindBlob, formats.KindBinary, formats.KindVarBinary,
		formats.KindBit, formats.KindGeometry:
		// Read in the session's time zone, or spelt as an expression
		// (b'1', x'..'): the re-extract reads them exactly.
		return nil, fmt.Sprintf("its %s default %s is not read as a constant", c.Type.Kind, s)
	}
	var text string
	switch {
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		inner := s[1 : len(s)-1]
		if strings.ContainsRune(inner, '\\') {
			return nil, fmt.Sprintf("its default %s has escapes", s)
		}
		text = strings.ReplaceAll(inner, "''", "'")
		if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			return nil, fmt.Sprintf("its default %s is an expression", s)
		}
	case numericLiteral.MatchString(s):
		text = s
	default:
		return nil, fmt.Sprintf("its default %s is an expression", s)
	}
	v, err := formats.FromText(c.Type, []byte(text))
	if err != nil {
		return nil, fmt.Sprintf("its default %s does not read as %s (%v)", s, c.Type, err)
	}
	return v, ""
}

// columnsChanged reports whether rows under schema b need an evolution
// from rows under a: compatibleSchema's value types differ, or a length,
// DECIMAL precision, fractional-seconds precision or member list does.
// compatibleSchema leaves those aside (rows decode alike), but a narrower
// column may have truncated older values, and a wider one holds values the
// old type (and the warehouse's column made from it) cannot. TEXT and BLOB
// lengths are left out: information_schema and the binlog spell them
// differently.
func columnsChanged(a, b *formats.TableSchema) bool {
	if !compatibleSchema(a, b) {
		return true
	}
	for i, c := range a.Columns {
		x, y := c.Type, b.Columns[i].Type
		switch x.Kind {
		case formats.KindChar, formats.KindVarChar, formats.KindBinary, formats.KindVarBinary, formats.KindDecimal, formats.KindBit:
			if x.Precision != y.Precision {
				return true
			}
		case formats.KindEnum, formats.KindSet:
			if !slices.Equal(x.Elems, y.Elems) {
				return true
			}
		case formats.KindDateTime, formats.KindTimestamp, formats.KindTime:
			if x.FSP != y.FSP {
				return true
			}
		}
	}
	return false
}
