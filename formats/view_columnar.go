package formats

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
)

// This file is the view's columnar evaluator, the batch layer's path: the
// same semantics as AccumulateRow, value for value, over Arrow record
// batches whose columns are typed by the one type map (ArrowType). No
// canonical Go value is built per row: the where clause is evaluated one
// comparison at a time down a column into a three-valued mask, and group
// keys and measure inputs are read from the typed arrays. Rare shapes
// (comparing two columns, a FLOAT or temporal value as a key, DECIMALs wider
// than decimal128) read the row's canonical value through ArrowValue and the
// row evaluator's own code, so the two paths cannot drift apart there.

// AccumulateRecord adds the contribution of the rows of rec at the given
// indexes (nil: every row, in order) to d, exactly as AccumulateRow(r, +1,
// d) does for each of those rows r in the same order: the same groups, the
// same exact sums, float sums added in the same order.
//
// rec's columns must follow b's schema in order, each an array of
// ArrowType of its column (snapshot.SchemaOf builds such records). A column
// the view reads with another Arrow type is an error found before any row
// is added, and d is left unchanged; a value that does not read as its
// column's type (a malformed DECIMAL wider than 38 digits, which travels as
// text) stops the call with the rows before it added. rec is only read; the
// caller keeps its reference.
func (b *BoundView) AccumulateRecord(rec arrow.Record, rows []int32, d Delta) error {
	if b.shape == nil {
		return fmt.Errorf("accumulating into view %s: a mirror has no aggregates", b.view.Name)
	}
	if err := b.checkRecord(rec); err != nil {
		return fmt.Errorf("accumulating record batch into view %s: %w", b.view.Name, err)
	}
	n := int(rec.NumRows())
	if rows != nil {
		n = len(rows)
	}
	if n == 0 {
		return nil
	}
	idx := rows
	if idx == nil {
		idx = make([]int32, n)
		for i := range idx {
			idx[i] = int32(i)
		}
	}
	cols := rec.Columns()
	var mask []tri
	if b.cwhere != nil {
		mask = make([]tri, n)
		b.cwhere(cols, idx, mask)
		for k := range mask {
			if mask[k] == triErr {
				return fmt.Errorf("accumulating record batch into view %s: row %d: values are not canonical for the schema", b.view.Name, idx[k])
			}
		}
	}
	keys := make([]keyAppender, len(b.keys))
	for j := range b.keys {
		keys[j] = b.keys[j].columnar(cols[b.keys[j].col])
	}
	meas := make([]measureReader, len(b.meas))
	for j := range b.meas {
		meas[j] = b.meas[j].columnar(cols)
	}
	vals := make([]mval, len(b.meas))
	kb := make([]byte, 0, 128)
	for k, r := range idx {
		if mask != nil && mask[k] != triTrue {
			continue
		}
		i := int(r)
		kb = kb[:0]
		var err error
		for j, ka := range keys {
			if j > 0 {
				kb = append(kb, keySep)
			}
			if kb, err = ka(kb, i); err != nil {
				return fmt.Errorf("accumulating record batch into view %s: row %d: %w", b.view.Name, i, err)
			}
		}
		for j, mr := range meas {
			if mr == nil {
				continue
			}
			if err := mr(i, &vals[j]); err != nil {
				return fmt.Errorf("accumulating record batch into view %s: row %d: %w", b.view.Name, i, err)
			}
		}
		b.apply(d, kb, vals, 1)
	}
	return nil
}

// checkRecord checks that rec has b's columns and that every column the
// view reads has its type map's Arrow type, so the typed readers below may
// assert array types.
func (b *BoundView) checkRecord(rec arrow.Record) error {
	if int(rec.NumCols()) != len(b.schema.Columns) {
		return fmt.Errorf("record has %d columns, schema of %s has %d", rec.NumCols(), b.schema.Table, len(b.schema.Columns))
	}
	for _, i := range b.used {
		c := b.schema.Columns[i]
		want, got := ArrowType(c.Type), rec.Column(i).DataType()
		if want == nil || !arrow.TypeEqual(want, got) {
			return fmt.Errorf("column %s (%s) is an Arrow %s, want %s", c.Name, c.Type, got, want)
		}
	}
	return nil
}

// keyAppender appends the key part of row i of one column.
type keyAppender func(dst []byte, i int) ([]byte, error)

// microsPerDay and microsPerHour bucket temporal keys.
const (
	microsPerHour = int64(time.Hour / time.Microsecond)
	microsPerDay  = 24 * microsPerHour
)

// zeroMicros is time.Time{}.UnixMicro(): the zero time (MySQL's zero
// date) in Unix microseconds, as AppendArrow stores it.
const zeroMicros = -62135596800 * 1_000_000

// columnar returns k's key appender over arr, an array of ArrowType of k's
// column. It holds per-batch state (the last temporal bucket) and must not
// outlive the call that made it.
func (k *boundKey) columnar(arr arrow.Array) keyAppender {
	generic := func(dst []byte, i int) ([]byte, error) {
		v, err := ArrowValue(arr, i, k.src.Type)
		if err != nil {
			return dst, err
		}
		out, ok := k.appendPart(dst, v)
		if !ok {
			return dst, fmt.Errorf("column %s (%s) holds %T, want %s", k.src.Name, k.src.Type, v, classGoType[k.cls])
		}
		return out, nil
	}
	var part keyAppender
	switch k.kind {
	case kkValue:
		switch a := arr.(type) {
		case *array.Int64:
			vs := a.Int64Values()
			part = func(dst []byte, i int) ([]byte, error) { return strconv.AppendInt(dst, vs[i], 10), nil }
		case *array.Uint64:
			vs := a.Uint64Values()
			part = func(dst []byte, i int) ([]byte, error) { return strconv.AppendUint(dst, vs[i], 10), nil }
		case *array.Decimal128:
			vs, scale := a.Values(), k.src.Type.Scale
			part = func(dst []byte, i int) ([]byte, error) { return appendDecimal128(dst, vs[i], scale), nil }
		case *array.String:
			if k.cls == clsStr {
				part = func(dst []byte, i int) ([]byte, error) { return appendEscaped(dst, a.Value(i)), nil }
			}
		}
	case kkYear, kkMonth, kkDay, kkHour:
		var micros func(i int) int64
		switch a := arr.(type) {
		case *array.Date32:
			vs := a.Date32Values()
			micros = func(i int) int64 { return int64(vs[i]) * microsPerDay }
		case *array.Timestamp:
			vs := a.TimestampValues()
			micros = func(i int) int64 { return int64(vs[i]) }
		}
		if micros != nil {
			part = timeKeyAppender(micros, k.kind)
		}
	case kkTruncInt:
		if a, ok := arr.(*array.Int64); ok {
			vs, w := a.Int64Values(), k.width
			part = func(dst []byte, i int) ([]byte, error) { return strconv.AppendInt(dst, truncInt(vs[i], w), 10), nil }
		}
	case kkTruncUint:
		if a, ok := arr.(*array.Uint64); ok {
			vs, w := a.Uint64Values(), uint64(k.width)
			part = func(dst []byte, i int) ([]byte, error) { return strconv.AppendUint(dst, vs[i]-vs[i]%w, 10), nil }
		}
	case kkTruncStr:
		if a, ok := arr.(*array.String); ok {
			w := k.width
			part = func(dst []byte, i int) ([]byte, error) { return appendEscaped(dst, truncRunes(a.Value(i), w)), nil }
		}
	}
	if part == nil {
		part = generic
	}
	if arr.NullN() == 0 {
		return part
	}
	return func(dst []byte, i int) ([]byte, error) {
		if arr.IsNull(i) {
			return append(dst, keyEsc, 'N'), nil
		}
		return part(dst, i)
	}
}

// timeKeyAppender renders year/month/day/hour keys of temporal values given
// in Unix microseconds. Consecutive rows mostly fall in the same bucket (an
// hour or a day), whose text is then copied instead of recomputed; the zero
// date renders as zeros (appendTimeKey) and is never cached, as other
// instants of its day render differently.
func timeKeyAppender(micros func(i int) int64, kind keyKind) keyAppender {
	unit := microsPerDay
	if kind == kkHour {
		unit = microsPerHour
	}
	var (
		last    int64
		lastKey []byte
		cached  bool
	)
	return func(dst []byte, i int) ([]byte, error) {
		us := micros(i)
		bucket := floorDiv(us, unit)
		if cached && bucket == last && us != zeroMicros {
			return append(dst, lastKey...), nil
		}
		start := len(dst)
		dst = appendTimeKey(dst, time.UnixMicro(us).UTC(), kind)
		if us != zeroMicros {
			last, cached = bucket, true
			lastKey = append(lastKey[:0], dst[start:]...)
		}
		return dst, nil
	}
}

// appendDecimal128 appends the canonical text of v × 10^-scale, as
// DecimalFromScaled renders it ("-12.50"), escaped for a key (the text
// needs no escapes).
func appendDecimal128(dst []byte, v decimal128.Num, scale int) []byte {
	hi, lo := v.HighBits(), v.LowBits()
	if !(hi == 0 && lo <= math.MaxInt64) && !(hi == -1 && lo > math.MaxInt64) {
		return append(dst, DecimalFromScaled(v.BigInt(), scale)...)
	}
	x := int64(lo)
	var abs uint64
	if x < 0 {
		dst = append(dst, '-')
		abs = uint64(-x) // MinInt64 wraps to its own magnitude as a uint64
	} else {
		abs = uint64(x)
	}
	var buf [24]byte
	digits := strconv.AppendUint(buf[:0], abs, 10)
	if scale <= 0 {
		return append(dst, digits...)
	}
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for range scale - len(digits) {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[:len(digits)-scale]...)
	dst = append(dst, '.')
	return append(dst, digits[len(digits)-scale:]...)
}

// measureReader reads row i's input of one measure.
type measureReader func(i int, out *mval) error

// columnar returns m's reader over the record's columns; nil for count(),
// which reads no column.
func (m *boundMeasure) columnar(cols []arrow.Array) measureReader {
	if m.slot == slotCount {
		return nil
	}
	arr := cols[m.col]
	var read measureReader
	switch {
	case m.slot == slotNN:
		read = func(int, *mval) error { return nil }
	case m.slot == slotFloat:
		if a, ok := arr.(*array.Float64); ok {
			vs := a.Float64Values()
			read = func(i int, out *mval) error { out.f = vs[i]; return nil }
		}
	case m.cls == clsInt:
		if a, ok := arr.(*array.Int64); ok {
			vs := a.Int64Values()
			read = func(i int, out *mval) error { out.i = vs[i]; return nil }
		}
	case m.cls == clsUint:
		if a, ok := arr.(*array.Uint64); ok {
			vs := a.Uint64Values()
			read = func(i int, out *mval) error {
				if x := vs[i]; x <= math.MaxInt64 {
					out.i = int64(x)
				} else {
					out.big = new(big.Int).SetUint64(x)
				}
				return nil
			}
		}
	case m.cls == clsDec:
		if a, ok := arr.(*array.Decimal128); ok {
			vs := a.Values()
			read = func(i int, out *mval) error {
				v := vs[i]
				if hi, lo := v.HighBits(), v.LowBits(); hi == 0 && lo <= math.MaxInt64 || hi == -1 && lo > math.MaxInt64 {
					out.i = int64(lo)
				} else {
					out.big = v.BigInt()
				}
				return nil
			}
		}
	}
	if read == nil { // a DECIMAL wider than decimal128 travels as text
		read = func(i int, out *mval) error {
			v, err := ArrowValue(arr, i, m.src.Type)
			if err != nil {
				return err
			}
			return m.extract(v, out)
		}
	}
	return func(i int, out *mval) error {
		*out = mval{}
		if arr.IsNull(i) {
			out.null = true
			return nil
		}
		return read(i, out)
	}
}

// cpred is a where clause compiled over columns: it writes the truth of
// row rows[k] of the record's columns to out[k] (len(out) == len(rows)).
// triErr marks a value the row evaluator would have refused.
type cpred func(cols []arrow.Array, rows []int32, out []tri)

// columnarCompiler compiles a where expression, already checked by
// whereCompiler against the same schema, into a cpred.
type columnarCompiler struct {
	s *TableSchema
}

func (w *columnarCompiler) compile(e Expr) (cpred, error) {
	if !hasColumn(e) {
		// Literals only: the row evaluator's constant, computed once.
		var used []int
		p, err := (&whereCompiler{s: w.s, used: &used}).compile(e)
		if err != nil {
			return nil, err
		}
		t := p(nil)
		return func(_ []arrow.Array, _ []int32, out []tri) {
			for k := range out {
				out[k] = t
			}
		}, nil
	}
	switch x := e.(type) {
	case *ExprAnd:
		return w.combine(x.Terms, andTri)
	case *ExprOr:
		return w.combine(x.Terms, orTri)
	case *ExprNot:
		p, err := w.compile(x.X)
		if err != nil {
			return nil, err
		}
		return func(cols []arrow.Array, rows []int32, out []tri) {
			p(cols, rows, out)
			for k, t := range out {
				switch t {
				case triTrue:
					out[k] = triFalse
				case triFalse:
					out[k] = triTrue
				}
			}
		}, nil
	case *ExprIsNull:
		o, err := w.operand(x.Operand)
		if err != nil {
			return nil, err
		}
		c, not := o.col, x.Not
		return func(cols []arrow.Array, rows []int32, out []tri) {
			arr := cols[c]
			for k, r := range rows {
				out[k] = toTri(arr.IsNull(int(r)) != not)
			}
		}, nil
	case *ExprCompare:
		return w.compare(x)
	case *ExprIn:
		return w.in(x)
	}
	return nil, fmt.Errorf("unexpected expression %T", e)
}

// hasColumn reports whether e reads any column.
func hasColumn(e Expr) bool {
	isCol := func(o ExprOperand) bool { _, ok := o.(*ExprColumn); return ok }
	switch x := e.(type) {
	case *ExprAnd:
		for _, t := range x.Terms {
			if hasColumn(t) {
				return true
			}
		}
		return false
	case *ExprOr:
		for _, t := range x.Terms {
			if hasColumn(t) {
				return true
			}
		}
		return false
	case *ExprNot:
		return hasColumn(x.X)
	case *ExprIsNull:
		return isCol(x.Operand)
	case *ExprCompare:
		return isCol(x.Left) || isCol(x.Right)
	case *ExprIn:
		return isCol(x.Left)
	}
	return true
}

// andTri and orTri combine two truth values under SQL's three-valued
// logic; a refusal (triErr) wins, as it stops the row evaluator.
func andTri(a, b tri) tri {
	switch {
	case a == triErr || b == triErr:
		return triErr
	case a == triFalse || b == triFalse:
		return triFalse
	case a == triNull || b == triNull:
		return triNull
	}
	return triTrue
}

func orTri(a, b tri) tri {
	switch {
	case a == triErr || b == triErr:
		return triErr
	case a == triTrue || b == triTrue:
		return triTrue
	case a == triNull || b == triNull:
		return triNull
	}
	return triFalse
}

func (w *columnarCompiler) combine(terms []Expr, op func(a, b tri) tri) (cpred, error) {
	ps := make([]cpred, len(terms))
	for i, t := range terms {
		p, err := w.compile(t)
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return func(cols []arrow.Array, rows []int32, out []tri) {
		ps[0](cols, rows, out)
		if len(ps) == 1 {
			return
		}
		tmp := make([]tri, len(out))
		for _, p := range ps[1:] {
			p(cols, rows, tmp)
			for k := range out {
				out[k] = op(out[k], tmp[k])
			}
		}
	}, nil
}

func (w *columnarCompiler) operand(o ExprOperand) (operand, error) {
	var used []int
	return (&whereCompiler{s: w.s, used: &used}).operand(o)
}

func (w *columnarCompiler) compare(x *ExprCompare) (cpred, error) {
	l, err := w.operand(x.Left)
	if err != nil {
		return nil, err
	}
	r, err := w.operand(x.Right)
	if err != nil {
		return nil, err
	}
	op := x.Op
	if l.col < 0 {
		l, r, op = r, l, op.flip()
	}
	if r.col < 0 {
		bind, err := literalColumnCmp(l.c, r.lit)
		if err != nil {
			return nil, err
		}
		c := l.col
		return func(cols []arrow.Array, rows []int32, out []tri) {
			arr := cols[c]
			cmp := bind(arr)
			for k, r := range rows {
				if arr.IsNull(int(r)) {
					out[k] = triNull
					continue
				}
				out[k] = toTri(opHolds(op, cmp(int(r))))
			}
		}, nil
	}
	// Two columns: rare, so the row evaluator's comparison over canonical
	// values.
	cmp2, err := columnsComparer(l.c, r.c)
	if err != nil {
		return nil, err
	}
	lc, rc := l, r
	return func(cols []arrow.Array, rows []int32, out []tri) {
		a, b := cols[lc.col], cols[rc.col]
		for k, r := range rows {
			i := int(r)
			if a.IsNull(i) || b.IsNull(i) {
				out[k] = triNull
				continue
			}
			x, err1 := ArrowValue(a, i, lc.c.Type)
			y, err2 := ArrowValue(b, i, rc.c.Type)
			if err1 != nil || err2 != nil {
				out[k] = triErr
				continue
			}
			c, ok := cmp2(x, y)
			if !ok {
				out[k] = triErr
				continue
			}
			out[k] = toTri(opHolds(op, c))
		}
	}, nil
}

func (w *columnarCompiler) in(x *ExprIn) (cpred, error) {
	l, err := w.operand(x.Left)
	if err != nil {
		return nil, err
	}
	not, hasNull := x.Not, false
	var binds []func(arrow.Array) func(int) int
	set := map[string]struct{}{}
	for _, lit := range x.List {
		if lit.Kind == LitNull {
			hasNull = true
			continue
		}
		b, err := literalColumnCmp(l.c, lit)
		if err != nil {
			return nil, fmt.Errorf("IN list: %w", err)
		}
		binds = append(binds, b)
		set[lit.Text] = struct{}{}
	}
	// finish is whereCompiler.in's: no match against a list holding NULL
	// is unknown.
	finish := func(matched bool) tri {
		switch {
		case matched:
			return toTri(!not)
		case hasNull:
			return triNull
		}
		return toTri(not)
	}
	c := l.col
	if classOf(l.c.Type) == clsStr {
		return func(cols []arrow.Array, rows []int32, out []tri) {
			arr := cols[c]
			a, ok := arr.(*array.String)
			for k, r := range rows {
				switch i := int(r); {
				case arr.IsNull(i):
					out[k] = triNull
				case !ok:
					out[k] = triErr
				default:
					_, m := set[a.Value(i)]
					out[k] = finish(m)
				}
			}
		}, nil
	}
	return func(cols []arrow.Array, rows []int32, out []tri) {
		arr := cols[c]
		cmps := make([]func(int) int, len(binds))
		for j, b := range binds {
			cmps[j] = b(arr)
		}
		for k, r := range rows {
			i := int(r)
			if arr.IsNull(i) {
				out[k] = triNull
				continue
			}
			m := false
			for _, cmp := range cmps {
				if cmp(i) == 0 {
					m = true
					break
				}
			}
			out[k] = finish(m)
		}
	}, nil
}

// literalColumnCmp compiles the comparison of column c's non-null values
// with l, as literalComparer does for canonical values: bound to a column's
// array, it returns the comparison (-1, 0, +1) of row i's value with l.
func literalColumnCmp(c Column, l *ExprLiteral) (func(arrow.Array) func(int) int, error) {
	if _, err := literalComparer(c, l); err != nil {
		return nil, err // the row evaluator's errors, word for word
	}
	switch classOf(c.Type) {
	case clsInt:
		text, _ := numberText(l)
		cmp := intLiteralCmp(text)
		return func(arr arrow.Array) func(int) int {
			vs := arr.(*array.Int64).Int64Values()
			return func(i int) int { return cmp(vs[i]) }
		}, nil
	case clsUint:
		text, _ := numberText(l)
		cmp := uintLiteralCmp(text)
		return func(arr arrow.Array) func(int) int {
			vs := arr.(*array.Uint64).Uint64Values()
			return func(i int) int { return cmp(vs[i]) }
		}, nil
	case clsFloat:
		text, _ := numberText(l)
		f, _ := strconv.ParseFloat(text, 64)
		return func(arr arrow.Array) func(int) int {
			vs := arr.(*array.Float64).Float64Values()
			return func(i int) int { return cmpOrdered(vs[i], f) }
		}, nil
	case clsDec:
		text, _ := numberText(l)
		if c.Type.Precision > maxArrowDecimal { // text in a string array
			return func(arr arrow.Array) func(int) int {
				a := arr.(*array.String)
				return func(i int) int { return cmpDecimal(Decimal(a.Value(i)), Decimal(text)) }
			}, nil
		}
		cmp := decimal128LiteralCmp(text, c.Type.Scale)
		return func(arr arrow.Array) func(int) int {
			vs := arr.(*array.Decimal128).Values()
			return func(i int) int { return cmp(vs[i]) }
		}, nil
	case clsStr:
		lit := l.Text
		return func(arr arrow.Array) func(int) int {
			a := arr.(*array.String)
			return func(i int) int { return strings.Compare(a.Value(i), lit) }
		}, nil
	case clsBytes:
		lit := []byte(l.Text)
		return func(arr arrow.Array) func(int) int {
			a := arr.(*array.Binary)
			return func(i int) int { return bytes.Compare(a.Value(i), lit) }
		}, nil
	case clsTime:
		t, err := literalTime(c, l)
		if err != nil {
			return nil, err
		}
		// Literals have at most microseconds, so comparing Unix
		// microseconds is comparing instants.
		lit := t.UnixMicro()
		return func(arr arrow.Array) func(int) int {
			switch a := arr.(type) {
			case *array.Date32:
				vs := a.Date32Values()
				return func(i int) int { return cmpOrdered(int64(vs[i])*microsPerDay, lit) }
			case *array.Timestamp:
				vs := a.TimestampValues()
				return func(i int) int { return cmpOrdered(int64(vs[i]), lit) }
			}
			panic("unreachable: checkRecord admits only date32 and timestamp arrays for temporal columns")
		}, nil
	case clsDur:
		d, err := literalDuration(c, l)
		if err != nil {
			return nil, err
		}
		return func(arr arrow.Array) func(int) int {
			vs := arr.(*array.Duration).DurationValues()
			return func(i int) int { return cmpOrdered(time.Duration(vs[i])*time.Microsecond, d) }
		}, nil
	}
	return nil, fmt.Errorf("cannot compare %s column %s", c.Type, c.Name)
}

// decimal128LiteralCmp compares a DECIMAL value scaled by 10^scale with the
// exact decimal number text, as intLiteralCmp does for integers: against
// floor(text × 10^scale), ties broken by whether that product is integral.
func decimal128LiteralCmp(text string, scale int) func(decimal128.Num) int {
	r, _ := new(big.Rat).SetString(text)
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	fl, tie := literalFloor(r.RatString())
	if fl.BitLen() > 126 { // beyond any DECIMAL(38): every value is on one side
		always := 1
		if fl.Sign() > 0 {
			always = -1
		}
		return func(decimal128.Num) int { return always }
	}
	f := decimal128.FromBigInt(fl)
	return func(x decimal128.Num) int {
		if c := x.Cmp(f); c != 0 {
			return c
		}
		return tie
	}
}
