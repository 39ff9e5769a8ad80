package formats

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Expr is a where-clause expression node: *ExprCompare, *ExprIn,
// *ExprIsNull, *ExprAnd, *ExprOr or *ExprNot. String renders it in the view
// language, normalized; parsing the rendering gives an equal tree.
type Expr interface {
	String() string
	exprNode()
}

// ExprOperand is a comparison operand: *ExprColumn or *ExprLiteral.
type ExprOperand interface {
	String() string
	operandNode()
}

// ExprColumn references a column of the view's table.
type ExprColumn struct{ Name string }

// LiteralKind is the kind of a where literal.
type LiteralKind uint8

const (
	LitInteger LiteralKind = iota + 1 // Text: "-12" (no leading zeros, no "-0")
	LitDecimal                        // Text: "-12.50" (fraction digits as written)
	LitString                         // Text: the string's value, unescaped
	LitNull                           // NULL
	LitBool                           // Text: "TRUE" or "FALSE"; compares as 1 or 0
)

// ExprLiteral is a literal value.
type ExprLiteral struct {
	Kind LiteralKind
	Text string
}

// CompareOp is a comparison operator.
type CompareOp uint8

const (
	CmpEQ CompareOp = iota + 1 // =
	CmpNE                      // <> (also written !=)
	CmpLT                      // <
	CmpLE                      // <=
	CmpGT                      // >
	CmpGE                      // >=
)

var cmpOpText = [...]string{"", "=", "<>", "<", "<=", ">", ">="}

func (o CompareOp) String() string {
	if int(o) < len(cmpOpText) && o != 0 {
		return cmpOpText[o]
	}
	return "cmp(" + strconv.Itoa(int(o)) + ")"
}

// flip returns the operator with its operands swapped: a < b == b > a.
func (o CompareOp) flip() CompareOp {
	switch o {
	case CmpLT:
		return CmpGT
	case CmpLE:
		return CmpGE
	case CmpGT:
		return CmpLT
	case CmpGE:
		return CmpLE
	}
	return o
}

// ExprCompare is Left Op Right.
type ExprCompare struct {
	Op          CompareOp
	Left, Right ExprOperand
}

// ExprIn is Left [NOT] IN (List...).
type ExprIn struct {
	Left ExprOperand
	List []*ExprLiteral
	Not  bool
}

// ExprIsNull is Operand IS [NOT] NULL.
type ExprIsNull struct {
	Operand ExprOperand
	Not     bool
}

// ExprAnd is Terms[0] AND Terms[1] AND ...; the parser flattens nested ANDs.
type ExprAnd struct{ Terms []Expr }

// ExprOr is Terms[0] OR Terms[1] OR ...; the parser flattens nested ORs.
type ExprOr struct{ Terms []Expr }

// ExprNot is NOT X.
type ExprNot struct{ X Expr }

func (*ExprCompare) exprNode()    {}
func (*ExprIn) exprNode()         {}
func (*ExprIsNull) exprNode()     {}
func (*ExprAnd) exprNode()        {}
func (*ExprOr) exprNode()         {}
func (*ExprNot) exprNode()        {}
func (*ExprColumn) operandNode()  {}
func (*ExprLiteral) operandNode() {}

func (c *ExprColumn) String() string { return viewIdent(c.Name) }

func (l *ExprLiteral) String() string {
	switch l.Kind {
	case LitString:
		return "'" + strings.ReplaceAll(l.Text, "'", "''") + "'"
	case LitNull:
		return "NULL"
	}
	return l.Text
}

func (e *ExprCompare) String() string {
	return e.Left.String() + " " + e.Op.String() + " " + e.Right.String()
}

func (e *ExprIn) String() string {
	var b strings.Builder
	b.WriteString(e.Left.String())
	if e.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, l := range e.List {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.String())
	}
	b.WriteString(")")
	return b.String()
}

func (e *ExprIsNull) String() string {
	if e.Not {
		return e.Operand.String() + " IS NOT NULL"
	}
	return e.Operand.String() + " IS NULL"
}

func (e *ExprAnd) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = t.String()
		if _, ok := t.(*ExprOr); ok {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, " AND ")
}

func (e *ExprOr) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = t.String()
	}
	return strings.Join(parts, " OR ")
}

func (e *ExprNot) String() string { return "NOT (" + e.X.String() + ")" }

// ParseView validates a view declaration. Errors name the part at fault
// ("where: ...", "group_by[0]: ...", "measures[1]: ...") and say why; the
// config layer prefixes the view's path (views[2].).
func ParseView(spec ViewSpec) (*View, error) {
	v := &View{Mirror: spec.Mirror}
	if !isViewName(spec.Name) {
		if spec.Name == "" {
			return nil, partErrorf("name", "missing (want lower-case letters, digits and _)")
		}
		return nil, partErrorf("name", "%q: want lower-case letters, digits and _ only", spec.Name)
	}
	v.Name = spec.Name
	if spec.From == "" {
		return nil, partErrorf("from", "missing (want db.table)")
	}
	from, err := ParseTableID(spec.From)
	if err != nil || strings.ContainsAny(from.Table, ".`") || strings.ContainsAny(from.DB, "`") {
		return nil, partErrorf("from", "%q: want db.table", spec.From)
	}
	v.From = from

	if spec.Mirror {
		switch {
		case spec.Where != "":
			return nil, partErrorf("where", "a mirror view keeps every row; it takes no where")
		case len(spec.GroupBy) > 0:
			return nil, partErrorf("group_by", "a mirror view is keyed by the primary key; it takes no group_by")
		case len(spec.Measures) > 0:
			return nil, partErrorf("measures", "a mirror view takes no measures")
		}
		seen := map[string]int{}
		for i, c := range spec.Columns {
			part := fmt.Sprintf("columns[%d]", i)
			name, err := parseColumnName(c)
			if err != nil {
				return nil, partErrorf(part, "%v", err)
			}
			if j, dup := seen[strings.ToLower(name)]; dup {
				return nil, partErrorf(part, "column %q is already columns[%d]", name, j)
			}
			seen[strings.ToLower(name)] = i
			v.Columns = append(v.Columns, name)
		}
		return v, nil
	}

	if len(spec.Columns) > 0 {
		return nil, partErrorf("columns", "only a mirror view selects columns; set mirror: true or remove columns")
	}
	if len(spec.Measures) == 0 {
		return nil, partErrorf("measures", `missing: an aggregate view needs at least one measure (e.g. "count()"), or set mirror: true`)
	}
	if strings.TrimSpace(spec.Where) != "" {
		e, err := parseWhere(spec.Where)
		if err != nil {
			return nil, partErrorf("where", "%v", err)
		}
		v.Where = e
	}
	names := map[string]string{}
	claim := func(part, name string) error {
		k := strings.ToLower(name)
		if other, dup := names[k]; dup {
			return partErrorf(part, "output column %q is also %s; name one of them with AS", name, other)
		}
		names[k] = part
		return nil
	}
	for i, s := range spec.GroupBy {
		part := fmt.Sprintf("group_by[%d]", i)
		g, err := parseGroupBy(s)
		if err != nil {
			return nil, partErrorf(part, "%v", err)
		}
		if err := claim(part, g.Name); err != nil {
			return nil, err
		}
		v.GroupBy = append(v.GroupBy, g)
	}
	for i, s := range spec.Measures {
		part := fmt.Sprintf("measures[%d]", i)
		m, err := parseMeasure(s)
		if err != nil {
			return nil, partErrorf(part, "%v", err)
		}
		if err := claim(part, m.Name); err != nil {
			return nil, err
		}
		v.Measures = append(v.Measures, m)
	}
	return v, nil
}

func isViewName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// isOutputName reports whether s can name an output column: it becomes a
// Parquet column, a JSON key and a URL query parameter.
func isOutputName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// token kinds of the view language lexer.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokQuotedIdent
	tokNumber
	tokString
	tokOp // = <> != < <= > >=
	tokLParen
	tokRParen
	tokComma
	tokMinus
	tokStar
)

type token struct {
	kind tokKind
	text string // identifier (unquoted), number text, string value, operator
	pos  int    // 1-based character position in the input
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokString:
		return "string '" + t.text + "'"
	case tokQuotedIdent:
		return "`" + t.text + "`"
	}
	return strconv.Quote(t.text)
}

// isWord reports whether t is the bare keyword w (case-insensitive).
func (t token) isWord(w string) bool { return t.kind == tokIdent && strings.EqualFold(t.text, w) }

// lex splits s into tokens.
func lex(s string) ([]token, error) {
	var toks []token
	pos := func(i int) int { return utf8.RuneCountInString(s[:i]) + 1 }
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '$' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, token{tokIdent, s[i:j], pos(i)})
			i = j
		case c == '`':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated `identifier starting at position %d", pos(i))
				}
				if s[j] == '`' {
					if j+1 < len(s) && s[j+1] == '`' {
						b.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			if b.Len() == 0 {
				return nil, fmt.Errorf("empty `` identifier at position %d", pos(i))
			}
			toks = append(toks, token{tokQuotedIdent, b.String(), pos(i)})
			i = j + 1
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j < len(s) && s[j] == '.' {
				j++
				k := j
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				if j == k {
					return nil, fmt.Errorf("number %q at position %d: want digits after the decimal point", s[i:j], pos(i))
				}
			}
			if j < len(s) && (s[j] == 'e' || s[j] == 'E' || s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				return nil, fmt.Errorf("number at position %d: want an integer or decimal like 12 or 12.50 (no exponents or suffixes)", pos(i))
			}
			toks = append(toks, token{tokNumber, s[i:j], pos(i)})
			i = j
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(s) {
					return nil, fmt.Errorf("unterminated string starting at position %d (write a quote inside a string as '')", pos(i))
				}
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			toks = append(toks, token{tokString, b.String(), pos(i)})
			i = j + 1
		case c == '=':
			toks = append(toks, token{tokOp, "=", pos(i)})
			i++
		case c == '<' || c == '>' || c == '!':
			j := i + 1
			if j < len(s) && (s[j] == '=' || c == '<' && s[j] == '>') {
				j++
			}
			if s[i:j] == "!" {
				return nil, fmt.Errorf(`unexpected "!" at position %d (use NOT or !=)`, pos(i))
			}
			toks = append(toks, token{tokOp, s[i:j], pos(i)})
			i = j
		case c == '(':
			toks = append(toks, token{tokLParen, "(", pos(i)})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", pos(i)})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ",", pos(i)})
			i++
		case c == '-':
			toks = append(toks, token{tokMinus, "-", pos(i)})
			i++
		case c == '*':
			toks = append(toks, token{tokStar, "*", pos(i)})
			i++
		case c == '"':
			return nil, fmt.Errorf(`unexpected '"' at position %d: strings take single quotes ('text'), names take backquotes`, pos(i))
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, fmt.Errorf("unexpected %q at position %d", r, pos(i))
		}
	}
	toks = append(toks, token{kind: tokEOF, pos: utf8.RuneCountInString(s) + 1})
	return toks, nil
}

// parser is a recursive-descent parser over one spec string's tokens.
type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, want string) error {
	if t.kind == tokEOF {
		return fmt.Errorf("unexpected end of input, want %s", want)
	}
	return fmt.Errorf("unexpected %s at position %d, want %s", t.describe(), t.pos, want)
}

func (p *parser) expect(k tokKind, want string) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.errAt(t, want)
	}
	return t, nil
}

// column reads a column name: a bare identifier that is not a keyword, or a
// backquoted one.
func (p *parser) column(want string) (string, error) {
	t := p.next()
	switch {
	case t.kind == tokQuotedIdent:
		return t.text, nil
	case t.kind == tokIdent && !isKeyword(t.text):
		return t.text, nil
	}
	return "", p.errAt(t, want)
}

func (p *parser) end() error {
	if t := p.peek(); t.kind != tokEOF {
		return p.errAt(t, "end of input")
	}
	return nil
}

// parseColumnName parses a lone column name (a mirror's columns entry).
func parseColumnName(s string) (string, error) {
	toks, err := lex(s)
	if err != nil {
		return "", err
	}
	p := &parser{toks: toks}
	name, err := p.column("a column name")
	if err != nil {
		return "", err
	}
	return name, p.end()
}

// optionalAs reads "AS name" if present.
func (p *parser) optionalAs() (string, bool, error) {
	if !p.peek().isWord("AS") {
		return "", false, nil
	}
	p.next()
	t := p.next()
	if t.kind != tokIdent && t.kind != tokQuotedIdent {
		return "", false, p.errAt(t, "an output column name after AS")
	}
	if !isOutputName(t.text) {
		return "", false, fmt.Errorf("output name %q: want letters, digits and _, not starting with a digit", t.text)
	}
	return t.text, true, nil
}

// parseGroupBy parses "col", "day(col)", "truncate(W, col)", each with an
// optional "AS name".
func parseGroupBy(s string) (GroupBySpec, error) {
	var g GroupBySpec
	toks, err := lex(s)
	if err != nil {
		return g, err
	}
	p := &parser{toks: toks}
	first := p.peek()
	if first.kind == tokIdent && p.toks[p.i+1].kind == tokLParen {
		p.next()
		p.next()
		switch strings.ToLower(first.text) {
		case "year":
			g.Transform = TransformYear
		case "month":
			g.Transform = TransformMonth
		case "day":
			g.Transform = TransformDay
		case "hour":
			g.Transform = TransformHour
		case "truncate":
			g.Transform = TransformTruncate
		default:
			return g, fmt.Errorf("unknown transform %q (want year, month, day, hour, truncate)", first.text)
		}
		if g.Transform == TransformTruncate {
			neg := false
			if p.peek().kind == tokMinus {
				p.next()
				neg = true
			}
			w, err := p.expect(tokNumber, "truncate's width, a positive integer: truncate(W, col)")
			if err != nil {
				return g, err
			}
			n, perr := strconv.ParseInt(w.text, 10, 64)
			if perr != nil || neg || n <= 0 {
				sign := ""
				if neg {
					sign = "-"
				}
				return g, fmt.Errorf("truncate width %s%s: want a positive integer", sign, w.text)
			}
			g.Width = n
			if _, err := p.expect(tokComma, `"," after truncate's width: truncate(W, col)`); err != nil {
				return g, err
			}
		}
		if g.Column, err = p.column(fmt.Sprintf("a column name inside %s()", g.Transform)); err != nil {
			return g, err
		}
		if _, err := p.expect(tokRParen, `")"`); err != nil {
			return g, err
		}
	} else {
		if g.Column, err = p.column("a column name or a transform like day(col)"); err != nil {
			return g, err
		}
	}
	name, explicit, err := p.optionalAs()
	if err != nil {
		return g, err
	}
	if err := p.end(); err != nil {
		return g, err
	}
	g.Name = name
	if !explicit {
		g.Name = g.Column
		if g.Transform != TransformNone {
			g.Name = g.Column + "_" + g.Transform.String()
		}
		if !isOutputName(g.Name) {
			return g, fmt.Errorf("output name %q (derived from the column) is not letters, digits and _: name it with AS", g.Name)
		}
	}
	return g, nil
}

// parseMeasure parses "count()", "count(*)", "count(col)", "sum(col)",
// "avg(col)", each with an optional "AS name".
func parseMeasure(s string) (MeasureSpec, error) {
	var m MeasureSpec
	toks, err := lex(s)
	if err != nil {
		return m, err
	}
	p := &parser{toks: toks}
	fn := p.next()
	if fn.kind != tokIdent {
		return m, p.errAt(fn, "a measure: count(), count(col), sum(col) or avg(col)")
	}
	switch strings.ToLower(fn.text) {
	case "count":
		m.Func = MeasureCount
	case "sum":
		m.Func = MeasureSum
	case "avg":
		m.Func = MeasureAvg
	case "min", "max":
		return m, fmt.Errorf("unknown measure %q (want count, sum, avg; min and max cannot be maintained under deletes)", fn.text)
	default:
		return m, fmt.Errorf("unknown measure %q (want count, sum, avg)", fn.text)
	}
	if _, err := p.expect(tokLParen, fmt.Sprintf(`"(" after %s`, m.Func)); err != nil {
		return m, err
	}
	switch t := p.peek(); {
	case t.kind == tokRParen && m.Func == MeasureCount:
	case t.kind == tokStar && m.Func == MeasureCount:
		p.next()
	case t.kind == tokRParen || t.kind == tokStar:
		return m, fmt.Errorf("%s needs a column: %s(col)", m.Func, m.Func)
	case t.isWord("DISTINCT"):
		return m, fmt.Errorf("%s(DISTINCT ...) is not supported: distinct counts cannot be maintained under deletes", m.Func)
	default:
		if m.Column, err = p.column(fmt.Sprintf("a column name inside %s()", m.Func)); err != nil {
			return m, err
		}
	}
	if _, err := p.expect(tokRParen, `")"`); err != nil {
		return m, err
	}
	name, explicit, err := p.optionalAs()
	if err != nil {
		return m, err
	}
	if err := p.end(); err != nil {
		return m, err
	}
	m.Name = name
	if !explicit {
		m.Name = m.Func.String()
		if m.Column != "" {
			m.Name += "_" + m.Column
		}
		if !isOutputName(m.Name) {
			return m, fmt.Errorf("output name %q (derived from the column) is not letters, digits and _: name it with AS", m.Name)
		}
	}
	return m, nil
}

// maxWhereDepth bounds nesting so that a hostile where clause cannot
// exhaust the stack.
const maxWhereDepth = 100

func parseWhere(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.orExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errAt(t, "AND, OR or end of input")
	}
	return e, nil
}

func (p *parser) orExpr(depth int) (Expr, error) {
	if depth > maxWhereDepth {
		return nil, fmt.Errorf("expression nested deeper than %d levels", maxWhereDepth)
	}
	first, err := p.andExpr(depth)
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for p.peek().isWord("OR") {
		p.next()
		e, err := p.andExpr(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	if len(terms) == 1 {
		return first, nil
	}
	var flat []Expr
	for _, t := range terms {
		if o, ok := t.(*ExprOr); ok {
			flat = append(flat, o.Terms...)
		} else {
			flat = append(flat, t)
		}
	}
	return &ExprOr{Terms: flat}, nil
}

func (p *parser) andExpr(depth int) (Expr, error) {
	first, err := p.notExpr(depth)
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for p.peek().isWord("AND") {
		p.next()
		e, err := p.notExpr(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	if len(terms) == 1 {
		return first, nil
	}
	var flat []Expr
	for _, t := range terms {
		if a, ok := t.(*ExprAnd); ok {
			flat = append(flat, a.Terms...)
		} else {
			flat = append(flat, t)
		}
	}
	return &ExprAnd{Terms: flat}, nil
}

func (p *parser) notExpr(depth int) (Expr, error) {
	if p.peek().isWord("NOT") {
		p.next()
		if depth+1 > maxWhereDepth {
			return nil, fmt.Errorf("expression nested deeper than %d levels", maxWhereDepth)
		}
		x, err := p.notExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		return &ExprNot{X: x}, nil
	}
	return p.predicate(depth)
}

func (p *parser) predicate(depth int) (Expr, error) {
	if p.peek().kind == tokLParen {
		p.next()
		e, err := p.orExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokRParen, `")" or AND/OR`); err != nil {
			return nil, err
		}
		return e, nil
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	t := p.next()
	switch {
	case t.kind == tokOp:
		op := map[string]CompareOp{"=": CmpEQ, "<>": CmpNE, "!=": CmpNE, "<": CmpLT, "<=": CmpLE, ">": CmpGT, ">=": CmpGE}[t.text]
		right, err := p.operand()
		if err != nil {
			return nil, err
		}
		for _, o := range []ExprOperand{left, right} {
			if l, ok := o.(*ExprLiteral); ok && l.Kind == LitNull {
				return nil, fmt.Errorf("comparison %s %s %s at position %d is never true in SQL; use IS NULL or IS NOT NULL", left, t.text, right, t.pos)
			}
		}
		return &ExprCompare{Op: op, Left: left, Right: right}, nil
	case t.isWord("IS"):
		not := false
		if p.peek().isWord("NOT") {
			p.next()
			not = true
		}
		if n := p.next(); !n.isWord("NULL") {
			return nil, p.errAt(n, "NULL after IS [NOT]")
		}
		return &ExprIsNull{Operand: left, Not: not}, nil
	case t.isWord("NOT") || t.isWord("IN"):
		not := false
		if t.isWord("NOT") {
			not = true
			if n := p.next(); !n.isWord("IN") {
				return nil, p.errAt(n, "IN after NOT")
			}
		}
		if _, err := p.expect(tokLParen, `"(" after IN`); err != nil {
			return nil, err
		}
		in := &ExprIn{Left: left, Not: not}
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			lit, ok := o.(*ExprLiteral)
			if !ok {
				return nil, fmt.Errorf("IN list: %s is a column; the list takes literals only", o)
			}
			in.List = append(in.List, lit)
			n := p.next()
			if n.kind == tokRParen {
				break
			}
			if n.kind != tokComma {
				return nil, p.errAt(n, `"," or ")" in the IN list`)
			}
		}
		return in, nil
	}
	return nil, p.errAt(t, "a comparison (= <> != < <= > >=), IN, NOT IN or IS [NOT] NULL after "+left.String())
}

func (p *parser) operand() (ExprOperand, error) {
	t := p.next()
	switch t.kind {
	case tokQuotedIdent:
		return &ExprColumn{Name: t.text}, nil
	case tokIdent:
		switch strings.ToUpper(t.text) {
		case "NULL":
			return &ExprLiteral{Kind: LitNull, Text: "NULL"}, nil
		case "TRUE", "FALSE":
			return &ExprLiteral{Kind: LitBool, Text: strings.ToUpper(t.text)}, nil
		}
		if isKeyword(t.text) {
			return nil, p.errAt(t, "a column or literal (backquote a column named like a keyword)")
		}
		if p.peek().kind == tokLParen {
			return nil, fmt.Errorf("function %s() at position %d: where takes columns and literals only", t.text, t.pos)
		}
		return &ExprColumn{Name: t.text}, nil
	case tokString:
		return &ExprLiteral{Kind: LitString, Text: t.text}, nil
	case tokNumber:
		return numberLiteral(false, t.text), nil
	case tokMinus:
		n := p.next()
		if n.kind != tokNumber {
			return nil, p.errAt(n, "a number after -")
		}
		return numberLiteral(true, n.text), nil
	}
	return nil, p.errAt(t, "a column or literal")
}

// numberLiteral canonicalizes a lexed number: leading zeros dropped, a
// fraction kept as written, no sign on zero.
func numberLiteral(neg bool, text string) *ExprLiteral {
	intPart, frac, isDec := strings.Cut(text, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	s := intPart
	kind := LitInteger
	if isDec {
		s += "." + frac
		kind = LitDecimal
	}
	if neg && strings.Trim(s, "0.") != "" {
		s = "-" + s
	}
	return &ExprLiteral{Kind: kind, Text: s}
}
