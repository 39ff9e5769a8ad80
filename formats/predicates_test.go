package formats

import (
	"strings"
	"testing"
)

// TestIntegerPredicate: YEAR is an integer (an int64 number in the type map
// and in MySQL), so truncate() groups it like an INT, in the row evaluator,
// the columnar one and the verify SQL alike; UNSIGNED is kept only where the
// type map maps it apart, so "year unsigned" is a plain YEAR.
func TestIntegerPredicate(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		want bool
	}{
		{KindTinyInt, true}, {KindSmallInt, true}, {KindMediumInt, true}, {KindInt, true}, {KindBigInt, true},
		{KindYear, true},
		{KindBit, false}, {KindDecimal, false}, {KindDouble, false}, {KindDate, false}, {KindVarChar, false},
	} {
		if got := isIntegerKind(c.kind); got != c.want {
			t.Errorf("isIntegerKind(%s) = %v, want %v", c.kind, got, c.want)
		}
	}
	for _, c := range []struct {
		typ      string
		unsigned bool
	}{
		{"year unsigned", false}, {"year", false}, {"int unsigned", true}, {"bigint unsigned", true},
		{"tinyint(1) unsigned", true}, {"decimal(10,2) unsigned", false}, {"double unsigned", false},
	} {
		ty, err := ParseColumnType(c.typ)
		if err != nil {
			t.Fatalf("ParseColumnType(%q): %v", c.typ, err)
		}
		if ty.Unsigned != c.unsigned {
			t.Errorf("ParseColumnType(%q).Unsigned = %v, want %v", c.typ, ty.Unsigned, c.unsigned)
		}
	}

	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"truncate(10, yr)"}))
	rows := []Row{orderRow(s, map[string]any{"yr": int64(2024)}), orderRow(s, map[string]any{"yr": int64(2020)}),
		orderRow(s, map[string]any{"yr": int64(1999)}), orderRow(s, map[string]any{})}
	d := Delta{}
	for _, r := range rows {
		if err := b.AccumulateRow(r, 1, d); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"1990 => [1990 1]", "2020 => [2020 2]", `\N => [<nil> 1]`}
	if got := answers(t, b, d); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("truncate(10, yr) rows: %q, want %q", got, want)
	}
	dc := Delta{}
	if err := b.AccumulateRecord(recordOfRows(t, s, rows), nil, dc); err != nil {
		t.Fatal(err)
	}
	if got := answers(t, b, dc); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("truncate(10, yr) columnar: %q, want %q", got, want)
	}
	if sql := b.VerifySQL(); !strings.Contains(sql, "`yr`") {
		t.Errorf("VerifySQL has no truncate of yr: %s", sql)
	}
}

// TestDecimalComparison: cmpDecimal is the one decimal order, for canonical
// values and for literal text (signs, leading and trailing zeros, exponents,
// mixed scales).
func TestDecimalComparison(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.50", "1.5", 0}, {"-0.00", "0", 0}, {"+2", "2.000", 0}, {".5", "0.50", 0},
		{"1.5e3", "1500", 0}, {"15e-1", "1.5", 0}, {"-1e2", "-100.0", 0},
		{"-12.50", "-12.49", -1}, {"-1", "0", -1}, {"9.99", "10", -1}, {"0012", "11.999", 1},
		{"1e21", "999999999999999999999", 1}, {"-0.001", "0", -1}, {"2", "abc", -1}, {"abc", "abd", -1},
	} {
		if got := cmpDecimal(Decimal(c.a), Decimal(c.b)); got != c.want {
			t.Errorf("cmpDecimal(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := cmpDecimal(Decimal(c.b), Decimal(c.a)); got != -c.want {
			t.Errorf("cmpDecimal(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { cmpDecimal("-123.4500", "123.45") }); n != 0 {
		t.Errorf("cmpDecimal allocates %v times per call without an exponent", n)
	}
}

// TestJoinableAndConvert: join compatibility follows the type map's Go
// types, and ConvertValue converts only what the target holds exactly.
func TestJoinableAndConvert(t *testing.T) {
	ty := func(s string) Type {
		t.Helper()
		x, err := ParseColumnType(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"int", "bigint unsigned", true}, {"year", "smallint", true}, {"bit(8)", "int", true},
		{"decimal(10,2)", "decimal(12,4)", true}, {"varchar(10)", "enum('a')", true}, {"char(3)", "text", true},
		{"date", "datetime", true}, {"varbinary(4)", "blob", true}, {"float", "double", true},
		{"int", "decimal(10,0)", false}, {"date", "varchar(10)", false}, {"time", "datetime", false},
		{"double", "decimal(10,2)", false}, {"varchar(4)", "varbinary(4)", false},
	} {
		if got := Joinable(ty(c.a), ty(c.b)); got != c.want {
			t.Errorf("Joinable(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	for _, c := range []struct {
		typ  string
		v    any
		want any // nil: not convertible
	}{
		{"int", uint64(42), int64(42)}, {"int", uint64(1 << 63), nil}, {"int", int64(-3), int64(-3)},
		{"int unsigned", int64(7), uint64(7)}, {"int unsigned", int64(-1), nil}, {"bit(8)", int64(3), uint64(3)},
		{"year", int64(2024), int64(2024)},
		{"decimal(10,2)", Decimal("1.5000"), Decimal("1.50")}, {"decimal(10,2)", Decimal("1.505"), nil},
		{"decimal(10,2)", "1.50", nil}, {"varchar(3)", "ab", "ab"}, {"varchar(3)", []byte("ab"), nil},
		{"int", nil, nil},
	} {
		got, ok := ConvertValue(ty(c.typ), c.v)
		if (c.want == nil) == ok || (ok && got != c.want) {
			t.Errorf("ConvertValue(%s, %#v) = %#v, %v; want %#v", c.typ, c.v, got, ok, c.want)
		}
	}
}
