package formats

import (
	"math/big"
	"reflect"
	"testing"
	"time"
)

// FuzzParseView feeds arbitrary where, group_by and measure strings to the
// parser. It must never panic; whatever parses must render (Spec) to a form
// that parses to the same view, and must bind, evaluate and compile to SQL
// without panicking.
func FuzzParseView(f *testing.F) {
	for _, seed := range [][3]string{
		{"status <> 'cancelled' AND amount > 0", "day(created_at) AS day", "sum(amount) AS revenue"},
		{"qty IN (1, -2.50, NULL) OR NOT (note IS NOT NULL)", "truncate(10, qty)", "avg(price)"},
		{"`status` = 'it''s' AND created_at >= '2024-01-01 10:00:00.5'", "hour(ts)", "count(*)"},
		{"((a = 1) OR b <> 2) AND c != 3", "year(day_d) AS y", "count(status) AS n"},
		{"dur < '-10:00:00' AND bin = 'x' AND uqty > 18446744073709551615", "truncate(3, status)", "count()"},
		{"1 = 1 AND 'a' IN ('a', NULL) AND TRUE = qty", "kind", "sum(uqty)"},
		{"", "", ""},
		{"((((", "truncate(-1, x)", "min(x)"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	s := ordersSchema(f)
	when := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	rows := []Row{
		orderRow(s, map[string]any{}),
		orderRow(s, map[string]any{
			"id": int64(1), "status": "paid", "amount": Decimal("12.50"), "qty": int64(-7), "uqty": uint64(1 << 63),
			"price": 0.5, "fl": 0.25, "created_at": when, "day_d": when.Truncate(24 * time.Hour), "ts": when,
			"dur": time.Hour, "doc": "{}", "bin": []byte("x|\\"), "bits": uint64(3), "yr": int64(2024),
			"kind": "a", "tags": "x", "note": "n", "big": DecimalFromScaled(big.NewInt(-123456789), 4),
		}),
	}
	f.Fuzz(func(t *testing.T, where, groupBy, measure string) {
		spec := ViewSpec{Name: "v", From: "shop.orders", Where: where, Measures: []string{measure}}
		if groupBy != "" {
			spec.GroupBy = []string{groupBy}
		}
		v, err := ParseView(spec)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		canon := v.Spec()
		v2, err := ParseView(canon)
		if err != nil {
			t.Fatalf("canonical form %+v of %+v does not parse: %v", canon, spec, err)
		}
		if again := v2.Spec(); !reflect.DeepEqual(again, canon) {
			t.Fatalf("canonical form is not stable:\n%+v\n%+v", canon, again)
		}
		if !reflect.DeepEqual(v2.Where, v.Where) || !reflect.DeepEqual(v2.GroupBy, v.GroupBy) || !reflect.DeepEqual(v2.Measures, v.Measures) {
			t.Fatalf("round trip changed the view: %+v -> %+v", spec, canon)
		}
		b, err := v.Bind(s)
		if err != nil {
			return
		}
		_ = b.VerifySQL()
		_ = b.WhereSQL()
		d := Delta{}
		for _, r := range rows {
			if err := b.AccumulateRow(r, 1, d); err != nil {
				t.Fatalf("AccumulateRow: %v", err)
			}
		}
		for k, a := range d {
			if _, err := b.DecodeKey(k); err != nil {
				t.Fatalf("DecodeKey(%q): %v", k, err)
			}
			if _, err := b.DecodeAgg(a.AppendEncode(nil)); err != nil {
				t.Fatalf("DecodeAgg: %v", err)
			}
			b.Result(k, a)
		}
	})
}
