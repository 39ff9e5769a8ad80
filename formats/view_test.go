package formats

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func viewType(t testing.TB, s string) Type {
	t.Helper()
	ty, err := ParseColumnType(s)
	if err != nil {
		t.Fatalf("ParseColumnType(%q): %v", s, err)
	}
	return ty
}

// ordersSchema is a table with a column of every class the view language
// treats differently.
func ordersSchema(t testing.TB) *TableSchema {
	cols := []struct{ name, typ string }{
		{"id", "bigint"},
		{"status", "varchar(20)"},
		{"amount", "decimal(10,2)"},
		{"qty", "int"},
		{"uqty", "bigint unsigned"},
		{"price", "double"},
		{"fl", "float"},
		{"created_at", "datetime(3)"},
		{"day_d", "date"},
		{"ts", "timestamp(6)"},
		{"dur", "time"},
		{"doc", "json"},
		{"bin", "varbinary(16)"},
		{"bits", "bit(8)"},
		{"yr", "year"},
		{"kind", "enum('a','b')"},
		{"tags", "set('x','y')"},
		{"note", "text"},
		{"big", "decimal(30,4)"},
	}
	s := &TableSchema{Table: TableID{DB: "shop", Table: "orders"}, PK: []int{0}}
	for _, c := range cols {
		s.Columns = append(s.Columns, Column{Name: c.name, Type: viewType(t, c.typ), Nullable: c.name != "id"})
	}
	return s
}

func aggView(where string, groupBy []string, measures ...string) ViewSpec {
	if len(measures) == 0 {
		measures = []string{"count()"}
	}
	return ViewSpec{Name: "v", From: "shop.orders", Where: where, GroupBy: groupBy, Measures: measures}
}

func TestParseViewErrors(t *testing.T) {
	long := strings.Repeat("(", 120) + "a = 1" + strings.Repeat(")", 120)
	tests := []struct {
		spec ViewSpec
		want string
	}{
		{ViewSpec{From: "shop.orders", Measures: []string{"count()"}}, "name: missing (want lower-case letters, digits and _)"},
		{ViewSpec{Name: "Revenue", From: "shop.orders", Measures: []string{"count()"}}, `name: "Revenue": want lower-case letters, digits and _ only`},
		{ViewSpec{Name: "v", Measures: []string{"count()"}}, "from: missing (want db.table)"},
		{ViewSpec{Name: "v", From: "orders", Measures: []string{"count()"}}, `from: "orders": want db.table`},
		{ViewSpec{Name: "v", From: "a.b.c", Measures: []string{"count()"}}, `from: "a.b.c": want db.table`},
		{ViewSpec{Name: "v", From: "shop.orders", Mirror: true, Where: "a = 1"}, "where: a mirror view keeps every row; it takes no where"},
		{ViewSpec{Name: "v", From: "shop.orders", Mirror: true, GroupBy: []string{"a"}}, "group_by: a mirror view is keyed by the primary key; it takes no group_by"},
		{ViewSpec{Name: "v", From: "shop.orders", Mirror: true, Measures: []string{"count()"}}, "measures: a mirror view takes no measures"},
		{ViewSpec{Name: "v", From: "shop.orders", Mirror: true, Columns: []string{"id", "a b"}}, `columns[1]: unexpected "b" at position 3, want end of input`},
		{ViewSpec{Name: "v", From: "shop.orders", Mirror: true, Columns: []string{"id", "ID"}}, `columns[1]: column "ID" is already columns[0]`},
		{ViewSpec{Name: "v", From: "shop.orders", Mirror: true, Columns: []string{"and"}}, `columns[0]: unexpected "and" at position 1, want a column name`},
		{ViewSpec{Name: "v", From: "shop.orders", Columns: []string{"id"}, Measures: []string{"count()"}}, "columns: only a mirror view selects columns; set mirror: true or remove columns"},
		{ViewSpec{Name: "v", From: "shop.orders", GroupBy: []string{"status"}}, `measures: missing: an aggregate view needs at least one measure (e.g. "count()"), or set mirror: true`},

		// where: lexing
		{aggView("`a = 1", nil), "where: unterminated `identifier starting at position 1"},
		{aggView("`` = 1", nil), "where: empty `` identifier at position 1"},
		{aggView("a = 1.", nil), `where: number "1." at position 5: want digits after the decimal point`},
		{aggView("a = 1e5", nil), "where: number at position 5: want an integer or decimal like 12 or 12.50 (no exponents or suffixes)"},
		{aggView("a = 'it''s", nil), "where: unterminated string starting at position 5 (write a quote inside a string as '')"},
		{aggView("a ! 1", nil), `where: unexpected "!" at position 3 (use NOT or !=)`},
		{aggView(`a = "x"`, nil), `where: unexpected '"' at position 5: strings take single quotes ('text'), names take backquotes`},
		{aggView("a = 1 ; drop", nil), `where: unexpected ';' at position 7`},
		{aggView("a = é", nil), `where: unexpected 'é' at position 5`},
		// where: parsing
		{aggView("a = 1 AND", nil), "where: unexpected end of input, want a column or literal"},
		{aggView("a = 1 b", nil), `where: unexpected "b" at position 7, want AND, OR or end of input`},
		{aggView("a = NULL", nil), "where: comparison a = NULL at position 3 is never true in SQL; use IS NULL or IS NOT NULL"},
		{aggView("NULL <> a", nil), "where: comparison NULL <> a at position 6 is never true in SQL; use IS NULL or IS NOT NULL"},
		{aggView("a IS 1", nil), `where: unexpected "1" at position 6, want NULL after IS [NOT]`},
		{aggView("a NOT 1", nil), `where: unexpected "1" at position 7, want IN after NOT`},
		{aggView("a IN 1", nil), `where: unexpected "1" at position 6, want "(" after IN`},
		{aggView("a IN (b)", nil), "where: IN list: b is a column; the list takes literals only"},
		{aggView("a IN (1 2)", nil), `where: unexpected "2" at position 9, want "," or ")" in the IN list`},
		{aggView("a IN (1,", nil), "where: unexpected end of input, want a column or literal"},
		{aggView("a", nil), "where: unexpected end of input, want a comparison (= <> != < <= > >=), IN, NOT IN or IS [NOT] NULL after a"},
		{aggView("a LIKE 'x%'", nil), `where: unexpected "LIKE" at position 3, want a comparison (= <> != < <= > >=), IN, NOT IN or IS [NOT] NULL after a`},
		{aggView("and = 1", nil), `where: unexpected "and" at position 1, want a column or literal (backquote a column named like a keyword)`},
		{aggView("lower(a) = 'x'", nil), "where: function lower() at position 1: where takes columns and literals only"},
		{aggView("a = -b", nil), `where: unexpected "b" at position 6, want a number after -`},
		{aggView("(a = 1", nil), `where: unexpected end of input, want ")" or AND/OR`},
		{aggView("a = )", nil), `where: unexpected ")" at position 5, want a column or literal`},
		{aggView(long, nil), "where: expression nested deeper than 100 levels"},
		{aggView(strings.Repeat("NOT ", 120)+"a = 1", nil), "where: expression nested deeper than 100 levels"},

		// group_by
		{aggView("", []string{"week(created_at)"}), `group_by[0]: unknown transform "week" (want year, month, day, hour, truncate)`},
		{aggView("", []string{"status", "truncate(-5, qty)"}), "group_by[1]: truncate width -5: want a positive integer"},
		{aggView("", []string{"truncate(0, qty)"}), "group_by[0]: truncate width 0: want a positive integer"},
		{aggView("", []string{"truncate(99999999999999999999, qty)"}), "group_by[0]: truncate width 99999999999999999999: want a positive integer"},
		{aggView("", []string{"truncate(qty)"}), `group_by[0]: unexpected "qty" at position 10, want truncate's width, a positive integer: truncate(W, col)`},
		{aggView("", []string{"truncate(1.5, qty)"}), "group_by[0]: truncate width 1.5: want a positive integer"},
		{aggView("", []string{"truncate(10 qty)"}), `group_by[0]: unexpected "qty" at position 13, want "," after truncate's width: truncate(W, col)`},
		{aggView("", []string{"day()"}), `group_by[0]: unexpected ")" at position 5, want a column name inside day()`},
		{aggView("", []string{"day(created_at"}), `group_by[0]: unexpected end of input, want ")"`},
		{aggView("", []string{"day(created_at) AS"}), "group_by[0]: unexpected end of input, want an output column name after AS"},
		{aggView("", []string{"day(created_at) AS 1x"}), `group_by[0]: number at position 20: want an integer or decimal like 12 or 12.50 (no exponents or suffixes)`},
		{aggView("", []string{"day(created_at) AS `a-b`"}), `group_by[0]: output name "a-b": want letters, digits and _, not starting with a digit`},
		{aggView("", []string{"status extra"}), `group_by[0]: unexpected "extra" at position 8, want end of input`},
		{aggView("", []string{"'status'"}), `group_by[0]: unexpected string 'status' at position 1, want a column name or a transform like day(col)`},
		{aggView("", []string{""}), "group_by[0]: unexpected end of input, want a column name or a transform like day(col)"},
		{aggView("", []string{"status", "qty AS status"}), `group_by[1]: output column "status" is also group_by[0]; name one of them with AS`},

		// measures
		{aggView("", nil, "42"), `measures[0]: unexpected "42" at position 1, want a measure: count(), count(col), sum(col) or avg(col)`},
		{aggView("", nil, "sum($000)"), `measures[0]: output name "sum_$000" (derived from the column) is not letters, digits and _: name it with AS`},
		{aggView("", []string{"day($d)"}), `group_by[0]: output name "$d_day" (derived from the column) is not letters, digits and _: name it with AS`},
		{aggView("", nil, "median(amount)"), `measures[0]: unknown measure "median" (want count, sum, avg)`},
		{aggView("", nil, "count()", "max(amount)"), `measures[1]: unknown measure "max" (want count, sum, avg; min and max cannot be maintained under deletes)`},
		{aggView("", nil, "sum amount"), `measures[0]: unexpected "amount" at position 5, want "(" after sum`},
		{aggView("", nil, "sum()"), "measures[0]: sum needs a column: sum(col)"},
		{aggView("", nil, "avg(*)"), "measures[0]: avg needs a column: avg(col)"},
		{aggView("", nil, "count(DISTINCT status)"), "measures[0]: count(DISTINCT ...) is not supported: distinct counts cannot be maintained under deletes"},
		{aggView("", nil, "sum(amount"), `measures[0]: unexpected end of input, want ")"`},
		{aggView("", nil, "sum(amount) AS"), "measures[0]: unexpected end of input, want an output column name after AS"},
		{aggView("", nil, "sum(amount) revenue"), `measures[0]: unexpected "revenue" at position 13, want end of input`},
		{aggView("", nil, "count()", "count(*)"), `measures[1]: output column "count" is also measures[0]; name one of them with AS`},
		{aggView("", []string{"status AS n"}, "count() AS N"), `measures[0]: output column "N" is also group_by[0]; name one of them with AS`},
	}
	for _, tc := range tests {
		_, err := ParseView(tc.spec)
		if err == nil {
			t.Errorf("ParseView(%+v): no error, want %q", tc.spec, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseView(%+v):\n got %q\nwant %q", tc.spec, err, tc.want)
		}
	}
}

func TestParseViewAccepts(t *testing.T) {
	v, err := ParseView(ViewSpec{
		Name: "revenue_by_day", From: "shop.orders",
		Where:    "status <> 'cancelled' AND amount > 0 or not (x in (1, -2.50, NULL) and y is not null) AND `and` != 007 AND z NOT IN ('it''s', TRUE)",
		GroupBy:  []string{"day(created_at) AS day", "status", "TRUNCATE(10, qty)", "Hour(ts)"},
		Measures: []string{"count() AS orders", "sum(amount) AS revenue", "AVG(amount)", "count(*) AS n", "count(status)"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ViewSpec{
		Name: "revenue_by_day", From: "shop.orders",
		Where:    "status <> 'cancelled' AND amount > 0 OR NOT (x IN (1, -2.50, NULL) AND y IS NOT NULL) AND `and` <> 7 AND z NOT IN ('it''s', TRUE)",
		GroupBy:  []string{"day(created_at) AS day", "status AS status", "truncate(10, qty) AS qty_truncate", "hour(ts) AS ts_hour"},
		Measures: []string{"count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount", "count() AS n", "count(status) AS count_status"},
	}
	if got := v.Spec(); !reflect.DeepEqual(got, want) {
		t.Errorf("Spec():\n got %+v\nwant %+v", got, want)
	}
	if _, ok := v.Where.(*ExprOr); !ok {
		t.Errorf("OR must bind loosest: got %T", v.Where)
	}
	m, err := ParseView(ViewSpec{Name: "customers", From: "shop.customers", Mirror: true, Columns: []string{"id", "`name`"}})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Mirror || !reflect.DeepEqual(m.Columns, []string{"id", "name"}) {
		t.Errorf("mirror: %+v", m)
	}
}

func TestNumberLiteralCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"a = 007": "a = 7", "a = -0": "a = 0", "a = -0.00": "a = 0.00", "a = .5": "a = 0.5",
		"a = -12.50": "a = -12.50", "a = 0": "a = 0", "a = 1 OR (b = 2 OR c = 3)": "a = 1 OR b = 2 OR c = 3",
		"(a = 1 AND b = 2) AND c = 3": "a = 1 AND b = 2 AND c = 3", "NOT NOT a = 1": "NOT (NOT (a = 1))",
		"a != 1": "a <> 1", "a = 'x' AND (b = 1 OR c = 2)": "a = 'x' AND (b = 1 OR c = 2)",
	} {
		e, err := parseWhere(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := e.String(); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestBindErrors(t *testing.T) {
	s := ordersSchema(t)
	tests := []struct {
		spec ViewSpec
		want string
	}{
		{aggView("", []string{"day(crated_at)"}), `group_by[0]: unknown column "crated_at" in shop.orders`},
		{aggView("", nil, "sum(amout)"), `measures[0]: unknown column "amout" in shop.orders`},
		{aggView("stauts = 'x'", nil), `where: unknown column "stauts" in shop.orders`},
		{ViewSpec{Name: "m", From: "shop.orders", Mirror: true, Columns: []string{"id", "nope"}}, `columns[1]: unknown column "nope" in shop.orders`},
		{ViewSpec{Name: "m", From: "shop.orders", Mirror: true, Columns: []string{"status"}}, `columns: must include the primary key column "id" of shop.orders`},
		{aggView("", []string{"day(qty)"}), "group_by[0]: day() needs a DATE, DATETIME or TIMESTAMP column; qty is int"},
		{aggView("", []string{"status", "year(dur)"}), "group_by[1]: year() needs a DATE, DATETIME or TIMESTAMP column; dur is time"},
		{aggView("", []string{"truncate(10, amount)"}), "group_by[0]: truncate() needs an integer or string column; amount is decimal(10,2)"},
		{aggView("", []string{"truncate(10, bits)"}), "group_by[0]: truncate() needs an integer or string column; bits is bit(8)"},
		{aggView("", []string{"doc"}), "group_by[0]: column doc is json, which cannot be a group key"},
		{aggView("", nil, "sum(status)"), "measures[0]: sum needs a numeric column (integer, DECIMAL, FLOAT, DOUBLE); status is varchar(20)"},
		{aggView("", nil, "count()", "avg(created_at)"), "measures[1]: avg needs a numeric column (integer, DECIMAL, FLOAT, DOUBLE); created_at is datetime(3)"},
		{aggView("", nil, "sum(bits)"), "measures[0]: sum needs a numeric column (integer, DECIMAL, FLOAT, DOUBLE); bits is bit(8)"},
		{aggView("amount = 'abc'", nil), "where: cannot compare decimal(10,2) column amount with string literal 'abc'"},
		{aggView("status = 5", nil), "where: cannot compare varchar(20) column status with integer literal 5"},
		{aggView("5 < status", nil), "where: cannot compare varchar(20) column status with integer literal 5"},
		{aggView("created_at > 20240101", nil), "where: cannot compare datetime(3) column created_at with integer literal 20240101"},
		{aggView("created_at > '2024-13-01'", nil), "where: '2024-13-01' is not a date ('YYYY-MM-DD') or datetime ('YYYY-MM-DD HH:MM:SS[.ffffff]') to compare with datetime(3) column created_at"},
		{aggView("dur > 'noon'", nil), "where: 'noon' is not a time ('[-]HH:MM:SS[.ffffff]') to compare with time column dur"},
		{aggView("doc = '{}'", nil), "where: cannot compare json column doc (where compares numbers, strings and temporal values)"},
		{aggView("status = qty", nil), "where: cannot compare varchar(20) column status with int column qty"},
		{aggView("qty IN (1, 'two')", nil), "where: IN list: cannot compare int column qty with string literal 'two'"},
		{aggView("1 = 'one'", nil), "where: cannot compare integer literal 1 with string literal 'one'"},
		{aggView("'a' IN (1)", nil), "where: IN list: cannot compare string literal 'a' with integer literal 1"},
	}
	for _, tc := range tests {
		v, err := ParseView(tc.spec)
		if err != nil {
			t.Errorf("ParseView(%+v): %v", tc.spec, err)
			continue
		}
		_, err = v.Bind(s)
		if err == nil {
			t.Errorf("Bind(%+v): no error, want %q", tc.spec, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Bind(%+v):\n got %q\nwant %q", tc.spec, err, tc.want)
		}
	}
	noPK := *s
	noPK.PK = nil
	v, _ := ParseView(ViewSpec{Name: "m", From: "shop.orders", Mirror: true})
	if _, err := v.Bind(&noPK); err == nil || err.Error() != "mirror: shop.orders has no primary key; a mirror keeps the latest row per primary key" {
		t.Errorf("mirror without PK: %v", err)
	}
}

func TestBindShapeChange(t *testing.T) {
	s := ordersSchema(t)
	v, err := ParseView(aggView("", nil, "count()", "sum(amount)", "avg(price)", "count(qty)"))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.AggLayout(); got != "" {
		t.Errorf("AggLayout before Bind = %q, want empty", got)
	}
	if _, err := v.DecodeAgg([]byte("1")); err == nil {
		t.Error("DecodeAgg before Bind: no error")
	}
	if _, err := v.Bind(s); err != nil {
		t.Fatal(err)
	}
	if got, want := v.AggLayout(), "iiiifi"; got != want {
		t.Errorf("AggLayout = %q, want %q", got, want)
	}
	// Same shape: a new column elsewhere is fine.
	s2 := *s
	s2.Columns = append(append([]Column(nil), s.Columns...), Column{Name: "extra", Type: viewType(t, "int")})
	if _, err := v.Bind(&s2); err != nil {
		t.Errorf("rebinding to a compatible schema: %v", err)
	}
	// amount's scale changes: stored sums would be misread.
	s3 := *s
	s3.Columns = append([]Column(nil), s.Columns...)
	s3.Columns[2].Type = viewType(t, "decimal(12,3)")
	if _, err := v.Bind(&s3); !errors.Is(err, ErrShapeChanged) {
		t.Errorf("rebinding with a new scale: %v, want ErrShapeChanged", err)
	}
}

func TestColumns(t *testing.T) {
	s := ordersSchema(t)
	v, err := ParseView(aggView("", []string{"day(created_at) AS day", "month(ts)", "year(day_d)", "hour(created_at)", "status", "truncate(10, qty)", "truncate(3, note)", "truncate(2, bin)", "truncate(100, uqty)"},
		"count()", "count(status)", "sum(qty)", "sum(uqty)", "sum(amount)", "sum(price)", "sum(fl)", "avg(amount)", "avg(qty)", "avg(price)", "avg(big)"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Bind(s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range b.Columns() {
		k := ""
		if c.Key {
			k = " key"
		}
		got = append(got, c.Name+" "+c.Type.String()+k)
	}
	want := []string{
		"day varchar(10) key", "ts_month varchar(7) key", "day_d_year varchar(4) key", "created_at_hour varchar(13) key",
		"status varchar(20) key", "qty_truncate int key", "note_truncate varchar(3) key", "bin_truncate varbinary(2) key", "uqty_truncate bigint unsigned key",
		"count bigint", "count_status bigint", "sum_qty decimal(65,0)", "sum_uqty decimal(65,0)", "sum_amount decimal(65,2)",
		"sum_price double", "sum_fl double", "avg_amount decimal(65,6)", "avg_qty decimal(65,4)", "avg_price double", "avg_big decimal(65,8)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Columns:\n got %q\nwant %q", got, want)
	}
	if got, want := b.AggLayout(), "i"+"i"+"ii"+"ii"+"ii"+"if"+"if"+"ii"+"ii"+"if"+"ii"; got != want {
		t.Errorf("AggLayout = %q, want %q", got, want)
	}

	m, _ := ParseView(ViewSpec{Name: "m", From: "shop.orders", Mirror: true, Columns: []string{"status", "ID"}})
	bm, err := m.Bind(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := bm.Columns(); !reflect.DeepEqual(got, []OutputColumn{{Name: "status", Type: s.Columns[1].Type}, {Name: "id", Type: s.Columns[0].Type, Key: true}}) {
		t.Errorf("mirror Columns = %+v", got)
	}
	all, _ := ParseView(ViewSpec{Name: "m", From: "shop.orders", Mirror: true})
	ba, err := all.Bind(s)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ba.Columns()); n != len(s.Columns) {
		t.Errorf("mirror of all columns has %d columns, want %d", n, len(s.Columns))
	}
	if ba.AggLayout() != "" {
		t.Error("a mirror has no aggregate layout")
	}
}
