package formats

import (
	"bytes"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

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
			return cmpDecimal(Decimal(x), Decimal(y)), nil
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
				return cmpDecimal(x, Decimal(text)), true
			case string:
				return cmpDecimal(Decimal(x), Decimal(text)), true
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
	return cmpDecimal(Decimal(numberString(x)), Decimal(numberString(y)))
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
