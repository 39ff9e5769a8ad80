package formats

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file compiles a bound view to warehouse SQL: PostgreSQL and
// Redshift, over the view's source table as the warehouse loaders store it
// (columns typed by PostgresType and RedshiftType, zero dates as
// 0001-01-01, TIME as an interval on PostgreSQL and BIGINT microseconds on
// Redshift). The answer, read as text through ParseWarehouseRow, must equal
// the view's Result rows exactly (floats within RowsEqual's tolerance), as
// VerifySQL's does on the source.
//
// The SQL computes what the Go evaluator computes:
//   - every output column is rendered as text by the SQL itself (TO_CHAR for
//     temporal values, hex for bytes), so the driver or the Data API cannot
//     reformat it;
//   - strings compare byte-wise: COLLATE "C" on PostgreSQL (Redshift's
//     default comparison is by bytes); bytes compare as bytea on PostgreSQL
//     and by their lower-case hex on Redshift (the same order);
//   - TIMESTAMP (timestamptz) values are taken AT TIME ZONE 'UTC', whatever
//     the session's zone;
//   - truncate(W, int) is x - MOD(MOD(x, W) + W, W), the floor, in integers;
//   - sum of integers is exact (PostgreSQL's SUM(bigint) is numeric; on
//     Redshift the column is cast to DECIMAL(38,s), SUM(BIGINT) being a
//     BIGINT that overflows); avg of integers and DECIMAL is
//     ROUND(SUM / COUNT, S+4) on PostgreSQL, rounded half away from zero
//     as Result; on Redshift, whose DECIMAL division stops at 38 digits,
//     the text "sum/count", divided and rounded by ParseWarehouseRow.
//
// What a dialect cannot compute exactly is refused with ErrNotPushable:
// JSON keys on PostgreSQL (jsonb rewrites the text), DECIMAL past 38 digits
// in sums, averages and comparisons on Redshift (it holds their text),
// FLOAT keys on Redshift (its text form of a DOUBLE is not exact), and
// comparisons of strings with bytes on Redshift.

// Dialect is a warehouse SQL dialect.
type Dialect uint8

const (
	// DialectPostgres is PostgreSQL (12 or later), over PostgresType columns.
	DialectPostgres Dialect = iota + 1
	// DialectRedshift is Amazon Redshift, over RedshiftType columns.
	DialectRedshift
)

func (d Dialect) String() string {
	switch d {
	case DialectPostgres:
		return "postgres"
	case DialectRedshift:
		return "redshift"
	}
	return fmt.Sprintf("dialect(%d)", uint8(d))
}

// ErrNotPushable: the view uses something the dialect cannot compute
// exactly; the local engine must compute it.
var ErrNotPushable = errors.New("view not computable in the warehouse")

// sqlIdent quotes an identifier for PostgreSQL and Redshift.
func sqlIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

type whCompiler struct {
	b   *BoundView
	d   Dialect
	err error
}

func (w *whCompiler) refuse(format string, args ...any) string {
	if w.err == nil {
		w.err = fmt.Errorf("view %s in %s: %s: %w", w.b.view.Name, w.d, fmt.Sprintf(format, args...), ErrNotPushable)
	}
	return "NULL"
}

// WarehouseSQL returns a SELECT over relation (the source table as loaded
// into the warehouse: a quoted, schema-qualified name such as
// "tidemark"."shop_orders") that answers the view: one row per group, the
// group keys and measures in Columns() order, each as text (NULL as NULL).
// Mirrors are the warehouse tables themselves: they have no query.
func (b *BoundView) WarehouseSQL(d Dialect, relation string) (string, error) {
	if d != DialectPostgres && d != DialectRedshift {
		return "", fmt.Errorf("warehouse SQL: unknown dialect %v", d)
	}
	if b.view.Mirror {
		return "", fmt.Errorf("view %s is a mirror: query its warehouse table: %w", b.view.Name, ErrNotPushable)
	}
	w := &whCompiler{b: b, d: d}
	var sel, groups []string
	for i := range b.keys {
		k := &b.keys[i]
		e := w.key(k)
		groups = append(groups, e)
		sel = append(sel, w.keyText(k, e))
	}
	for i := range b.meas {
		sel = append(sel, w.measure(&b.meas[i]))
	}
	var sb strings.Builder
	sb.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM " + relation)
	if b.view.Where != nil {
		sb.WriteString(" WHERE " + w.expr(b.view.Where))
	}
	if len(groups) > 0 {
		sb.WriteString(" GROUP BY " + strings.Join(groups, ", "))
	}
	sb.WriteString(" HAVING COUNT(*) > 0")
	if w.err != nil {
		return "", w.err
	}
	return sb.String(), nil
}

var warehouseDateFormats = map[keyKind]string{kkYear: "YYYY", kkMonth: "YYYY-MM", kkDay: "YYYY-MM-DD", kkHour: "YYYY-MM-DD HH24"}

// asTimestamp is a DATE, DATETIME or TIMESTAMP column as the TIMESTAMP
// (wall clock, UTC for TIMESTAMP) the evaluator compares and formats.
func (w *whCompiler) asTimestamp(c Column) string {
	id := sqlIdent(c.Name)
	switch c.Type.Kind {
	case KindDate:
		return "CAST(" + id + " AS TIMESTAMP)"
	case KindTimestamp:
		return "(" + id + " AT TIME ZONE 'UTC')"
	}
	return id
}

// key is a group key's grouping expression.
func (w *whCompiler) key(k *boundKey) string {
	id := sqlIdent(k.src.Name)
	ws := strconv.FormatInt(k.width, 10)
	switch k.kind {
	case kkYear, kkMonth, kkDay, kkHour:
		ts := w.asTimestamp(k.src)
		zero := string(appendTimeKey(nil, time.Time{}, k.kind))
		return "CASE WHEN " + ts + " = TIMESTAMP '0001-01-01 00:00:00' THEN '" + zero + "' ELSE TO_CHAR(" + ts + ", '" + warehouseDateFormats[k.kind] + "') END"
	case kkTruncInt:
		return "(" + id + " - MOD(MOD(" + id + ", " + ws + ") + " + ws + ", " + ws + "))"
	case kkTruncUint:
		return "(" + id + " - MOD(" + id + ", " + ws + "))"
	case kkTruncStr:
		return "LEFT(" + id + ", " + ws + ")"
	case kkTruncBytes:
		return "SUBSTRING(" + id + ", 1, " + ws + ")"
	}
	switch {
	case k.src.Type.Kind == KindJSON && w.d == DialectPostgres:
		return w.refuse("group key %s: jsonb does not keep the JSON text", k.src.Name)
	case k.cls == clsFloat && w.d == DialectRedshift:
		return w.refuse("group key %s: Redshift's text of a DOUBLE PRECISION is not exact", k.src.Name)
	}
	return id
}

// keyText renders a grouping expression as the text ParseWarehouseRow reads.
func (w *whCompiler) keyText(k *boundKey, e string) string {
	switch k.kind {
	case kkYear, kkMonth, kkDay, kkHour, kkTruncStr:
		return e
	case kkTruncInt, kkTruncUint:
		return "CAST(" + e + " AS VARCHAR)"
	case kkTruncBytes:
		return w.hex(e)
	}
	return w.valueText(k.src, e)
}

func (w *whCompiler) hex(e string) string {
	if w.d == DialectPostgres {
		return "ENCODE(" + e + ", 'hex')"
	}
	return "LOWER(TO_HEX(" + e + "))"
}

// valueText renders a column value of c (expression e) as text.
func (w *whCompiler) valueText(c Column, e string) string {
	switch classOf(c.Type) {
	case clsTime:
		if c.Type.Kind == KindDate {
			return "TO_CHAR(" + e + ", 'YYYY-MM-DD')"
		}
		ts := e
		if c.Type.Kind == KindTimestamp {
			ts = "(" + e + " AT TIME ZONE 'UTC')"
		}
		return "TO_CHAR(" + ts + ", 'YYYY-MM-DD HH24:MI:SS.US')"
	case clsDur:
		if w.d == DialectPostgres {
			return "CAST(CAST(EXTRACT(EPOCH FROM " + e + ") * 1000000 AS BIGINT) AS VARCHAR)"
		}
		return "CAST(" + e + " AS VARCHAR)"
	case clsBytes:
		return w.hex(e)
	case clsStr:
		return e
	}
	return "CAST(" + e + " AS VARCHAR)"
}

func (w *whCompiler) measure(m *boundMeasure) string {
	if m.col < 0 {
		return "CAST(COUNT(*) AS VARCHAR)"
	}
	id := sqlIdent(m.src.Name)
	if m.spec.Func == MeasureCount {
		return "CAST(COUNT(" + id + ") AS VARCHAR)"
	}
	if m.slot == slotFloat {
		if m.spec.Func == MeasureSum {
			return "CAST(SUM(" + id + ") AS VARCHAR)"
		}
		return "CAST(AVG(" + id + ") AS VARCHAR)"
	}
	sum := "SUM(" + id + ")"
	if w.d == DialectRedshift {
		if typeClassOf(m.src.Type) == tcWideDecimal {
			return w.refuse("%s(%s): Redshift holds DECIMAL past 38 digits as text", m.spec.Func, m.src.Name)
		}
		sum = fmt.Sprintf("SUM(CAST(%s AS DECIMAL(38,%d)))", id, m.scale)
	}
	if m.spec.Func == MeasureSum {
		return "CAST(" + sum + " AS VARCHAR)"
	}
	count := "COUNT(" + id + ")"
	if w.d == DialectRedshift {
		// Redshift divides DECIMALs within 38 digits, too few to round
		// every quotient exactly: the sum and the count travel as
		// "sum/count" and ParseWarehouseRow divides and rounds exactly.
		return "CAST(" + sum + " AS VARCHAR) || '/' || CAST(" + count + " AS VARCHAR)"
	}
	// PostgreSQL divides numerics to about 16 significant digits: with 20
	// more digits than the result keeps, the quotient rounded there rounds
	// as the exact one would (a quotient k/n lies at least 1/(2n) from a
	// tie it is not on).
	sum = fmt.Sprintf("CAST(%s AS NUMERIC(1000,%d))", sum, m.avgScale+20)
	return fmt.Sprintf("CAST(ROUND(%s / %s, %d) AS VARCHAR)", sum, count, m.avgScale)
}

func (w *whCompiler) expr(e Expr) string {
	switch x := e.(type) {
	case *ExprAnd:
		return w.join(x.Terms, " AND ")
	case *ExprOr:
		return w.join(x.Terms, " OR ")
	case *ExprNot:
		return "NOT (" + w.expr(x.X) + ")"
	case *ExprIsNull:
		s := w.operand(x.Operand, nil)
		if x.Not {
			return s + " IS NOT NULL"
		}
		return s + " IS NULL"
	case *ExprCompare:
		l, r, op := x.Left, x.Right, x.Op
		lc, lIsCol := w.b.column(l)
		rc, rIsCol := w.b.column(r)
		switch {
		case !lIsCol && !rIsCol:
			c, err := compareLiterals(l.(*ExprLiteral), r.(*ExprLiteral))
			if err != nil {
				return "NULL"
			}
			return sqlBool(opHolds(op, c))
		case lIsCol && rIsCol:
			a, b := w.comparedPair(lc, rc)
			return a + " " + op.String() + " " + b
		case !lIsCol:
			r, op, lc = l, op.flip(), rc
		}
		return w.compared(lc) + " " + op.String() + " " + w.operand(r, &lc)
	case *ExprIn:
		c, isCol := w.b.column(x.Left)
		if !isCol {
			p, err := (&whereCompiler{s: w.b.schema, used: new([]int)}).in(x)
			if err != nil {
				return "NULL"
			}
			switch p(nil) {
			case triTrue:
				return "TRUE"
			case triFalse:
				return "FALSE"
			}
			return "NULL"
		}
		parts := make([]string, len(x.List))
		for i, l := range x.List {
			parts[i] = w.operand(l, &c)
		}
		s := w.compared(c) + " IN (" + strings.Join(parts, ", ") + ")"
		if x.Not {
			s = "NOT (" + s + ")"
		}
		return s
	}
	return "NULL"
}

func (w *whCompiler) join(terms []Expr, sep string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = "(" + w.expr(t) + ")"
	}
	return strings.Join(parts, sep)
}

// compared is how a column enters a comparison.
func (w *whCompiler) compared(c Column) string {
	id := sqlIdent(c.Name)
	switch classOf(c.Type) {
	case clsStr:
		if w.d == DialectPostgres {
			return id + ` COLLATE "C"`
		}
		return id
	case clsBytes:
		if w.d == DialectRedshift {
			return w.hex(id)
		}
		return id
	case clsTime:
		return w.asTimestamp(c)
	case clsDec:
		if w.d == DialectRedshift && typeClassOf(c.Type) == tcWideDecimal {
			return w.refuse("comparing %s: Redshift holds DECIMAL past 38 digits as text", c.Name)
		}
	}
	return id
}

// comparedPair renders a column-to-column comparison's sides.
func (w *whCompiler) comparedPair(a, b Column) (string, string) {
	ca, cb := classOf(a.Type), classOf(b.Type)
	if (ca == clsStr && cb == clsBytes) || (ca == clsBytes && cb == clsStr) {
		if w.d == DialectRedshift {
			return w.refuse("comparing string %s with bytes %s", a.Name, b.Name), "NULL"
		}
		side := func(c Column) string {
			if classOf(c.Type) == clsStr {
				return "CONVERT_TO(" + sqlIdent(c.Name) + ", 'UTF8')"
			}
			return sqlIdent(c.Name)
		}
		return side(a), side(b)
	}
	return w.compared(a), w.compared(b)
}

// operand renders an operand; a literal compared with column cmpWith is
// written in that column's terms.
func (w *whCompiler) operand(o ExprOperand, cmpWith *Column) string {
	if c, ok := w.b.column(o); ok {
		if cmpWith == nil {
			return sqlIdent(c.Name)
		}
		return w.compared(c)
	}
	l, ok := o.(*ExprLiteral)
	if !ok {
		return "NULL"
	}
	switch l.Kind {
	case LitNull:
		return "NULL"
	case LitString:
		if cmpWith != nil {
			switch classOf(cmpWith.Type) {
			case clsTime:
				if t, err := literalTime(*cmpWith, l); err == nil {
					return "TIMESTAMP '" + FormatText(typeLitDateTime, t) + "'"
				}
			case clsDur:
				if d, err := literalDuration(*cmpWith, l); err == nil {
					if w.d == DialectPostgres {
						return "CAST('" + FormatText(typeLitTime, d) + "' AS INTERVAL)"
					}
					return strconv.FormatInt(d.Microseconds(), 10)
				}
			case clsBytes:
				if w.d == DialectPostgres {
					return "CONVERT_TO(" + w.str(l.Text) + ", 'UTF8')"
				}
				return "'" + hex.EncodeToString([]byte(l.Text)) + "'"
			}
		}
		return w.str(l.Text)
	}
	text, _ := numberText(l)
	return text
}

// str writes a string literal that reads back byte for byte: on
// PostgreSQL (standard_conforming_strings, the default since 9.1) quotes
// doubled; on Redshift, which reads backslash escapes, backslashes and
// control characters as CHR() pieces.
func (w *whCompiler) str(s string) string {
	if w.d == DialectPostgres {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, "'"+strings.ReplaceAll(cur.String(), "'", "''")+"'")
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c < 0x20 || c == 0x7f {
			flush()
			parts = append(parts, fmt.Sprintf("CHR(%d)", c))
			continue
		}
		cur.WriteByte(s[i])
	}
	flush()
	if len(parts) == 0 {
		return "''"
	}
	return strings.Join(parts, " || ")
}

// ParseWarehouseRow reads one row of WarehouseSQL's answer (text, NULL as
// nil) into the group's key and its answer row, typed as Result types it.
func (b *BoundView) ParseWarehouseRow(d Dialect, raw []*string) (GroupKey, Row, error) {
	if len(raw) != len(b.cols) || b.view.Mirror {
		return "", nil, fmt.Errorf("parsing warehouse row of view %s: %d columns, want %d", b.view.Name, len(raw), len(b.cols))
	}
	row := make(Row, len(raw))
	for i := range b.keys {
		v, err := b.keys[i].parseWarehouse(raw[i])
		if err != nil {
			return "", nil, fmt.Errorf("parsing warehouse row of view %s: column %s: %w", b.view.Name, b.cols[i].Name, err)
		}
		row[i] = v
	}
	for j := range b.meas {
		i := len(b.keys) + j
		var v any
		var err error
		switch m := &b.meas[j]; {
		case raw[i] == nil:
			v, err = m.parseVerify(nil)
		case d == DialectRedshift && m.spec.Func == MeasureAvg && m.slot != slotFloat:
			v, err = m.parseSumCount(*raw[i])
		default:
			v, err = m.parseVerify([]byte(*raw[i]))
		}
		if err != nil {
			return "", nil, fmt.Errorf("parsing warehouse row of view %s: column %s: %w", b.view.Name, b.cols[i].Name, err)
		}
		row[i] = v
	}
	k, err := b.EncodeKey(row[:len(b.keys)])
	if err != nil {
		return "", nil, fmt.Errorf("parsing warehouse row of view %s: %w", b.view.Name, err)
	}
	return k, row, nil
}

// parseSumCount reads Redshift's "sum/count" of an exact avg and rounds
// the quotient as Result does.
func (m *boundMeasure) parseSumCount(s string) (any, error) {
	sumText, countText, ok := strings.Cut(s, "/")
	if !ok {
		return nil, fmt.Errorf("avg %q: want sum/count", s)
	}
	n, err := strconv.ParseInt(countText, 10, 64)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("avg %q: count %q", s, countText)
	}
	sum, err := ParseDecimal(sumText, m.scale)
	if err != nil {
		return nil, err
	}
	scaled, err := sum.Scaled(m.scale)
	if err != nil {
		return nil, err
	}
	return avgDecimal(scaled, n, m.scale, m.avgScale), nil
}

func (k *boundKey) parseWarehouse(raw *string) (any, error) {
	if raw == nil {
		return nil, nil
	}
	s := *raw
	switch k.kind {
	case kkYear, kkMonth, kkDay, kkHour, kkTruncStr:
		return s, nil
	case kkTruncInt:
		return strconv.ParseInt(s, 10, 64)
	case kkTruncUint:
		return strconv.ParseUint(s, 10, 64)
	case kkTruncBytes:
		return hex.DecodeString(s)
	}
	return parseWarehouseValue(k.src.Type, s)
}

// parseWarehouseValue reads a column value rendered by valueText.
func parseWarehouseValue(t Type, s string) (any, error) {
	switch classOf(t) {
	case clsTime:
		layout := "2006-01-02 15:04:05.000000"
		if t.Kind == KindDate {
			layout = "2006-01-02"
		}
		v, err := time.Parse(layout, s)
		if err != nil {
			return nil, err
		}
		if v.Year() == 1 && v.YearDay() == 1 && v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return time.Time{}, nil
		}
		return v.UTC(), nil
	case clsDur:
		us, err := strconv.ParseInt(s, 10, 64)
		return time.Duration(us) * time.Microsecond, err
	case clsBytes:
		b, err := hex.DecodeString(s)
		if b == nil && err == nil {
			b = []byte{}
		}
		return b, err
	case clsFloat:
		return strconv.ParseFloat(s, 64)
	}
	return ParseText(t, s)
}
