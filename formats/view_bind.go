package formats

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// BoundView is a View checked against one table schema and compiled: the
// where clause into closures, the keys and measures into typed extractors.
// It is immutable and safe for concurrent use; Accumulate and AccumulateRow
// allocate only when a group first appears in a Delta. AccumulateRecord
// (view_columnar.go) is the same evaluator over Arrow record batches.
type BoundView struct {
	view   *View
	schema *TableSchema
	cols   []OutputColumn
	where  pred  // nil: every row
	cwhere cpred // where, compiled over Arrow columns; nil: every row
	keys   []boundKey
	meas   []boundMeasure
	shape  *aggShape
	used   []int // schema ordinals the evaluator reads, for type errors
	mirror []int // mirror: schema ordinals of the output columns
	pk     []int // mirror: schema ordinals of the primary key
}

// valClass groups column kinds by their canonical Go type.
type valClass uint8

const (
	clsNone  valClass = iota
	clsInt            // int64: signed integers, YEAR
	clsUint           // uint64: unsigned integers, BIT
	clsDec            // Decimal
	clsFloat          // float64
	clsTime           // time.Time: DATE, DATETIME, TIMESTAMP
	clsDur            // time.Duration: TIME
	clsStr            // string: CHAR, VARCHAR, TEXT, ENUM, SET, JSON
	clsBytes          // []byte: BINARY, VARBINARY, BLOB, GEOMETRY
)

var classGoType = [...]string{"?", "int64", "uint64", "formats.Decimal", "float64", "time.Time", "time.Duration", "string", "[]byte"}

func classOf(t Type) valClass {
	switch t.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		if t.Unsigned {
			return clsUint
		}
		return clsInt
	case KindYear:
		return clsInt
	case KindBit:
		return clsUint
	case KindDecimal:
		return clsDec
	case KindFloat, KindDouble:
		return clsFloat
	case KindDate, KindDateTime, KindTimestamp:
		return clsTime
	case KindTime:
		return clsDur
	case KindChar, KindVarChar, KindText, KindEnum, KindSet, KindJSON:
		return clsStr
	case KindBinary, KindVarBinary, KindBlob, KindGeometry:
		return clsBytes
	}
	return clsNone
}

// classHolds reports whether v is a canonical value of class c (a DECIMAL
// may also arrive as a plain string).
func classHolds(c valClass, v any) bool {
	switch v.(type) {
	case int64:
		return c == clsInt
	case uint64:
		return c == clsUint
	case Decimal:
		return c == clsDec
	case float64:
		return c == clsFloat
	case time.Time:
		return c == clsTime
	case time.Duration:
		return c == clsDur
	case string:
		return c == clsStr || c == clsDec
	case []byte:
		return c == clsBytes
	}
	return false
}

// isIntegerKind is the package's one integer predicate: TINYINT..BIGINT
// (signed or not) and YEAR, whose canonical values are int64 or uint64
// numbers (the type map) and which MySQL computes with as numbers
// (truncate's col - col MOD W works on a YEAR). BIT is a bit string, not an
// integer, though its value is a uint64.
func isIntegerKind(k Kind) bool {
	switch k {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt, KindYear:
		return true
	}
	return false
}

// keyKind selects how a group key part is computed from its column.
type keyKind uint8

const (
	kkValue      keyKind = iota // the value itself
	kkYear                      // time.Time -> "YYYY"
	kkMonth                     // "YYYY-MM"
	kkDay                       // "YYYY-MM-DD"
	kkHour                      // "YYYY-MM-DD HH"
	kkTruncInt                  // int64 floor(x/W)*W
	kkTruncUint                 // uint64 x - x%W
	kkTruncStr                  // first W characters
	kkTruncBytes                // first W bytes
)

type boundKey struct {
	spec  GroupBySpec
	col   int
	src   Column
	cls   valClass // of src
	out   Type
	kind  keyKind
	width int64
}

type boundMeasure struct {
	spec     MeasureSpec
	col      int // -1 for count()
	src      Column
	cls      valClass
	slot     aggSlot
	scale    int // exact sums: the column's DECIMAL scale (0 for integers)
	avgScale int // exact avg: the result's scale
	out      Type
}

// Output types of the measures.
var (
	typeCount  = Type{Kind: KindBigInt}
	typeDouble = Type{Kind: KindDouble}
)

// sumPrecision is the precision of a sum's or avg's DECIMAL output: MySQL's
// widest DECIMAL, so that no sum of a column overflows its declared type.
const sumPrecision = 65

// avgExtraScale is MySQL's div_precision_increment default: AVG of a
// DECIMAL(P,S) has scale S+4, AVG of an integer scale 4.
const avgExtraScale = 4

// maxAvgScale caps AVG's scale: MariaDB's DECIMAL_MAX_SCALE. MySQL caps at
// 30, so on MySQL avg of a DECIMAL with scale 27..30 differs in scale (a
// documented gap; such scales are exotic).
const maxAvgScale = 38

func avgScaleFor(s int) int {
	if s+avgExtraScale <= maxAvgScale {
		return s + avgExtraScale
	}
	return max(s, maxAvgScale)
}

// ErrShapeChanged is returned by Bind when a schema would change how the
// view's stored aggregate states read (a sum column turned from integer to
// float, or its DECIMAL scale changed). Stored states must be rebuilt; parse
// the view again to bind it to the new schema.
var ErrShapeChanged = errors.New("aggregate layout changed")

// Bind checks v against the schema of its table and compiles it. Errors
// name the part at fault: `group_by[0]: unknown column "crated_at" in
// shop.orders`, `measures[1]: sum needs a numeric column; status is
// VARCHAR(20)`, `where: ...`.
//
// The first Bind fixes the view's aggregate layout (AggLayout); a later Bind
// to a schema that would change it fails with ErrShapeChanged.
func (v *View) Bind(s *TableSchema) (*BoundView, error) {
	b := &BoundView{view: v, schema: s}
	if s == nil {
		return nil, fmt.Errorf("binding view %s: no schema for %s", v.Name, v.From)
	}
	lookup := func(part, name string) (int, error) {
		i := s.ColumnIndex(name)
		if i < 0 {
			return -1, partErrorf(part, "unknown column %q in %s", name, s.Table)
		}
		b.used = appendUnique(b.used, i)
		return i, nil
	}
	if v.Mirror {
		if len(s.PK) == 0 {
			return nil, partErrorf("mirror", "%s has no primary key; a mirror keeps the latest row per primary key", s.Table)
		}
		if len(v.Columns) == 0 {
			for i := range s.Columns {
				b.mirror = append(b.mirror, i)
			}
		}
		for i, name := range v.Columns {
			c, err := lookup(fmt.Sprintf("columns[%d]", i), name)
			if err != nil {
				return nil, err
			}
			b.mirror = append(b.mirror, c)
		}
		b.pk = s.PK
		for _, p := range s.PK {
			if !containsInt(b.mirror, p) {
				return nil, partErrorf("columns", "must include the primary key column %q of %s", s.Columns[p].Name, s.Table)
			}
		}
		for _, c := range b.mirror {
			b.cols = append(b.cols, OutputColumn{Name: s.Columns[c].Name, Type: s.Columns[c].Type, Key: containsInt(s.PK, c)})
		}
		return b, nil
	}

	if v.Where != nil {
		c := &whereCompiler{s: s, used: &b.used}
		p, err := c.compile(v.Where)
		if err != nil {
			return nil, partErrorf("where", "%v", err)
		}
		b.where = p
		if b.cwhere, err = (&columnarCompiler{s: s}).compile(v.Where); err != nil {
			return nil, partErrorf("where", "%v", err)
		}
	}
	for i, g := range v.GroupBy {
		part := fmt.Sprintf("group_by[%d]", i)
		c, err := lookup(part, g.Column)
		if err != nil {
			return nil, err
		}
		k, err := bindKey(g, s.Columns[c])
		if err != nil {
			return nil, partErrorf(part, "%v", err)
		}
		k.col = c
		b.keys = append(b.keys, k)
		b.cols = append(b.cols, OutputColumn{Name: g.Name, Type: k.out, Key: true})
	}
	slots := make([]aggSlot, len(v.Measures))
	scales := make([]int, len(v.Measures))
	for i, m := range v.Measures {
		part := fmt.Sprintf("measures[%d]", i)
		bm := boundMeasure{spec: m, col: -1}
		if m.Column != "" {
			c, err := lookup(part, m.Column)
			if err != nil {
				return nil, err
			}
			bm.col, bm.src, bm.cls = c, s.Columns[c], classOf(s.Columns[c].Type)
		}
		if err := bm.bindTypes(); err != nil {
			return nil, partErrorf(part, "%v", err)
		}
		slots[i], scales[i] = bm.slot, bm.scale
		b.meas = append(b.meas, bm)
		b.cols = append(b.cols, OutputColumn{Name: m.Name, Type: bm.out})
	}
	shape := newAggShape(slots, scales)
	if !v.shape.CompareAndSwap(nil, shape) {
		old := v.shape.Load()
		if !old.equal(shape) {
			return nil, fmt.Errorf("binding view %s to %s: %w (layout %s, scales %v -> layout %s, scales %v); rebuild the view",
				v.Name, s.Table, ErrShapeChanged, old.layout, old.scales, shape.layout, shape.scales)
		}
		shape = old
	}
	b.shape = shape
	return b, nil
}

func appendUnique(s []int, v int) []int {
	if containsInt(s, v) {
		return s
	}
	return append(s, v)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func bindKey(g GroupBySpec, c Column) (boundKey, error) {
	k := boundKey{spec: g, src: c, cls: classOf(c.Type), out: c.Type, width: g.Width}
	switch c.Type.Kind {
	case KindJSON, KindGeometry:
		return k, fmt.Errorf("column %s is %s, which cannot be a group key", c.Name, c.Type)
	}
	if k.cls == clsNone {
		return k, fmt.Errorf("column %s has unsupported type %s", c.Name, c.Type)
	}
	switch g.Transform {
	case TransformNone:
		k.kind = kkValue
	case TransformYear, TransformMonth, TransformDay, TransformHour:
		if k.cls != clsTime {
			return k, fmt.Errorf("%s() needs a DATE, DATETIME or TIMESTAMP column; %s is %s", g.Transform, c.Name, c.Type)
		}
		k.kind = map[Transform]keyKind{TransformYear: kkYear, TransformMonth: kkMonth, TransformDay: kkDay, TransformHour: kkHour}[g.Transform]
		k.out = Type{Kind: KindVarChar, Precision: len(timeKeyLayout[k.kind])}
	case TransformTruncate:
		if g.Width <= 0 {
			return k, fmt.Errorf("truncate width %d: want a positive integer", g.Width)
		}
		switch {
		case isIntegerKind(c.Type.Kind) && k.cls == clsInt:
			k.kind = kkTruncInt
		case isIntegerKind(c.Type.Kind) && k.cls == clsUint:
			k.kind = kkTruncUint
		case k.cls == clsStr:
			k.kind = kkTruncStr
			k.out = Type{Kind: KindVarChar, Precision: int(min(g.Width, math.MaxInt32))}
		case k.cls == clsBytes:
			k.kind = kkTruncBytes
			k.out = Type{Kind: KindVarBinary, Precision: int(min(g.Width, math.MaxInt32))}
		default:
			return k, fmt.Errorf("truncate() needs an integer or string column; %s is %s", c.Name, c.Type)
		}
	default:
		return k, fmt.Errorf("unknown transform %s", g.Transform)
	}
	return k, nil
}

func (m *boundMeasure) bindTypes() error {
	if m.spec.Func == MeasureCount {
		m.out = typeCount
		m.slot = slotNN
		if m.col < 0 {
			m.slot = slotCount
		}
		return nil
	}
	switch m.cls {
	case clsInt, clsUint:
		if m.src.Type.Kind == KindBit {
			break
		}
		m.slot, m.scale = slotExact, 0
	case clsDec:
		m.slot, m.scale = slotExact, m.src.Type.Scale
	case clsFloat:
		m.slot = slotFloat
	}
	switch m.slot {
	case slotExact:
		m.out = Type{Kind: KindDecimal, Precision: sumPrecision, Scale: m.scale}
		if m.spec.Func == MeasureAvg {
			m.avgScale = avgScaleFor(m.scale)
			m.out.Scale = m.avgScale
		}
		return nil
	case slotFloat:
		m.out = typeDouble
		return nil
	}
	return fmt.Errorf("%s needs a numeric column (integer, DECIMAL, FLOAT, DOUBLE); %s is %s", m.spec.Func, m.src.Name, m.src.Type)
}

// View returns the view b was bound from.
func (b *BoundView) View() *View { return b.view }

// Schema returns the schema b was bound to.
func (b *BoundView) Schema() *TableSchema { return b.schema }

// Columns returns the view's output columns: group keys in declaration
// order, then measures (a mirror: its selected columns). The caller may
// modify the returned slice.
func (b *BoundView) Columns() []OutputColumn { return append([]OutputColumn(nil), b.cols...) }

// AggLayout is the view's aggregate token layout (see View.AggLayout); ""
// for a mirror.
func (b *BoundView) AggLayout() string {
	if b.shape == nil {
		return ""
	}
	return b.shape.layout
}

// DecodeAgg parses a stored aggregate state of b's view.
func (b *BoundView) DecodeAgg(p []byte) (*Agg, error) {
	if b.shape == nil {
		return nil, fmt.Errorf("decoding aggregate of view %s: a mirror has no aggregates", b.view.Name)
	}
	return decodeAgg(b.shape, p)
}

// NewAgg returns an empty state of b's view.
func (b *BoundView) NewAgg() *Agg {
	if b.shape == nil {
		return &Agg{}
	}
	return newAgg(b.shape)
}
