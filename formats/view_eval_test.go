package formats

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func bindView(t testing.TB, s *TableSchema, spec ViewSpec) *BoundView {
	t.Helper()
	v, err := ParseView(spec)
	if err != nil {
		t.Fatalf("ParseView(%+v): %v", spec, err)
	}
	b, err := v.Bind(s)
	if err != nil {
		t.Fatalf("Bind(%+v): %v", spec, err)
	}
	return b
}

// orderRow builds a row of s from column values by name; others are NULL.
func orderRow(s *TableSchema, vals map[string]any) Row {
	r := make(Row, len(s.Columns))
	for k, v := range vals {
		i := s.ColumnIndex(k)
		if i < 0 {
			panic("no column " + k)
		}
		r[i] = v
	}
	return r
}

// answers renders every present group of d as "key => row".
func answers(t testing.TB, b *BoundView, d Delta) []string {
	t.Helper()
	var out []string
	for k, a := range d {
		row, ok := b.Result(k, a)
		if !ok {
			if _, err := b.DecodeKey(k); err != nil {
				t.Fatalf("DecodeKey(%q): %v", k, err)
			}
			continue
		}
		out = append(out, fmt.Sprintf("%s => %v", k, row))
	}
	sort.Strings(out)
	return out
}

func ev(s *TableSchema, op Op, before, after Row) Event {
	return Event{Table: s.Table, Op: op, Before: before, After: after, Schema: s}
}

func TestAccumulateInsertUpdateDelete(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"status"}, "count()", "sum(amount)", "avg(amount)", "count(amount)"))
	r1 := orderRow(s, map[string]any{"id": int64(1), "status": "paid", "amount": Decimal("10.00")})
	r2 := orderRow(s, map[string]any{"id": int64(2), "status": "paid", "amount": Decimal("5.50")})
	r3 := orderRow(s, map[string]any{"id": int64(3), "status": "new"})
	r2moved := orderRow(s, map[string]any{"id": int64(2), "status": "new", "amount": Decimal("5.50")})
	r1more := orderRow(s, map[string]any{"id": int64(1), "status": "paid", "amount": Decimal("12.00")})

	d := Delta{}
	for _, e := range []Event{
		ev(s, OpInsert, nil, r1), ev(s, OpInsert, nil, r2), ev(s, OpInsert, nil, r3),
		ev(s, OpUpdate, r2, r2moved), ev(s, OpUpdate, r1, r1more), ev(s, OpDelete, r3, nil),
	} {
		if err := b.Accumulate(e, d); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"new => [new 1 5.50 5.500000 1]",
		"paid => [paid 1 12.00 12.000000 1]",
	}
	if got := answers(t, b, d); !reflect.DeepEqual(got, want) {
		t.Errorf("answers:\n got %q\nwant %q", got, want)
	}

	// An update that stays in its group: count 0, the sums' difference.
	one := Delta{}
	if err := b.Accumulate(ev(s, OpUpdate, r1, r1more), one); err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one["paid"] == nil {
		t.Fatalf("in-group update touched %v", one)
	}
	if got := one["paid"].String(); got != "0 0 200 0 200 0" {
		t.Errorf("in-group update delta = %q, want %q", got, "0 0 200 0 200 0")
	}
	// An update that moves groups touches two keys.
	two := Delta{}
	if err := b.Accumulate(ev(s, OpUpdate, r2, r2moved), two); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(two["paid"], " / ", two["new"]); got != "-1 -1 -550 -1 -550 -1 / 1 1 550 1 550 1" {
		t.Errorf("moving update = %s", got)
	}
	// Insert then delete nets to zero; Prune drops it.
	z := Delta{}
	_ = b.Accumulate(ev(s, OpInsert, nil, r1), z)
	_ = b.Accumulate(ev(s, OpDelete, r1, nil), z)
	if !z["paid"].IsZero() {
		t.Errorf("insert+delete = %s, want zero", z["paid"])
	}
	z.Prune()
	if len(z) != 0 {
		t.Errorf("Prune left %v", z)
	}
}

func TestNullSemantics(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"status"}, "count()", "count(amount)", "sum(amount)", "avg(qty)", "sum(price)"))
	d := Delta{}
	for _, r := range []Row{
		orderRow(s, map[string]any{"id": int64(1)}),                                                           // NULL status
		orderRow(s, map[string]any{"id": int64(2), "status": ""}),                                             // empty status
		orderRow(s, map[string]any{"id": int64(3), "status": `\N`}),                                           // looks like the NULL marker
		orderRow(s, map[string]any{"id": int64(4), "status": "", "amount": Decimal("1.25"), "qty": int64(3)}), // non-null inputs
	} {
		if err := b.AccumulateRow(r, 1, d); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		` => [ 2 1 1.25 3.0000 <nil>]`,
		`\N => [<nil> 1 0 <nil> <nil> <nil>]`,
		`\\N => [\N 1 0 <nil> <nil> <nil>]`,
	}
	if got := answers(t, b, d); !reflect.DeepEqual(got, want) {
		t.Errorf("answers:\n got %q\nwant %q", got, want)
	}
}

func TestWhereSemantics(t *testing.T) {
	s := ordersSchema(t)
	when := time.Date(2024, 3, 4, 5, 6, 7, 123e6, time.UTC)
	row := orderRow(s, map[string]any{
		"id": int64(1), "status": "paid", "amount": Decimal("12.50"), "qty": int64(5), "uqty": uint64(0),
		"price": 0.1, "fl": float64(float32(0.1)), "created_at": when, "day_d": time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC),
		"ts": when, "dur": time.Duration(0), "bin": []byte("ab"), "bits": uint64(5), "yr": int64(2024),
		"kind": "a", "tags": "x,y", "note": "paid", "big": Decimal("-0.0000"),
	})
	maxU := orderRow(s, map[string]any{"uqty": uint64(math.MaxUint64), "qty": int64(1)})
	tests := []struct {
		where string
		row   Row
		want  bool
	}{
		{"qty = 5", row, true},
		{"qty > 4.5", row, true},
		{"qty < 5.5", row, true},
		{"qty = 5.0", row, true},
		{"qty = 5.1", row, false},
		{"qty <> 5.1", row, true},
		{"qty >= 5.000001", row, false},
		{"qty <= 4.999", row, false},
		{"qty > -99999999999999999999", row, true},
		{"qty < 99999999999999999999", row, true},
		{"qty = 99999999999999999999", row, false},
		{"5 = qty", row, true},
		{"4 < qty", row, true},
		{"uqty > -1", row, true},
		{"uqty >= 0.5", row, false},
		{"uqty = 18446744073709551615", maxU, true},
		{"uqty < 18446744073709551616", maxU, true},
		{"uqty > 18446744073709551614.5", maxU, true},
		{"amount = 12.5", row, true},
		{"amount > 12.499", row, true},
		{"amount < 12.5000001", row, true},
		{"amount = -12.5", row, false},
		{"big = 0", row, true},
		{"big >= -0.00", row, true},
		{"price > 0.1", row, false},
		{"price = 0.1", row, true},
		{"fl > 0.1", row, true}, // FLOAT 0.1 is 0.100000001490116..., compared as a double, as MySQL does
		{"status = 'Paid'", row, false},
		{"status > 'PAID'", row, true},
		{"status IN ('a', 'paid')", row, true},
		{"status NOT IN ('a')", row, true},
		{"status NOT IN ('paid')", row, false},
		{"bin = 'ab'", row, true},
		{"bin < 'b'", row, true},
		{"created_at >= '2024-03-04'", row, true},
		{"created_at < '2024-03-04 05:06:07.123'", row, false},
		{"created_at = '2024-03-04 05:06:07.123'", row, true},
		{"created_at = '2024-03-04T05:06:07.123'", row, true},
		{"ts > '2024-03-04 05:06:07'", row, true},
		{"day_d = '2024-03-04 00:00:00'", row, true},
		{"day_d < '2024-03-04 00:00:01'", row, true},
		{"dur > '-01:00:00'", row, true},
		{"dur = '838:59:59'", row, false},
		{"kind = 'a'", row, true},
		{"tags = 'x,y'", row, true},
		{"yr = 2024", row, true},
		{"bits = 5", row, true},
		{"bits IN (1, 5)", row, true},
		{"qty IN (1, 5.0)", row, true},
		{"qty IN (1, 2)", row, false},
		{"qty = TRUE", maxU, true},
		{"qty = FALSE", maxU, false},
		{"1 = 1", row, true},
		{"'a' < 'b'", row, true},
		{"'a' = 'A'", row, false},
		{"1 IN (2, NULL)", row, false},
		{"NOT (1 IN (2, NULL))", row, false},
		{"NOT (1 IN (2))", row, true},
		{"NULL IS NULL", row, true},
		{"1 IS NULL", row, false},
		{"qty = qty", row, true},
		{"amount > qty", row, true},
		{"price < amount", row, true},
		{"uqty < qty", row, true},
		{"fl < price", row, false},
		{"status = note", row, true},
		{"bin < status", row, true},
		{"created_at > day_d", row, true},
		{"ts = created_at", row, true},
		{"dur <= dur", row, true},
		// NULL: comparisons are unknown, and unknown is not true.
		{"amount > 0", maxU, false},
		{"NOT (amount > 0)", maxU, false},
		{"amount IS NULL", maxU, true},
		{"amount IS NOT NULL", maxU, false},
		{"NOT (amount > 0 AND status = 'x')", orderRow(s, map[string]any{"status": "y"}), true},
		{"amount > 0 OR status = 'paid'", orderRow(s, map[string]any{"status": "paid"}), true},
		{"amount > 0 AND status = 'paid'", orderRow(s, map[string]any{"status": "paid"}), false},
		{"qty NOT IN (1, NULL)", row, false},
		{"qty IN (5, NULL)", row, true},
		{"qty NOT IN (1, NULL)", maxU, false},
		{"status IN ('a', NULL)", row, false},
	}
	for _, tc := range tests {
		b := bindView(t, s, aggView(tc.where, nil))
		d := Delta{}
		if err := b.AccumulateRow(tc.row, 1, d); err != nil {
			t.Errorf("%s: %v", tc.where, err)
			continue
		}
		if got := len(d) == 1; got != tc.want {
			t.Errorf("where %s: passes = %v, want %v", tc.where, got, tc.want)
		}
	}
}

func TestDecimalSumExact(t *testing.T) {
	s := ordersSchema(t)
	s.Columns[2].Type = viewType(t, "decimal(12,2)")
	b := bindView(t, s, aggView("", nil, "count()", "sum(amount)", "avg(amount)"))
	r := rand.New(rand.NewPCG(1, 2))
	d := Delta{}
	want := new(big.Int)
	for i := range 10000 {
		n := r.Int64N(2e12) - 1e12 // 10 integer digits and 2 fraction digits at most
		if i%100 == 0 {
			n = 999999999999 // the largest DECIMAL(12,2)
		}
		want.Add(want, big.NewInt(n))
		dec := DecimalFromScaled(big.NewInt(n), 2)
		if err := b.AccumulateRow(orderRow(s, map[string]any{"amount": dec}), 1, d); err != nil {
			t.Fatal(err)
		}
	}
	row, ok := b.Result("", d[""])
	if !ok {
		t.Fatal("no group")
	}
	if got, w := row[1], DecimalFromScaled(want, 2); got != w {
		t.Errorf("sum = %v, want %v", got, w)
	}
	// avg: exact rational, rounded half away from zero at scale 6.
	q := new(big.Rat).SetFrac(want, big.NewInt(100*10000))
	if got, w := string(row[2].(Decimal)), ratRoundHalfAway(q, 6); got != w {
		t.Errorf("avg = %v, want %v", got, w)
	}
}

// ratRoundHalfAway is an independent rounding of q to scale digits.
func ratRoundHalfAway(q *big.Rat, scale int) string {
	neg := q.Sign() < 0
	a := new(big.Rat).Abs(q)
	a.Mul(a, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	a.Add(a, big.NewRat(1, 2))
	n := new(big.Int).Quo(a.Num(), a.Denom())
	if neg {
		n.Neg(n)
	}
	return string(DecimalFromScaled(n, scale))
}

func TestAvgRounding(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"status"}, "avg(qty)", "avg(amount)"))
	cases := []struct {
		qty    []int64
		amount []string
		want   string
	}{
		{[]int64{1, 2}, []string{"0.01", "0.02"}, "[1.5000 0.015000]"},
		{[]int64{2, 0, 0}, []string{"0.02", "0.00", "0.00"}, "[0.6667 0.006667]"},
		{[]int64{-2, 0, 0}, []string{"-0.02", "0.00", "0.00"}, "[-0.6667 -0.006667]"},
		{[]int64{1, 0, 0, 0, 0, 0, 0, 0}, []string{"0.01", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00", "0.00"}, "[0.1250 0.001250]"},
		// 1/80000 = 0.0000125: the half rounds away from zero, both signs.
		{append([]int64{1}, make([]int64, 79999)...), nil, "[0.0000 <nil>]"},
	}
	for i, c := range cases {
		d := Delta{}
		for j, q := range c.qty {
			r := orderRow(s, map[string]any{"status": "x", "qty": q})
			if j < len(c.amount) {
				r[2] = Decimal(c.amount[j])
			}
			if err := b.AccumulateRow(r, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		row, _ := b.Result("x", d["x"])
		if got := fmt.Sprint(row[1:]); got != c.want {
			t.Errorf("case %d: avg = %s, want %s", i, got, c.want)
		}
	}
	for _, c := range []struct {
		sum  int64
		nn   int64
		want string
	}{
		{5, 10000 * 2, "0.0003"}, {-5, 10000 * 2, "-0.0003"}, {1, 3, "0.3333"}, {2, 3, "0.6667"}, {-2, 3, "-0.6667"}, {0, 7, "0.0000"},
		{15, 10 * 10000 * 1, "0.0002"}, {-15, 100000, "-0.0002"},
	} {
		if got := avgDecimal(big.NewInt(c.sum), c.nn, 0, 4); string(got) != c.want {
			t.Errorf("avgDecimal(%d, %d) = %s, want %s", c.sum, c.nn, got, c.want)
		}
	}
}

func TestUnsignedSumBeyond64Bits(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", nil, "sum(uqty)", "avg(uqty)"))
	d := Delta{}
	want := new(big.Int)
	vals := []uint64{math.MaxUint64, math.MaxUint64, 1 << 63, math.MaxInt64, 12345}
	for range 50 {
		for _, u := range vals {
			want.Add(want, new(big.Int).SetUint64(u))
			if err := b.AccumulateRow(orderRow(s, map[string]any{"uqty": u}), 1, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	row, _ := b.Result("", d[""])
	if got := string(row[0].(Decimal)); got != want.String() {
		t.Errorf("sum = %s, want %s", got, want)
	}
	enc := d[""].String()
	back, err := b.DecodeAgg([]byte(enc))
	if err != nil || back.String() != enc {
		t.Fatalf("round trip %q: %v %v", enc, back, err)
	}
	// Subtract everything again: exactly zero.
	for range 50 {
		for _, u := range vals {
			if err := b.AccumulateRow(orderRow(s, map[string]any{"uqty": u}), -1, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !d[""].IsZero() {
		t.Errorf("after subtracting all: %s", d[""])
	}
	// Signed extremes.
	b2 := bindView(t, s, aggView("", nil, "sum(id)"))
	d2 := Delta{}
	for _, n := range []int64{math.MinInt64, math.MinInt64, math.MaxInt64, -1} {
		_ = b2.AccumulateRow(orderRow(s, map[string]any{"id": n}), 1, d2)
	}
	row, _ = b2.Result("", d2[""])
	if got, want := string(row[0].(Decimal)), "-9223372036854775810"; got != want {
		t.Errorf("signed sum = %s, want %s", got, want)
	}
	for _, n := range []int64{math.MinInt64, math.MinInt64, math.MaxInt64, -1} {
		_ = b2.AccumulateRow(orderRow(s, map[string]any{"id": n}), -1, d2)
	}
	if !d2[""].IsZero() {
		t.Errorf("signed after subtracting all: %s", d2[""])
	}
}

func TestFloatMeasures(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", nil, "sum(price)", "avg(price)", "sum(fl)"))
	d := Delta{}
	for _, p := range []float64{0.1, 0.2, 0.3, 1e10} {
		_ = b.AccumulateRow(orderRow(s, map[string]any{"price": p, "fl": float64(float32(p))}), 1, d)
	}
	_ = b.AccumulateRow(orderRow(s, map[string]any{}), 1, d) // NULLs are skipped
	row, _ := b.Result("", d[""])
	sum := 0.1 + 0.2 + 0.3 + 1e10
	if row[0].(float64) != sum || row[1].(float64) != sum/4 {
		t.Errorf("float sum/avg = %v, want %v %v", row, sum, sum/4)
	}
	if !floatClose(row[2].(float64), float64(float32(0.1))+float64(float32(0.2))+float64(float32(0.3))+1e10) {
		t.Errorf("FLOAT sum = %v", row[2])
	}
	if got := b.AggLayout(); got != "iififif" {
		t.Errorf("layout %q", got)
	}
}

func TestTruncateKeys(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"truncate(5, qty)", "truncate(5, uqty)", "truncate(2, status)", "truncate(1, bin)"}))
	cases := []struct {
		qty    int64
		uqty   uint64
		status string
		bin    []byte
		want   GroupKey
	}{
		{-7, 17, "héllo wörld", []byte("ab"), "-10|15|hé|YQ=="},
		{-5, 5, "é", []byte{}, "-5|5|é|"},
		{-1, 4, "|\\x", []byte{0xff}, `-5|0|\|\\|/w==`},
		{0, 0, "", []byte("z"), "0|0||eg=="},
		{4, math.MaxUint64, "ab", nil, `0|18446744073709551615|ab|\N`},
		{5, 0, "ab", nil, `5|0|ab|\N`},
		{7, 0, "ab", nil, `5|0|ab|\N`},
		{math.MinInt64, 0, "ab", nil, `-9223372036854775805|0|ab|\N`},
		{math.MaxInt64, 0, "ab", nil, `9223372036854775805|0|ab|\N`},
	}
	for _, c := range cases {
		d := Delta{}
		r := orderRow(s, map[string]any{"qty": c.qty, "uqty": c.uqty, "status": c.status})
		if c.bin != nil {
			r[s.ColumnIndex("bin")] = c.bin
		}
		if err := b.AccumulateRow(r, 1, d); err != nil {
			t.Fatal(err)
		}
		for k := range d {
			if k != c.want {
				t.Errorf("truncate of %d %d %q %x: key %q, want %q", c.qty, c.uqty, c.status, c.bin, k, c.want)
			}
			if _, err := b.DecodeKey(k); err != nil {
				t.Errorf("DecodeKey(%q): %v", k, err)
			}
		}
	}
}

func TestTimeKeys(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"year(created_at)", "month(created_at)", "day(created_at)", "hour(created_at)", "day(day_d)", "hour(ts)", "created_at", "ts", "day_d", "dur"}))
	when := time.Date(2024, 3, 4, 5, 6, 7, 123456e3, time.UTC)
	cases := []struct {
		r    Row
		want GroupKey
	}{
		{orderRow(s, map[string]any{"created_at": when, "day_d": time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC), "ts": when, "dur": -(90*time.Minute + time.Microsecond)}),
			"2024|2024-03|2024-03-04|2024-03-04 05|2024-03-04|2024-03-04 05|2024-03-04 05:06:07.123|2024-03-04 05:06:07.123456|2024-03-04|-01:30:00"},
		{orderRow(s, map[string]any{"created_at": time.Time{}, "day_d": time.Time{}, "ts": time.Time{}, "dur": 838*time.Hour + 59*time.Minute + 59*time.Second}),
			"0000|0000-00|0000-00-00|0000-00-00 00|0000-00-00|0000-00-00 00|0000-00-00 00:00:00.000|0000-00-00 00:00:00.000000|0000-00-00|838:59:59"},
		{orderRow(s, map[string]any{}), `\N|\N|\N|\N|\N|\N|\N|\N|\N|\N`},
	}
	for _, c := range cases {
		d := Delta{}
		if err := b.AccumulateRow(c.r, 1, d); err != nil {
			t.Fatal(err)
		}
		for k, a := range d {
			if k != c.want {
				t.Errorf("key %q, want %q", k, c.want)
			}
			row, ok := b.Result(k, a)
			if !ok {
				t.Fatalf("Result(%q) absent", k)
			}
			back, err := b.EncodeKey(row[:10])
			if err != nil || back != k {
				t.Errorf("EncodeKey(Result) = %q, %v; want %q", back, err, k)
			}
		}
	}
}

func TestKeyCodec(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"status", "amount", "qty", "uqty", "price", "fl", "bin", "kind", "bits", "yr"}))
	vals := [][]any{
		{"a|b\\c", Decimal("-1.50"), int64(-3), uint64(math.MaxUint64), 0.1, float64(float32(1.1)), []byte{0, '|', '\\'}, "b", uint64(255), int64(1901)},
		{"", nil, nil, nil, nil, nil, []byte{}, "", nil, nil},
		{`\N`, Decimal("0.00"), int64(0), uint64(0), 1e300, 0.0, nil, nil, uint64(0), int64(0)},
		{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	seen := map[GroupKey]bool{}
	for _, v := range vals {
		k, err := b.EncodeKey(v)
		if err != nil {
			t.Fatal(err)
		}
		if seen[k] {
			t.Errorf("key %q is not unique", k)
		}
		seen[k] = true
		back, err := b.DecodeKey(k)
		if err != nil {
			t.Fatalf("DecodeKey(%q): %v", k, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Errorf("DecodeKey(EncodeKey(%#v)) = %#v", v, back)
		}
		// The same values from a row give the same key.
		r := orderRow(s, map[string]any{})
		for i, name := range []string{"status", "amount", "qty", "uqty", "price", "fl", "bin", "kind", "bits", "yr"} {
			r[s.ColumnIndex(name)] = v[i]
		}
		d := Delta{}
		if err := b.AccumulateRow(r, 1, d); err != nil {
			t.Fatal(err)
		}
		if d[k] == nil {
			t.Errorf("row filed under %v, EncodeKey says %q", reflect.ValueOf(d).MapKeys(), k)
		}
	}
	// Negative zero groups with zero.
	k1, _ := b.EncodeKey([]any{"", nil, nil, nil, math.Copysign(0, -1), nil, nil, nil, nil, nil})
	k2, _ := b.EncodeKey([]any{"", nil, nil, nil, 0.0, nil, nil, nil, nil, nil})
	if k1 != k2 {
		t.Errorf("-0 and 0 keys differ: %q %q", k1, k2)
	}
	for _, bad := range []GroupKey{"a", `a|1|2|3|4|5|6|7|8|9|10`, `a\`, `a\x|||||||||`, `x\N|||||||||`, `a|x|||||||||`} {
		if _, err := b.DecodeKey(bad); err == nil {
			t.Errorf("DecodeKey(%q): no error", bad)
		}
	}
	if _, err := b.EncodeKey([]any{1}); err == nil {
		t.Error("EncodeKey with too few values: no error")
	}
	if _, err := b.EncodeKey([]any{1, nil, nil, nil, nil, nil, nil, nil, nil, nil}); err == nil {
		t.Error("EncodeKey with an int for a string key: no error")
	}
	// A view without keys has the single key "".
	g := bindView(t, s, aggView("", nil))
	if k, err := g.EncodeKey(nil); k != "" || err != nil {
		t.Errorf("global key %q %v", k, err)
	}
	if v, err := g.DecodeKey(""); len(v) != 0 || err != nil {
		t.Errorf("global DecodeKey %v %v", v, err)
	}
	if _, err := g.DecodeKey("x"); err == nil {
		t.Error("global DecodeKey(x): no error")
	}
}

func TestAccumulateErrors(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("qty > 1", []string{"status"}, "sum(amount)"))
	good := orderRow(s, map[string]any{"qty": int64(2), "status": "x", "amount": Decimal("1.00")})
	d := Delta{}
	if err := b.Accumulate(ev(s, OpInsert, nil, good), d); err != nil {
		t.Fatal(err)
	}
	before := d["x"].String()
	cases := []struct {
		e    Event
		want string
	}{
		{ev(s, OpInsert, nil, orderRow(s, map[string]any{"qty": int64(2), "status": "x", "amount": 1.0})), "column amount (decimal(10,2)) holds float64, want formats.Decimal"},
		{ev(s, OpInsert, nil, orderRow(s, map[string]any{"qty": 2, "status": "x"})), "column qty (int) holds int, want int64"},
		{ev(s, OpInsert, nil, orderRow(s, map[string]any{"qty": int64(2), "status": []byte("x")})), "column status (varchar(20)) holds []uint8, want string"},
		{ev(s, OpUpdate, good, orderRow(s, map[string]any{"qty": int64(2), "status": "x", "amount": Decimal("1.234")})), "more than 2 fraction digits"},
		{ev(s, OpInsert, nil, Row{int64(1)}), "row has 1 values, schema of shop.orders has 19 columns"},
		{Event{Table: TableID{"shop", "other"}, Op: OpInsert, After: good}, "accumulating shop.other event into view v of shop.orders"},
		{Event{Table: s.Table, Op: Op(9), After: good}, "unknown op op(9)"},
	}
	for _, c := range cases {
		err := b.Accumulate(c.e, d)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Accumulate: error %v, want it to contain %q", err, c.want)
		}
		if len(d) != 1 || d["x"].String() != before {
			t.Fatalf("a failed Accumulate changed the delta: %v", d)
		}
	}
	other := *s
	other.Columns = s.Columns[:3]
	if err := b.Accumulate(Event{Table: s.Table, Op: OpInsert, After: good, Schema: &other}, d); err == nil || !strings.Contains(err.Error(), "differs from the bound one") {
		t.Errorf("schema mismatch: %v", err)
	}
	if err := b.AccumulateRow(good, 2, d); err == nil {
		t.Error("AccumulateRow sign 2: no error")
	}
	m := bindView(t, s, ViewSpec{Name: "m", From: "shop.orders", Mirror: true})
	if err := m.Accumulate(ev(s, OpInsert, nil, good), d); err == nil {
		t.Error("Accumulate on a mirror: no error")
	}
}

func TestMirrorKeyAndProject(t *testing.T) {
	s := ordersSchema(t)
	s.PK = []int{1, 0} // (status, id)
	m := bindView(t, s, ViewSpec{Name: "m", From: "shop.orders", Mirror: true, Columns: []string{"id", "status", "amount"}})
	r := orderRow(s, map[string]any{"id": int64(7), "status": "a|b", "amount": Decimal("1.00")})
	k, err := m.MirrorKey(r)
	if err != nil || k != `a\|b|7` {
		t.Errorf("MirrorKey = %q, %v", k, err)
	}
	if got := m.Project(r); !reflect.DeepEqual(got, Row{int64(7), "a|b", Decimal("1.00")}) {
		t.Errorf("Project = %v", got)
	}
	vals, err := m.DecodeKey(k)
	if err != nil || !reflect.DeepEqual(vals, []any{"a|b", int64(7)}) {
		t.Errorf("DecodeKey(%q) = %v, %v; want the primary key in key order", k, vals, err)
	}
	if k2, err := m.EncodeKey(vals); k2 != k || err != nil {
		t.Errorf("EncodeKey(%v) = %q, %v", vals, k2, err)
	}
}

// modelCheck applies random row changes through Accumulate and checks the
// running answer against a recomputation from the final table.
func TestAccumulateMatchesRecompute(t *testing.T) {
	s := ordersSchema(t)
	specs := []ViewSpec{
		aggView("status <> 'c' AND (amount > 0 OR qty IS NULL)", []string{"day(created_at) AS day", "status"}, "count()", "sum(amount)", "avg(amount)", "count(qty)", "sum(price)"),
		aggView("qty NOT IN (3, 4) OR uqty > 9223372036854775807", []string{"truncate(3, qty)", "truncate(1, status)"}, "sum(uqty)", "avg(qty)", "avg(price)"),
		aggView("", nil, "count()", "sum(qty)", "avg(amount)"),
	}
	r := rand.New(rand.NewPCG(7, 7))
	randRow := func(id int64) Row {
		vals := map[string]any{"id": id, "created_at": time.Date(2024, 1, 1+r.IntN(3), r.IntN(24), 0, 0, 0, time.UTC)}
		if r.IntN(5) > 0 {
			vals["status"] = []string{"a", "b", "c", "A", ""}[r.IntN(5)]
		}
		if r.IntN(4) > 0 {
			vals["amount"] = DecimalFromScaled(big.NewInt(r.Int64N(20000)-5000), 2)
		}
		if r.IntN(4) > 0 {
			vals["qty"] = r.Int64N(20) - 10
		}
		if r.IntN(4) > 0 {
			vals["uqty"] = r.Uint64()
		}
		if r.IntN(4) > 0 {
			vals["price"] = float64(r.IntN(1000)) / 8
		}
		return orderRow(s, vals)
	}
	for _, spec := range specs {
		b := bindView(t, s, spec)
		table := map[int64]Row{}
		running := Delta{}
		for i := range 3000 {
			id := int64(r.IntN(200))
			old, exists := table[id]
			var e Event
			switch {
			case !exists:
				nr := randRow(id)
				table[id] = nr
				e = ev(s, OpInsert, nil, nr)
			case r.IntN(3) == 0:
				delete(table, id)
				e = ev(s, OpDelete, old, nil)
			default:
				nr := randRow(id)
				table[id] = nr
				e = ev(s, OpUpdate, old, nr)
			}
			// Deltas per "transaction" of 10 events, merged like segments.
			tx := Delta{}
			if err := b.Accumulate(e, tx); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				tx.Prune()
			}
			running.Merge(tx)
		}
		fresh := Delta{}
		for _, row := range table {
			if err := b.AccumulateRow(row, 1, fresh); err != nil {
				t.Fatal(err)
			}
		}
		got, want := answers(t, b, running), answers(t, b, fresh)
		// Float sums differ in the last bits by summation order: compare rows with RowsEqual.
		if len(got) != len(want) {
			t.Fatalf("%s: %d groups, want %d\n got %q\nwant %q", spec.Where, len(got), len(want), got, want)
		}
		for k, a := range fresh {
			wr, _ := b.Result(k, a)
			gr, ok := b.Result(k, running[k])
			if !ok || !b.RowsEqual(gr, wr) {
				t.Errorf("%s: group %q: got %v, want %v", spec.Where, k, gr, wr)
			}
		}
		// Encoded, decoded and merged again: the same answers.
		re := Delta{}
		for k, a := range running {
			back, err := b.View().DecodeAgg(a.AppendEncode(nil))
			if err != nil {
				t.Fatal(err)
			}
			re[k] = back
		}
		if g2 := answers(t, b, re); !reflect.DeepEqual(g2, got) {
			t.Errorf("after encode/decode:\n got %q\nwant %q", g2, got)
		}
	}
}

// BenchmarkAccumulate measures the speed layer's per-row cost: a typical
// view (where, a day key and a string key, count/sum/avg of a DECIMAL) fed
// inserts and updates, most of them into groups the delta already has.
func BenchmarkAccumulate(b *testing.B) {
	s := ordersSchema(b)
	bv := bindView(b, s, aggView("status <> 'cancelled' AND amount > 0", []string{"day(created_at) AS day", "status"}, "count() AS orders", "sum(amount) AS revenue", "avg(amount)"))
	r := rand.New(rand.NewPCG(1, 1))
	statuses := []string{"paid", "new", "shipped", "cancelled", "refunded"}
	const n = 4096
	events := make([]Event, n)
	for i := range events {
		row := orderRow(s, map[string]any{
			"id": int64(i), "status": statuses[r.IntN(len(statuses))],
			"amount":     DecimalFromScaled(big.NewInt(r.Int64N(100000)), 2),
			"created_at": time.Date(2024, 1, 1+r.IntN(30), r.IntN(24), 0, 0, 0, time.UTC),
		})
		events[i] = ev(s, OpInsert, nil, row)
		if i%4 == 3 { // a quarter are updates of the previous row
			events[i] = ev(s, OpUpdate, events[i-1].After, row)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	d := Delta{}
	for i := 0; i < b.N; i++ {
		if i%n == 0 && len(d) > 1000 {
			d = Delta{}
		}
		if err := bv.Accumulate(events[i%n], d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkAccumulateRow is the batch path: plain rows, integer keys.
func BenchmarkAccumulateRow(b *testing.B) {
	s := ordersSchema(b)
	bv := bindView(b, s, aggView("qty IN (1, 2, 3, 5, 8)", []string{"truncate(100, id)", "kind"}, "count()", "sum(uqty)", "sum(price)", "avg(amount)"))
	r := rand.New(rand.NewPCG(1, 1))
	const n = 4096
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = orderRow(s, map[string]any{
			"id": int64(i), "qty": int64(r.IntN(10)), "kind": []string{"a", "b"}[r.IntN(2)],
			"uqty": r.Uint64(), "price": r.Float64(), "amount": DecimalFromScaled(big.NewInt(r.Int64N(1e9)), 2),
		})
	}
	b.ReportAllocs()
	b.ResetTimer()
	d := Delta{}
	for i := 0; i < b.N; i++ {
		if err := bv.AccumulateRow(rows[i%n], 1, d); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestBoundViewConcurrentUse runs one BoundView from several goroutines,
// each with its own Delta (run with -race).
func TestBoundViewConcurrentUse(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("status IN ('a', 'b') AND amount > 0", []string{"status", "day(created_at)"}, "count()", "sum(amount)", "avg(price)"))
	when := time.Date(2024, 1, 2, 3, 0, 0, 0, time.UTC)
	done := make(chan Delta)
	for g := range 4 {
		go func() {
			d := Delta{}
			for i := range 500 {
				r := orderRow(s, map[string]any{"status": []string{"a", "b"}[i%2], "amount": Decimal("1.00"), "price": float64(g), "created_at": when})
				if err := b.AccumulateRow(r, 1, d); err != nil {
					t.Error(err)
				}
			}
			done <- d
		}()
	}
	total := Delta{}
	for range 4 {
		total.Merge(<-done)
	}
	if got := answers(t, b, total); !reflect.DeepEqual(got, []string{"a|2024-01-02 => [a 2024-01-02 1000 1000.00 1.5]", "b|2024-01-02 => [b 2024-01-02 1000 1000.00 1.5]"}) {
		t.Errorf("answers %q", got)
	}
}
