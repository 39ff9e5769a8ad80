package formats

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
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

// mval is one measure's input from one row.
type mval struct {
	null bool
	i    int64    // slotExact: the value scaled by 10^scale, when it fits
	big  *big.Int // slotExact: the scaled value when it does not fit i
	f    float64  // slotFloat
}

// maxInlineMeasures is how many measures Accumulate handles without
// allocating its scratch space.
const maxInlineMeasures = 8

// Accumulate adds one row change to d: it subtracts the Before row's
// contribution when it matched the where clause and adds the After row's.
// An update that moves a row between groups touches two keys; one that
// stays in its group leaves a count-0 delta with the sums' difference.
//
// ev.Table must be the view's table and ev's rows must follow b's schema.
// A value whose Go type is not canonical for its column is an error and d
// is left unchanged.
func (b *BoundView) Accumulate(ev Event, d Delta) error {
	if b.shape == nil {
		return fmt.Errorf("accumulating into view %s: a mirror has no aggregates", b.view.Name)
	}
	if ev.Table != b.view.From {
		return fmt.Errorf("accumulating %s event into view %s of %s", ev.Table, b.view.Name, b.view.From)
	}
	if ev.Schema != nil && ev.Schema != b.schema && !b.sameColumns(ev.Schema) {
		return fmt.Errorf("accumulating %s event at %s into view %s: the event's schema differs from the bound one; bind the view to the event's schema", ev.Table, ev.Pos, b.view.Name)
	}
	var kbOld, kbNew [128]byte
	var vOld, vNew [maxInlineMeasures]mval
	oldVals, newVals := vOld[:0], vNew[:0]
	if n := len(b.meas); n <= maxInlineMeasures {
		oldVals, newVals = vOld[:n], vNew[:n]
	} else {
		oldVals, newVals = make([]mval, n), make([]mval, n)
	}
	var (
		oldOK, newOK   bool
		oldKey, newKey []byte
		err            error
	)
	switch ev.Op {
	case OpInsert:
		if newOK, newKey, err = b.contrib(ev.After, kbNew[:0], newVals); err != nil {
			return fmt.Errorf("accumulating insert at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
	case OpDelete:
		if oldOK, oldKey, err = b.contrib(ev.Before, kbOld[:0], oldVals); err != nil {
			return fmt.Errorf("accumulating delete at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
	case OpUpdate:
		if oldOK, oldKey, err = b.contrib(ev.Before, kbOld[:0], oldVals); err != nil {
			return fmt.Errorf("accumulating update (before image) at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
		if newOK, newKey, err = b.contrib(ev.After, kbNew[:0], newVals); err != nil {
			return fmt.Errorf("accumulating update (after image) at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
	default:
		return fmt.Errorf("accumulating event at %s into view %s: unknown op %s", ev.Pos, b.view.Name, ev.Op)
	}
	if oldOK {
		b.apply(d, oldKey, oldVals, -1)
	}
	if newOK {
		b.apply(d, newKey, newVals, 1)
	}
	return nil
}

// AccumulateRow adds (sign +1) or subtracts (sign -1) one row's
// contribution to d: the batch layer and bootstrap feed table rows through
// it. A row that fails the where clause adds nothing.
func (b *BoundView) AccumulateRow(r Row, sign int, d Delta) error {
	if b.shape == nil {
		return fmt.Errorf("accumulating into view %s: a mirror has no aggregates", b.view.Name)
	}
	if sign != 1 && sign != -1 {
		return fmt.Errorf("accumulating into view %s: sign %d, want +1 or -1", b.view.Name, sign)
	}
	var kb [128]byte
	var vs [maxInlineMeasures]mval
	vals := vs[:0]
	if n := len(b.meas); n <= maxInlineMeasures {
		vals = vs[:n]
	} else {
		vals = make([]mval, n)
	}
	ok, key, err := b.contrib(r, kb[:0], vals)
	if err != nil {
		return fmt.Errorf("accumulating row into view %s: %w", b.view.Name, err)
	}
	if ok {
		b.apply(d, key, vals, int64(sign))
	}
	return nil
}

func (b *BoundView) sameColumns(s *TableSchema) bool {
	if len(s.Columns) != len(b.schema.Columns) {
		return false
	}
	for _, i := range b.used {
		x, y := s.Columns[i], b.schema.Columns[i]
		if !strings.EqualFold(x.Name, y.Name) || x.Type.Kind != y.Type.Kind || x.Type.Unsigned != y.Type.Unsigned || x.Type.Scale != y.Type.Scale {
			return false
		}
	}
	return true
}

// contrib evaluates one row: whether it passes the where clause, its group
// key (appended to kb) and its measure inputs (written to vals).
func (b *BoundView) contrib(r Row, kb []byte, vals []mval) (bool, []byte, error) {
	if len(r) != len(b.schema.Columns) {
		return false, nil, fmt.Errorf("row has %d values, schema of %s has %d columns", len(r), b.schema.Table, len(b.schema.Columns))
	}
	if b.where != nil {
		switch b.where(r) {
		case triTrue:
		case triErr:
			return false, nil, b.typeError(r)
		default:
			return false, nil, nil
		}
	}
	key := kb
	for i := range b.keys {
		if i > 0 {
			key = append(key, keySep)
		}
		var ok bool
		if key, ok = b.keys[i].appendPart(key, r[b.keys[i].col]); !ok {
			return false, nil, b.typeError(r)
		}
	}
	for i := range b.meas {
		m := &b.meas[i]
		if m.slot == slotCount {
			continue
		}
		if err := m.extract(r[m.col], &vals[i]); err != nil {
			return false, nil, err
		}
	}
	return true, key, nil
}

func (b *BoundView) typeError(r Row) error {
	for _, i := range b.used {
		c := b.schema.Columns[i]
		if v := r[i]; v != nil && !classHolds(classOf(c.Type), v) {
			return fmt.Errorf("column %s (%s) holds %T, want %s", c.Name, c.Type, v, classGoType[classOf(c.Type)])
		}
	}
	return errors.New("row values are not canonical for the schema")
}

// apply adds one row's contribution, multiplied by sign, to d.
func (b *BoundView) apply(d Delta, key []byte, vals []mval, sign int64) {
	a := d[GroupKey(key)]
	if a == nil {
		a = newAgg(b.shape)
		d[GroupKey(key)] = a
	}
	a.Count += sign
	for i := range b.meas {
		slot := b.meas[i].slot
		if slot == slotCount || vals[i].null {
			continue
		}
		m, v := &a.m[i], &vals[i]
		m.nn += sign
		switch slot {
		case slotExact:
			switch {
			case v.big != nil:
				m.sum.addBig(v.big, sign < 0)
			case sign > 0:
				m.sum.addInt64(v.i)
			case v.i == math.MinInt64:
				m.sum.addBig(big.NewInt(v.i), true)
			default:
				m.sum.addInt64(-v.i)
			}
		case slotFloat:
			if sign > 0 {
				m.f += v.f
			} else {
				m.f -= v.f
			}
		}
	}
}

// extract reads a measure's input value.
func (m *boundMeasure) extract(v any, out *mval) error {
	*out = mval{}
	if v == nil {
		out.null = true
		return nil
	}
	if m.slot == slotNN {
		return nil
	}
	switch x := v.(type) {
	case int64:
		if m.cls == clsInt {
			out.i = x
			return nil
		}
	case uint64:
		if m.cls == clsUint {
			if x <= math.MaxInt64 {
				out.i = int64(x)
			} else {
				out.big = new(big.Int).SetUint64(x)
			}
			return nil
		}
	case float64:
		if m.cls == clsFloat {
			out.f = x
			return nil
		}
	case Decimal:
		if m.cls == clsDec {
			return decimalInput(string(x), m.scale, out)
		}
	case string:
		if m.cls == clsDec {
			return decimalInput(x, m.scale, out)
		}
	}
	return fmt.Errorf("column %s (%s) holds %T, want %s", m.src.Name, m.src.Type, v, classGoType[m.cls])
}

// decimalInput scales a DECIMAL's text by 10^scale into out.i, or out.big
// when it has more than 18 digits.
func decimalInput(s string, scale int, out *mval) error {
	if n, ok := scaledInt64(s, scale); ok {
		out.i = n
		return nil
	}
	n, err := Decimal(s).Scaled(scale)
	if err != nil {
		return fmt.Errorf("decimal %q: %w", s, err)
	}
	out.big = n
	return nil
}

// scaledInt64 is the allocation-free path of decimalInput: canonical-looking
// text ("-12.50") with at most scale fraction digits and at most 18 digits
// in all.
func scaledInt64(s string, scale int) (int64, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	var n int64
	nd, frac, seenPoint := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if nd++; nd > 18 {
				return 0, false
			}
			n = n*10 + int64(c-'0')
			if seenPoint {
				frac++
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		default:
			return 0, false
		}
	}
	if nd == 0 || frac > scale {
		return 0, false
	}
	for ; frac < scale; frac++ {
		if nd++; nd > 18 {
			return 0, false
		}
		n *= 10
	}
	if neg {
		n = -n
	}
	return n, true
}

// keySep separates key parts; keyEsc escapes it, itself and marks NULL.
const (
	keySep = '|'
	keyEsc = '\\'
)

// timeKeyLayout is the text each time transform renders, by keyKind.
var timeKeyLayout = map[keyKind]string{kkYear: "YYYY", kkMonth: "YYYY-MM", kkDay: "YYYY-MM-DD", kkHour: "YYYY-MM-DD HH"}

// appendPart appends the key part of v, reporting false when v has the
// wrong Go type.
func (k *boundKey) appendPart(dst []byte, v any) ([]byte, bool) {
	if v == nil {
		return append(dst, keyEsc, 'N'), true
	}
	switch k.kind {
	case kkValue:
		if !classHolds(k.cls, v) {
			return dst, false
		}
		return appendKeyValue(dst, k.out, v), true
	case kkYear, kkMonth, kkDay, kkHour:
		t, ok := v.(time.Time)
		if !ok {
			return dst, false
		}
		return appendTimeKey(dst, t, k.kind), true
	case kkTruncInt:
		x, ok := v.(int64)
		if !ok {
			return dst, false
		}
		return strconv.AppendInt(dst, truncInt(x, k.width), 10), true
	case kkTruncUint:
		x, ok := v.(uint64)
		if !ok {
			return dst, false
		}
		return strconv.AppendUint(dst, x-x%uint64(k.width), 10), true
	case kkTruncStr:
		s, ok := v.(string)
		if !ok {
			return dst, false
		}
		return appendEscaped(dst, truncRunes(s, k.width)), true
	case kkTruncBytes:
		p, ok := v.([]byte)
		if !ok {
			return dst, false
		}
		if int64(len(p)) > k.width {
			p = p[:k.width]
		}
		return appendEscaped(dst, FormatText(k.out, p)), true
	}
	return dst, false
}

// truncInt is floor(x/w)*w. At the bottom of the int64 range, where the
// result does not exist, it saturates at the lowest multiple of w
// (MySQL reports an out-of-range error there).
func truncInt(x, w int64) int64 {
	q := x / w
	if x%w < 0 {
		q--
	}
	if q < math.MinInt64/w {
		q++
	}
	return q * w
}

// truncRunes returns the first w characters of s (MySQL LEFT on a
// character column).
func truncRunes(s string, w int64) string {
	if int64(len(s)) <= w {
		return s
	}
	n := int64(0)
	for i := range s {
		if n == w {
			return s[:i]
		}
		n++
	}
	return s
}

// appendTimeKey renders year/month/day/hour of t as DATE_FORMAT does; the
// zero date renders as zeros ("0000-00-00").
func appendTimeKey(dst []byte, t time.Time, k keyKind) []byte {
	var y, mo, d, h int
	if !t.IsZero() {
		var m time.Month
		y, m, d = t.Date()
		mo, h = int(m), t.Hour()
	}
	dst = append(dst, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
	if k == kkYear {
		return dst
	}
	dst = append(dst, '-', byte('0'+mo/10), byte('0'+mo%10))
	if k == kkMonth {
		return dst
	}
	dst = append(dst, '-', byte('0'+d/10), byte('0'+d%10))
	if k == kkDay {
		return dst
	}
	return append(dst, ' ', byte('0'+h/10), byte('0'+h%10))
}

// appendKeyValue appends the key text of v, a canonical value of type t:
// FormatText's form, escaped. A float's negative zero is written as zero,
// because SQL groups them together.
func appendKeyValue(dst []byte, t Type, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, keyEsc, 'N')
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case Decimal:
		return appendEscaped(dst, string(x))
	case string:
		return appendEscaped(dst, x)
	case float64:
		if x == 0 {
			x = 0
		}
		return appendEscaped(dst, FormatText(t, x))
	}
	return appendEscaped(dst, FormatText(t, v))
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == keySep || c == keyEsc {
			dst = append(dst, keyEsc)
		}
		dst = append(dst, s[i])
	}
	return dst
}

// keyTypes returns the types of the key columns: a view's group keys, a
// mirror's primary key columns in key order.
func (b *BoundView) keyTypes() []Type {
	var ts []Type
	if b.view.Mirror {
		for _, p := range b.pk {
			ts = append(ts, b.schema.Columns[p].Type)
		}
		return ts
	}
	for _, k := range b.keys {
		ts = append(ts, k.out)
	}
	return ts
}

// EncodeKey returns the GroupKey of the key values vals (canonical values
// of the key columns' output types, in order): what Accumulate files a row
// under, or a mirror row's primary key values in primary key order.
func (b *BoundView) EncodeKey(vals []any) (GroupKey, error) {
	ts := b.keyTypes()
	if len(vals) != len(ts) {
		return "", fmt.Errorf("encoding key of view %s: %d values, want %d", b.view.Name, len(vals), len(ts))
	}
	var k []byte
	for i, v := range vals {
		if i > 0 {
			k = append(k, keySep)
		}
		if v != nil && !classHolds(classOf(ts[i]), v) {
			return "", fmt.Errorf("encoding key of view %s: value %d is %T, want %s for %s", b.view.Name, i, v, classGoType[classOf(ts[i])], ts[i])
		}
		k = appendKeyValue(k, ts[i], v)
	}
	return GroupKey(k), nil
}

// DecodeKey returns the key values k encodes, typed as the key columns'
// output types.
func (b *BoundView) DecodeKey(k GroupKey) ([]any, error) {
	ts := b.keyTypes()
	vals := make([]any, 0, len(ts))
	if len(ts) == 0 {
		if k != "" {
			return nil, fmt.Errorf("decoding key %q of view %s: the view has no group keys", k, b.view.Name)
		}
		return vals, nil
	}
	s := string(k)
	var part []byte
	for i := 0; ; i++ {
		if i >= len(ts) {
			return nil, fmt.Errorf("decoding key %q of view %s: more than %d parts", k, b.view.Name, len(ts))
		}
		end, null := 0, false
		part = part[:0]
		for end < len(s) && s[end] != keySep {
			if s[end] == keyEsc {
				if end+1 >= len(s) {
					return nil, fmt.Errorf("decoding key %q of view %s: dangling escape", k, b.view.Name)
				}
				switch c := s[end+1]; c {
				case keySep, keyEsc:
					part = append(part, c)
				case 'N':
					null = true
				default:
					return nil, fmt.Errorf("decoding key %q of view %s: bad escape \\%c", k, b.view.Name, c)
				}
				end += 2
				continue
			}
			part = append(part, s[end])
			end++
		}
		if null {
			if end != 2 || s[:2] != `\N` {
				return nil, fmt.Errorf(`decoding key %q of view %s: \N inside a value`, k, b.view.Name)
			}
			vals = append(vals, nil)
		} else {
			v, err := ParseText(ts[i], string(part))
			if err != nil {
				return nil, fmt.Errorf("decoding key %q of view %s: %w", k, b.view.Name, err)
			}
			vals = append(vals, v)
		}
		if end == len(s) {
			break
		}
		s = s[end+1:]
	}
	if len(vals) != len(ts) {
		return nil, fmt.Errorf("decoding key %q of view %s: %d parts, want %d", k, b.view.Name, len(vals), len(ts))
	}
	return vals, nil
}

// Result returns the answer row of group k with merged state a: the key
// values, then per measure count() and count(col) as int64, sum as Decimal
// (integer and DECIMAL columns) or float64, avg as Decimal (scale S+4,
// rounded half away from zero, as MySQL's AVG) or float64; sum and avg are
// nil when the group has no non-NULL input. It returns false when the group
// is absent (a.Count <= 0) or k does not decode (DecodeKey reports why).
func (b *BoundView) Result(k GroupKey, a *Agg) (Row, bool) {
	if b.shape == nil || a == nil || a.Count <= 0 {
		return nil, false
	}
	keys, err := b.DecodeKey(k)
	if err != nil {
		return nil, false
	}
	row := make(Row, 0, len(b.cols))
	row = append(row, keys...)
	for i := range b.meas {
		m := &b.meas[i]
		var st aggMeasure
		if i < len(a.m) {
			st = a.m[i]
		}
		switch {
		case m.spec.Func == MeasureCount && m.col < 0:
			row = append(row, a.Count)
		case m.spec.Func == MeasureCount:
			row = append(row, st.nn)
		case st.nn <= 0:
			row = append(row, nil)
		case m.slot == slotFloat && m.spec.Func == MeasureSum:
			row = append(row, st.f)
		case m.slot == slotFloat:
			row = append(row, st.f/float64(st.nn))
		case m.spec.Func == MeasureSum:
			row = append(row, DecimalFromScaled(st.sum.value(), m.scale))
		default:
			row = append(row, avgDecimal(st.sum.value(), st.nn, m.scale, m.avgScale))
		}
	}
	return row, true
}

// avgDecimal is sum/nn at scale outScale, sum being scaled by 10^scale,
// rounded half away from zero.
func avgDecimal(sum *big.Int, nn int64, scale, outScale int) Decimal {
	num := new(big.Int).Mul(sum, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(outScale-scale)), nil))
	den := big.NewInt(nn)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	r.Abs(r).Lsh(r, 1)
	if r.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return DecimalFromScaled(q, outScale)
}

// MirrorKey returns the GroupKey of a mirror row: its primary key values.
func (b *BoundView) MirrorKey(r Row) (GroupKey, error) {
	if !b.view.Mirror {
		return "", fmt.Errorf("view %s is not a mirror", b.view.Name)
	}
	if len(r) != len(b.schema.Columns) {
		return "", fmt.Errorf("mirror %s: row has %d values, schema of %s has %d columns", b.view.Name, len(r), b.schema.Table, len(b.schema.Columns))
	}
	var k []byte
	for i, p := range b.pk {
		if i > 0 {
			k = append(k, keySep)
		}
		c := b.schema.Columns[p]
		if v := r[p]; v != nil && !classHolds(classOf(c.Type), v) {
			return "", fmt.Errorf("mirror %s: column %s (%s) holds %T, want %s", b.view.Name, c.Name, c.Type, v, classGoType[classOf(c.Type)])
		}
		k = appendKeyValue(k, c.Type, r[p])
	}
	return GroupKey(k), nil
}

// Project returns a mirror row's output columns (Columns order) from a
// table row. The values are shared with r, not copied.
func (b *BoundView) Project(r Row) Row {
	return b.ProjectTo(make(Row, 0, len(b.mirror)), r)
}

// ProjectTo is Project appending to dst[:0], so that a caller projecting
// row after row reuses one slice.
func (b *BoundView) ProjectTo(dst, r Row) Row {
	dst = dst[:0]
	for _, c := range b.mirror {
		var v any
		if c < len(r) {
			v = r[c]
		}
		dst = append(dst, v)
	}
	return dst
}

// RowsEqual reports whether two answer rows of b (Result, ParseVerifyRow)
// are equal: exactly, except float measures, which may differ by 1e-9
// relative (summation order changes the last bits).
func (b *BoundView) RowsEqual(x, y Row) bool {
	if len(x) != len(b.cols) || len(y) != len(b.cols) {
		return false
	}
	for i, c := range b.cols {
		p, q := x[i], y[i]
		if p == nil || q == nil {
			if p != nil || q != nil {
				return false
			}
			continue
		}
		if !c.Key && c.Type.Kind == KindDouble {
			f, ok1 := p.(float64)
			g, ok2 := q.(float64)
			if !ok1 || !ok2 || !floatClose(f, g) {
				return false
			}
			continue
		}
		if pb, ok := p.([]byte); ok {
			qb, ok := q.([]byte)
			if !ok || !bytes.Equal(pb, qb) {
				return false
			}
			continue
		}
		if p != q {
			if pt, ok := p.(time.Time); ok {
				if qt, ok := q.(time.Time); ok && pt.Equal(qt) {
					continue
				}
			}
			return false
		}
	}
	return true
}

func floatClose(a, b float64) bool {
	if a == b {
		return true
	}
	scale := math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
	return math.Abs(a-b) <= 1e-9*scale
}

// tri is SQL's three-valued logic, plus triErr for a value of the wrong Go
// type (a decoder bug, reported by Accumulate rather than guessed around).
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
	triErr
)

func toTri(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// pred is a compiled where clause; a row passes when it returns triTrue.
type pred func(Row) tri

// whereCompiler resolves a where expression against a schema and compiles
// it into closures. Literals are converted to the compared column's Go
// type once, at Bind.
type whereCompiler struct {
	s    *TableSchema
	used *[]int
}

// operand is a resolved comparison operand: a column (col >= 0) or a
// literal.
type operand struct {
	col int
	c   Column
	lit *ExprLiteral
}

func (w *whereCompiler) operand(o ExprOperand) (operand, error) {
	switch x := o.(type) {
	case *ExprColumn:
		i := w.s.ColumnIndex(x.Name)
		if i < 0 {
			return operand{}, fmt.Errorf("unknown column %q in %s", x.Name, w.s.Table)
		}
		*w.used = appendUnique(*w.used, i)
		return operand{col: i, c: w.s.Columns[i]}, nil
	case *ExprLiteral:
		return operand{col: -1, lit: x}, nil
	}
	return operand{}, fmt.Errorf("unexpected operand %T", o)
}

func (w *whereCompiler) compile(e Expr) (pred, error) {
	switch x := e.(type) {
	case *ExprAnd, *ExprOr:
		var terms []Expr
		if a, ok := x.(*ExprAnd); ok {
			terms = a.Terms
		} else {
			terms = x.(*ExprOr).Terms
		}
		ps := make([]pred, len(terms))
		for i, t := range terms {
			p, err := w.compile(t)
			if err != nil {
				return nil, err
			}
			ps[i] = p
		}
		if _, ok := x.(*ExprAnd); ok {
			return andPred(ps), nil
		}
		return orPred(ps), nil
	case *ExprNot:
		p, err := w.compile(x.X)
		if err != nil {
			return nil, err
		}
		return func(r Row) tri {
			switch t := p(r); t {
			case triTrue:
				return triFalse
			case triFalse:
				return triTrue
			default:
				return t
			}
		}, nil
	case *ExprIsNull:
		o, err := w.operand(x.Operand)
		if err != nil {
			return nil, err
		}
		not := x.Not
		if o.col < 0 {
			return constPred(toTri((o.lit.Kind == LitNull) != not)), nil
		}
		i := o.col
		return func(r Row) tri { return toTri((r[i] == nil) != not) }, nil
	case *ExprCompare:
		return w.compare(x)
	case *ExprIn:
		return w.in(x)
	}
	return nil, fmt.Errorf("unexpected expression %T", e)
}

func constPred(t tri) pred { return func(Row) tri { return t } }

func andPred(ps []pred) pred {
	return func(r Row) tri {
		res := triTrue
		for _, p := range ps {
			switch p(r) {
			case triFalse:
				return triFalse
			case triErr:
				return triErr
			case triNull:
				res = triNull
			}
		}
		return res
	}
}

func orPred(ps []pred) pred {
	return func(r Row) tri {
		res := triFalse
		for _, p := range ps {
			switch p(r) {
			case triTrue:
				return triTrue
			case triErr:
				return triErr
			case triNull:
				res = triNull
			}
		}
		return res
	}
}

// opHolds reports whether a comparison result c (-1, 0, +1) satisfies op.
func opHolds(op CompareOp, c int) bool {
	switch op {
	case CmpEQ:
		return c == 0
	case CmpNE:
		return c != 0
	case CmpLT:
		return c < 0
	case CmpLE:
		return c <= 0
	case CmpGT:
		return c > 0
	case CmpGE:
		return c >= 0
	}
	return false
}

// valueCmp compares a row value with a bound literal: -1, 0, +1, and false
// when the value has the wrong Go type.
type valueCmp func(v any) (int, bool)

func (w *whereCompiler) compare(x *ExprCompare) (pred, error) {
	l, err := w.operand(x.Left)
	if err != nil {
		return nil, err
	}
	r, err := w.operand(x.Right)
	if err != nil {
		return nil, err
	}
	op := x.Op
	if l.col < 0 && r.col < 0 {
		c, err := compareLiterals(l.lit, r.lit)
		if err != nil {
			return nil, err
		}
		return constPred(toTri(opHolds(op, c))), nil
	}
	if l.col < 0 {
		l, r, op = r, l, op.flip()
	}
	if r.col < 0 {
		cmp, err := literalComparer(l.c, r.lit)
		if err != nil {
			return nil, err
		}
		i := l.col
		return func(row Row) tri {
			v := row[i]
			if v == nil {
				return triNull
			}
			c, ok := cmp(v)
			if !ok {
				return triErr
			}
			return toTri(opHolds(op, c))
		}, nil
	}
	cmp2, err := columnsComparer(l.c, r.c)
	if err != nil {
		return nil, err
	}
	i, j := l.col, r.col
	return func(row Row) tri {
		a, b := row[i], row[j]
		if a == nil || b == nil {
			return triNull
		}
		c, ok := cmp2(a, b)
		if !ok {
			return triErr
		}
		return toTri(opHolds(op, c))
	}, nil
}

func (w *whereCompiler) in(x *ExprIn) (pred, error) {
	l, err := w.operand(x.Left)
	if err != nil {
		return nil, err
	}
	not := x.Not
	hasNull := false
	// finish turns "matched" into the result of [NOT] IN under SQL rules: no
	// match against a list holding NULL is unknown.
	finish := func(matched bool) tri {
		switch {
		case matched:
			return toTri(!not)
		case hasNull:
			return triNull
		}
		return toTri(not)
	}
	if l.col < 0 {
		if l.lit.Kind == LitNull {
			return constPred(triNull), nil
		}
		matched := false
		for _, lit := range x.List {
			if lit.Kind == LitNull {
				hasNull = true
				continue
			}
			c, err := compareLiterals(l.lit, lit)
			if err != nil {
				return nil, fmt.Errorf("IN list: %w", err)
			}
			matched = matched || c == 0
		}
		return constPred(finish(matched)), nil
	}
	var cmps []valueCmp
	var strs []string
	allStrings := classOf(l.c.Type) == clsStr
	for _, lit := range x.List {
		if lit.Kind == LitNull {
			hasNull = true
			continue
		}
		cmp, err := literalComparer(l.c, lit)
		if err != nil {
			return nil, fmt.Errorf("IN list: %w", err)
		}
		cmps = append(cmps, cmp)
		strs = append(strs, lit.Text)
	}
	i := l.col
	if allStrings {
		set := make(map[string]struct{}, len(strs))
		for _, s := range strs {
			set[s] = struct{}{}
		}
		return func(r Row) tri {
			v := r[i]
			if v == nil {
				return triNull
			}
			s, ok := v.(string)
			if !ok {
				return triErr
			}
			_, m := set[s]
			return finish(m)
		}, nil
	}
	return func(r Row) tri {
		v := r[i]
		if v == nil {
			return triNull
		}
		for _, cmp := range cmps {
			c, ok := cmp(v)
			if !ok {
				return triErr
			}
			if c == 0 {
				return finish(true)
			}
		}
		return finish(false)
	}, nil
}

func litKindName(k LiteralKind) string {
	switch k {
	case LitInteger:
		return "integer"
	case LitDecimal:
		return "decimal"
	case LitString:
		return "string"
	case LitNull:
		return "NULL"
	case LitBool:
		return "boolean"
	}
	return "literal"
}

// numberText returns a numeric literal's decimal text (TRUE is 1, FALSE 0).
func numberText(l *ExprLiteral) (string, bool) {
	switch l.Kind {
	case LitInteger, LitDecimal:
		return l.Text, true
	case LitBool:
		if l.Text == "TRUE" {
			return "1", true
		}
		return "0", true
	}
	return "", false
}

func compareLiterals(a, b *ExprLiteral) (int, error) {
	if x, ok := numberText(a); ok {
		if y, ok := numberText(b); ok {
			return cmpDecimalText(x, y), nil
		}
	}
	if a.Kind == LitString && b.Kind == LitString {
		return strings.Compare(a.Text, b.Text), nil
	}
	return 0, fmt.Errorf("cannot compare %s literal %s with %s literal %s", litKindName(a.Kind), a, litKindName(b.Kind), b)
}

func incompatible(c Column, l *ExprLiteral) error {
	return fmt.Errorf("cannot compare %s column %s with %s literal %s", c.Type, c.Name, litKindName(l.Kind), l)
}

// Literal types the where clause reads temporal strings as.
var (
	typeLitDateTime = Type{Kind: KindDateTime, FSP: 6}
	typeLitTime     = Type{Kind: KindTime, FSP: 6}
)

// literalTime parses a string literal compared with a DATE, DATETIME or
// TIMESTAMP column ('2024-01-31' or '2024-01-31 12:00:00[.ffffff]', read as
// UTC).
func literalTime(c Column, l *ExprLiteral) (time.Time, error) {
	if l.Kind != LitString {
		return time.Time{}, incompatible(c, l)
	}
	v, err := ParseText(typeLitDateTime, l.Text)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not a date ('YYYY-MM-DD') or datetime ('YYYY-MM-DD HH:MM:SS[.ffffff]') to compare with %s column %s", l, c.Type, c.Name)
	}
	return v.(time.Time), nil
}

func literalDuration(c Column, l *ExprLiteral) (time.Duration, error) {
	if l.Kind != LitString {
		return 0, incompatible(c, l)
	}
	v, err := ParseText(typeLitTime, l.Text)
	if err != nil {
		return 0, fmt.Errorf("%s is not a time ('[-]HH:MM:SS[.ffffff]') to compare with %s column %s", l, c.Type, c.Name)
	}
	return v.(time.Duration), nil
}

// literalComparer compiles the comparison of column c's values with l.
func literalComparer(c Column, l *ExprLiteral) (valueCmp, error) {
	switch c.Type.Kind {
	case KindJSON, KindGeometry:
		return nil, fmt.Errorf("cannot compare %s column %s (where compares numbers, strings and temporal values)", c.Type, c.Name)
	}
	switch classOf(c.Type) {
	case clsInt, clsUint, clsDec, clsFloat:
		text, ok := numberText(l)
		if !ok {
			return nil, incompatible(c, l)
		}
		return numberComparer(classOf(c.Type), text), nil
	case clsStr:
		if l.Kind != LitString {
			return nil, incompatible(c, l)
		}
		lit := l.Text
		return func(v any) (int, bool) {
			s, ok := v.(string)
			return strings.Compare(s, lit), ok
		}, nil
	case clsBytes:
		if l.Kind != LitString {
			return nil, incompatible(c, l)
		}
		lit := []byte(l.Text)
		return func(v any) (int, bool) {
			p, ok := v.([]byte)
			return bytes.Compare(p, lit), ok
		}, nil
	case clsTime:
		t, err := literalTime(c, l)
		if err != nil {
			return nil, err
		}
		return func(v any) (int, bool) {
			x, ok := v.(time.Time)
			return x.Compare(t), ok
		}, nil
	case clsDur:
		d, err := literalDuration(c, l)
		if err != nil {
			return nil, err
		}
		return func(v any) (int, bool) {
			x, ok := v.(time.Duration)
			return cmpOrdered(x, d), ok
		}, nil
	}
	return nil, fmt.Errorf("cannot compare %s column %s", c.Type, c.Name)
}

func cmpOrdered[T int64 | uint64 | float64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// numberComparer compares values of a numeric class with the exact decimal
// number text, as MySQL does: integers and DECIMAL exactly, FLOAT/DOUBLE as
// doubles.
func numberComparer(cls valClass, text string) valueCmp {
	switch cls {
	case clsFloat:
		f, _ := strconv.ParseFloat(text, 64)
		return func(v any) (int, bool) {
			x, ok := v.(float64)
			return cmpOrdered(x, f), ok
		}
	case clsDec:
		return func(v any) (int, bool) {
			switch x := v.(type) {
			case Decimal:
				return cmpDecimalText(string(x), text), true
			case string:
				return cmpDecimalText(x, text), true
			}
			return 0, false
		}
	}
	if cls == clsInt {
		c := intLiteralCmp(text)
		return func(v any) (int, bool) { x, ok := v.(int64); return c(x), ok }
	}
	c := uintLiteralCmp(text)
	return func(v any) (int, bool) { x, ok := v.(uint64); return c(x), ok }
}

// literalFloor returns floor(r) of the exact decimal number text r, and the
// comparison result of a value equal to floor(r) with r: 0 when r is
// integral, -1 when it is not (floor(r) < r).
func literalFloor(text string) (*big.Int, int) {
	r, _ := new(big.Rat).SetString(text)
	fl := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floor for a positive denominator
	if r.IsInt() {
		return fl, 0
	}
	return fl, -1
}

// intLiteralCmp compares an int64 with the exact decimal number text: x op
// r <=> compare x with floor(r), ties broken by whether r is integral.
// floor(r) may lie outside int64's range.
func intLiteralCmp(text string) func(x int64) int {
	fl, tie := literalFloor(text)
	if !fl.IsInt64() {
		always := 1 // every int64 is above a floor below MinInt64
		if fl.Sign() > 0 {
			always = -1
		}
		return func(int64) int { return always }
	}
	f := fl.Int64()
	return func(x int64) int {
		if c := cmpOrdered(x, f); c != 0 {
			return c
		}
		return tie
	}
}

// uintLiteralCmp is intLiteralCmp for uint64 values.
func uintLiteralCmp(text string) func(x uint64) int {
	fl, tie := literalFloor(text)
	if fl.Sign() < 0 || !fl.IsUint64() {
		always := 1
		if fl.Sign() > 0 {
			always = -1
		}
		return func(uint64) int { return always }
	}
	f := fl.Uint64()
	return func(x uint64) int {
		if c := cmpOrdered(x, f); c != 0 {
			return c
		}
		return tie
	}
}

// decimalParts splits a decimal's text into its sign, integer digits
// without leading zeros and fraction digits without trailing zeros, without
// allocating.
func decimalParts(s string) (neg bool, intPart, frac string) {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	intPart, frac, _ = strings.Cut(s, ".")
	return neg, strings.TrimLeft(intPart, "0"), strings.TrimRight(frac, "0")
}

// cmpDecimalText orders two decimal texts by value, whatever their scales.
func cmpDecimalText(a, b string) int {
	an, ai, af := decimalParts(a)
	bn, bi, bf := decimalParts(b)
	an = an && (ai != "" || af != "")
	bn = bn && (bi != "" || bf != "")
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	c := cmpOrdered(int64(len(ai)), int64(len(bi)))
	if c == 0 {
		c = strings.Compare(ai, bi)
	}
	if c == 0 {
		c = strings.Compare(af, bf)
	}
	if an {
		return -c
	}
	return c
}

// columnsComparer compiles the comparison of two columns' values.
func columnsComparer(a, b Column) (func(x, y any) (int, bool), error) {
	ca, cb := classOf(a.Type), classOf(b.Type)
	bad := func() error {
		return fmt.Errorf("cannot compare %s column %s with %s column %s", a.Type, a.Name, b.Type, b.Name)
	}
	for _, c := range []Column{a, b} {
		if c.Type.Kind == KindJSON || c.Type.Kind == KindGeometry {
			return nil, bad()
		}
	}
	numeric := func(c valClass) bool { return c == clsInt || c == clsUint || c == clsDec || c == clsFloat }
	switch {
	case numeric(ca) && numeric(cb):
		return func(x, y any) (int, bool) {
			if !classHolds(ca, x) || !classHolds(cb, y) {
				return 0, false
			}
			return compareNumbers(x, y), true
		}, nil
	case (ca == clsStr || ca == clsBytes) && (cb == clsStr || cb == clsBytes):
		return func(x, y any) (int, bool) {
			if !classHolds(ca, x) || !classHolds(cb, y) {
				return 0, false
			}
			return bytes.Compare(asBytes(x), asBytes(y)), true
		}, nil
	case ca == clsTime && cb == clsTime:
		return func(x, y any) (int, bool) {
			p, ok1 := x.(time.Time)
			q, ok2 := y.(time.Time)
			return p.Compare(q), ok1 && ok2
		}, nil
	case ca == clsDur && cb == clsDur:
		return func(x, y any) (int, bool) {
			p, ok1 := x.(time.Duration)
			q, ok2 := y.(time.Duration)
			return cmpOrdered(p, q), ok1 && ok2
		}, nil
	}
	return nil, bad()
}

func asBytes(v any) []byte {
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	return v.([]byte)
}

// compareNumbers orders two canonical numeric values: as doubles when
// either is a float (as MySQL does), else exactly.
func compareNumbers(x, y any) int {
	if f, ok := x.(float64); ok {
		return cmpOrdered(f, toFloat(y))
	}
	if g, ok := y.(float64); ok {
		return cmpOrdered(toFloat(x), g)
	}
	return cmpDecimalText(numberString(x), numberString(y))
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	f, _ := strconv.ParseFloat(numberString(v), 64)
	return f
}

func numberString(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case Decimal:
		return string(x)
	case string:
		return x
	}
	return "0"
}
