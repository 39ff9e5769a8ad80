package formats

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file compiles a bound view to MySQL/MariaDB SQL for `tidemark
// verify`: one query over the source table whose answer, read through the
// text protocol and ParseVerifyRow, must equal the view's Result rows
// exactly (floats within RowsEqual's tolerance).
//
// The SQL is written so that the server computes what the Go evaluator
// computes, whatever the session settings:
//   - strings compare and group byte-wise: string columns are wrapped in
//     CAST(col AS BINARY), as the evaluator compares bytes (a _ci collation
//     would merge 'Paid' and 'paid', a PAD SPACE one 'a' and 'a ');
//   - string literals that are not plain printable ASCII are written as
//     X'...' hex literals, which no sql_mode (NO_BACKSLASH_ESCAPES) or
//     connection character set reinterprets;
//   - TIMESTAMP values are read through UNIX_TIMESTAMP, which does not
//     depend on the session time_zone, and rebuilt as a UTC DATETIME where
//     they are compared or formatted;
//   - avg of an integer or DECIMAL column is MySQL's own AVG(col): its scale
//     S+4 and half-away-from-zero rounding are what Result computes, so
//     verify checks the rounding too, not only the sums;
//   - FLOAT/DOUBLE keys are read as CAST(col AS DOUBLE), the exact stored
//     value (the server prints a FLOAT with 6 digits).
//
// Zero dates: the evaluator holds '0000-00-00' as the zero time.Time
// (0001-01-01 00:00:00 UTC). The transforms render it as zeros, as
// DATE_FORMAT does, and it sorts before every real date in both. Known gap:
// a literal '0001-01-01' equals the zero date to the evaluator, not to SQL.

// VerifySQL returns a SELECT over the view's source table that answers the
// view: the group keys and measures in Columns() order, one row per group
// with at least one row, filtered by the where clause. For a mirror it
// selects the columns (as SelectExpr reads them) ordered by primary key.
func (b *BoundView) VerifySQL() string { return b.VerifySQLOver(nil) }

// VerifySQLOver is VerifySQL for a view bound to a schema in which some
// columns do not have the type the source table gives them (a column the
// capture masks is VARCHAR(64) to the view, a FLOAT or a TIMESTAMP on the
// source). source reports the source's type of such a column by name, ok
// false for the others (nil: none); the query then reads that column, as
// a mirror column or an untransformed group key, as SelectExpr reads a
// column of the source's type (FLOAT and DOUBLE through CAST(col AS
// DOUBLE), TIMESTAMP through UNIX_TIMESTAMP), so FromText of the source
// type turns its text into exactly the value a snapshot reads. The rows it
// answers hold the source's values, to be converted by the caller (e.g.
// masked) before ParseVerifyRow.
func (b *BoundView) VerifySQLOver(source func(column string) (Type, bool)) string {
	table := QuoteIdent(b.view.From.DB) + "." + QuoteIdent(b.view.From.Table)
	var sb strings.Builder
	sb.WriteString("SELECT ")
	if b.view.Mirror {
		for i, c := range b.mirror {
			if i > 0 {
				sb.WriteString(", ")
			}
			col := b.schema.Columns[c]
			if source != nil {
				if t, ok := source(col.Name); ok {
					col.Type = t
				}
			}
			sb.WriteString(SelectExpr(col))
		}
		sb.WriteString(" FROM " + table + " ORDER BY ")
		for i, p := range b.pk {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(QuoteIdent(b.schema.Columns[p].Name))
		}
		return sb.String()
	}
	keys := make([]string, len(b.keys))
	for i := range b.keys {
		k := b.keys[i]
		if source != nil && k.kind == kkValue {
			if t, ok := source(k.src.Name); ok {
				k.src.Type, k.cls = t, classOf(t)
			}
		}
		keys[i] = k.sql()
	}
	sel := append([]string(nil), keys...)
	for i := range b.meas {
		sel = append(sel, b.meas[i].sql())
	}
	sb.WriteString(strings.Join(sel, ", "))
	sb.WriteString(" FROM " + table)
	if w := b.WhereSQL(); w != "" {
		sb.WriteString(" WHERE " + w)
	}
	if len(keys) > 0 {
		sb.WriteString(" GROUP BY " + strings.Join(keys, ", "))
	}
	// Without group keys an aggregate query answers one row even over no
	// rows; the view then has no group.
	sb.WriteString(" HAVING COUNT(*) > 0")
	return sb.String()
}

// sqlUTCDateTime rebuilds a TIMESTAMP column as the UTC DATETIME(6) the
// evaluator sees, independently of the session time_zone. The zero
// TIMESTAMP (UNIX_TIMESTAMP 0) is the evaluator's zero time.Time,
// 0001-01-01 00:00:00.
func sqlUTCDateTime(col string) string {
	return "IF(UNIX_TIMESTAMP(" + col + ") = 0, TIMESTAMP'0001-01-01 00:00:00', " + sqlEpochPlus(col) + ")"
}

func sqlEpochPlus(col string) string {
	return "TIMESTAMP'1970-01-01 00:00:00' + INTERVAL ROUND(UNIX_TIMESTAMP(" + col + ") * 1000000) MICROSECOND"
}

// sqlCompared is how a column enters a comparison.
func sqlCompared(c Column) string {
	id := QuoteIdent(c.Name)
	switch {
	case classOf(c.Type) == clsStr:
		return "CAST(" + id + " AS BINARY)"
	case c.Type.Kind == KindTimestamp:
		return sqlUTCDateTime(id)
	}
	return id
}

var dateFormats = map[keyKind]string{kkYear: "%Y", kkMonth: "%Y-%m", kkDay: "%Y-%m-%d", kkHour: "%Y-%m-%d %H"}

func (k *boundKey) sql() string {
	id := QuoteIdent(k.src.Name)
	w := strconv.FormatInt(k.width, 10)
	switch k.kind {
	case kkYear, kkMonth, kkDay, kkHour:
		if k.src.Type.Kind == KindTimestamp {
			// The zero TIMESTAMP formats as zeros, as a zero DATETIME does.
			zero := appendTimeKey(nil, time.Time{}, k.kind)
			return "IF(UNIX_TIMESTAMP(" + id + ") = 0, '" + string(zero) + "', DATE_FORMAT(" + sqlEpochPlus(id) + ", '" + dateFormats[k.kind] + "'))"
		}
		return "DATE_FORMAT(" + id + ", '" + dateFormats[k.kind] + "')"
	case kkTruncInt:
		// floor(x/W)*W: DIV truncates toward zero and MOD takes the
		// dividend's sign, so a negative remainder steps one down.
		return "((" + id + " DIV " + w + " - (MOD(" + id + ", " + w + ") < 0)) * " + w + ")"
	case kkTruncUint:
		return "((" + id + " DIV " + w + ") * " + w + ")"
	case kkTruncStr:
		return "CAST(LEFT(" + id + ", " + w + ") AS BINARY)"
	case kkTruncBytes:
		return "LEFT(" + id + ", " + w + ")"
	}
	switch {
	case k.cls == clsStr:
		return "CAST(" + id + " AS BINARY)"
	case k.cls == clsFloat:
		return "CAST(" + id + " AS DOUBLE)"
	case k.src.Type.Kind == KindTimestamp:
		return "UNIX_TIMESTAMP(" + id + ")"
	}
	return id
}

func (m *boundMeasure) sql() string {
	if m.col < 0 {
		return "COUNT(*)"
	}
	id := QuoteIdent(m.src.Name)
	switch m.spec.Func {
	case MeasureCount:
		return "COUNT(" + id + ")"
	case MeasureSum:
		return "SUM(" + id + ")"
	}
	return "AVG(" + id + ")"
}

// WhereSQL returns the where clause as a MySQL/MariaDB boolean expression
// over the source table's columns (no "WHERE"), or "" when the view has
// none. String comparisons are byte-wise (CAST(col AS BINARY)), as the
// evaluator's; see VerifySQL.
func (b *BoundView) WhereSQL() string {
	if b.view.Where == nil || b.view.Mirror {
		return ""
	}
	return b.sqlExpr(b.view.Where)
}

func (b *BoundView) sqlExpr(e Expr) string {
	switch x := e.(type) {
	case *ExprAnd:
		return b.sqlJoin(x.Terms, " AND ")
	case *ExprOr:
		return b.sqlJoin(x.Terms, " OR ")
	case *ExprNot:
		return "NOT (" + b.sqlExpr(x.X) + ")"
	case *ExprIsNull:
		s := b.sqlOperand(x.Operand, nil) + " IS NULL"
		if x.Not {
			s = b.sqlOperand(x.Operand, nil) + " IS NOT NULL"
		}
		return s
	case *ExprCompare:
		l, r, op := x.Left, x.Right, x.Op
		lc, lIsCol := b.column(l)
		rc, rIsCol := b.column(r)
		switch {
		case !lIsCol && !rIsCol:
			c, err := compareLiterals(l.(*ExprLiteral), r.(*ExprLiteral))
			if err != nil {
				return "NULL"
			}
			return sqlBool(opHolds(op, c))
		case lIsCol && rIsCol:
			return sqlCompared(lc) + " " + op.String() + " " + sqlCompared(rc)
		case !lIsCol:
			l, r, op, lc = r, l, op.flip(), rc
		}
		return sqlCompared(lc) + " " + op.String() + " " + b.sqlOperand(r, &lc)
	case *ExprIn:
		c, isCol := b.column(x.Left)
		if !isCol {
			p, err := (&whereCompiler{s: b.schema, used: new([]int)}).in(x)
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
			parts[i] = b.sqlOperand(l, &c)
		}
		s := sqlCompared(c) + " IN (" + strings.Join(parts, ", ") + ")"
		if x.Not {
			s = "NOT (" + s + ")"
		}
		return s
	}
	return "NULL"
}

func (b *BoundView) sqlJoin(terms []Expr, sep string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = "(" + b.sqlExpr(t) + ")"
	}
	return strings.Join(parts, sep)
}

func sqlBool(v bool) string {
	if v {
		return "TRUE"
	}
	return "FALSE"
}

// column resolves an operand that names a column.
func (b *BoundView) column(o ExprOperand) (Column, bool) {
	if c, ok := o.(*ExprColumn); ok {
		if i := b.schema.ColumnIndex(c.Name); i >= 0 {
			return b.schema.Columns[i], true
		}
	}
	return Column{}, false
}

// sqlOperand renders an operand; a literal compared with column cmpWith is
// written in that column's terms (a date literal normalized, TRUE as 1).
func (b *BoundView) sqlOperand(o ExprOperand, cmpWith *Column) string {
	if c, ok := b.column(o); ok {
		return QuoteIdent(c.Name)
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
					return "'" + FormatText(typeLitDateTime, t) + "'"
				}
			case clsDur:
				if d, err := literalDuration(*cmpWith, l); err == nil {
					return "'" + FormatText(typeLitTime, d) + "'"
				}
			}
		}
		return sqlString(l.Text)
	}
	text, _ := numberText(l)
	return text
}

// sqlString writes a string literal that reads back byte for byte under any
// sql_mode and connection character set: plain printable ASCII in quotes,
// anything else (backslashes, control characters, non-ASCII) as X'hex'.
func sqlString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\\' {
			return "X'" + hex.EncodeToString([]byte(s)) + "'"
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ParseVerifyRow reads one row of VerifySQL's answer (text protocol, NULL
// as nil) into the group's key and its answer row, typed as Result types
// it, so that verify compares RowsEqual(Result(k, a), row).
func (b *BoundView) ParseVerifyRow(raw [][]byte) (GroupKey, Row, error) {
	if len(raw) != len(b.cols) {
		return "", nil, fmt.Errorf("parsing verify row of view %s: %d columns, want %d", b.view.Name, len(raw), len(b.cols))
	}
	row := make(Row, len(raw))
	if b.view.Mirror {
		for i, c := range b.mirror {
			v, err := FromText(b.schema.Columns[c].Type, raw[i])
			if err != nil {
				return "", nil, fmt.Errorf("parsing verify row of view %s: column %s: %w", b.view.Name, b.cols[i].Name, err)
			}
			row[i] = v
		}
		var keys []any
		for _, p := range b.pk {
			for i, c := range b.mirror {
				if c == p {
					keys = append(keys, row[i])
				}
			}
		}
		k, err := b.EncodeKey(keys)
		return k, row, err
	}
	for i := range b.keys {
		v, err := b.keys[i].parseVerify(raw[i])
		if err != nil {
			return "", nil, fmt.Errorf("parsing verify row of view %s: column %s: %w", b.view.Name, b.cols[i].Name, err)
		}
		row[i] = v
	}
	for j := range b.meas {
		i := len(b.keys) + j
		v, err := b.meas[j].parseVerify(raw[i])
		if err != nil {
			return "", nil, fmt.Errorf("parsing verify row of view %s: column %s: %w", b.view.Name, b.cols[i].Name, err)
		}
		row[i] = v
	}
	k, err := b.EncodeKey(row[:len(b.keys)])
	if err != nil {
		return "", nil, fmt.Errorf("parsing verify row of view %s: %w", b.view.Name, err)
	}
	return k, row, nil
}

func (k *boundKey) parseVerify(raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	switch k.kind {
	case kkYear, kkMonth, kkDay, kkHour, kkTruncStr:
		return string(raw), nil
	case kkTruncBytes:
		return FromText(k.out, raw)
	}
	return FromText(k.src.Type, raw)
}

func (m *boundMeasure) parseVerify(raw []byte) (any, error) {
	if raw == nil {
		if m.spec.Func == MeasureCount {
			return nil, fmt.Errorf("COUNT is NULL")
		}
		return nil, nil
	}
	s := string(raw)
	switch {
	case m.spec.Func == MeasureCount:
		return strconv.ParseInt(s, 10, 64)
	case m.slot == slotFloat:
		return strconv.ParseFloat(s, 64)
	case m.spec.Func == MeasureAvg:
		return ParseDecimal(s, m.avgScale)
	}
	return ParseDecimal(s, m.scale)
}
