package formats

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
)

// columnarTable is a table with a column of every class of the type map
// (c0, c1, ...), nullable, keyed by c0.
func columnarTable(t testing.TB) *TableSchema {
	s := &TableSchema{Table: TableID{DB: "shop", Table: "all"}, PK: []int{0}}
	for i, typ := range roundTripTypes {
		s.Columns = append(s.Columns, Column{Name: fmt.Sprintf("c%d", i), Type: viewType(t, typ), Nullable: true})
	}
	return s
}

// columnarRows draws rows from small per-column pools of random values,
// NULL and (temporal columns) the zero date, so that groups collide and
// comparisons go both ways.
func columnarRows(r *rand.Rand, s *TableSchema, n int) []Row {
	pools := make([][]any, len(s.Columns))
	for j, c := range s.Columns {
		pool := []any{nil}
		for range 5 {
			pool = append(pool, randomValue(r, c.Type))
		}
		switch classOf(c.Type) {
		case clsTime:
			pool = append(pool, time.Time{})
			if tm, ok := pool[1].(time.Time); ok { // another instant of one bucket
				pool = append(pool, tm.Add(time.Minute+time.Microsecond*time.Duration(c.Type.FSP)))
			}
		case clsDec:
			pool = append(pool, Decimal(DecimalFromScaled(big.NewInt(-5), c.Type.Scale)), DecimalFromScaled(big.NewInt(0), c.Type.Scale))
		case clsInt:
			if c.Type.Kind != KindYear {
				pool = append(pool, int64(-7), int64(3), int64(0))
			}
		case clsUint:
			if c.Type.Kind != KindBit {
				pool = append(pool, uint64(3), uint64(1)<<63+5)
			}
		case clsStr:
			if c.Type.Kind == KindChar || c.Type.Kind == KindVarChar || c.Type.Kind == KindText {
				pool = append(pool, "", "a", "b'c", "a|b\\c")
			}
		}
		pools[j] = pool
	}
	rows := make([]Row, n)
	for i := range rows {
		row := make(Row, len(s.Columns))
		for j := range row {
			row[j] = pools[j][r.IntN(len(pools[j]))]
		}
		rows[i] = row
	}
	return rows
}

func recordOfRows(t testing.TB, s *TableSchema, rows []Row) arrow.Record {
	t.Helper()
	fields := make([]arrow.Field, len(s.Columns))
	for j, c := range s.Columns {
		fields[j] = arrow.Field{Name: c.Name, Type: ArrowType(c.Type), Nullable: true}
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), arrow.NewSchema(fields, nil))
	defer b.Release()
	for _, row := range rows {
		for j, c := range s.Columns {
			if err := AppendArrow(b.Field(j), c.Type, row[j]); err != nil {
				t.Fatalf("AppendArrow(%s, %v): %v", c.Type, row[j], err)
			}
		}
	}
	return b.NewRecord()
}

// columnarViews are views over columnarTable covering every key kind and
// transform, every measure slot and every where form over every class.
func columnarViews(s *TableSchema) []ViewSpec {
	var keys, wheres []string
	var measures = []string{"count() AS n"}
	for i, c := range s.Columns {
		name := c.Name
		cls := classOf(c.Type)
		if c.Type.Kind != KindJSON && c.Type.Kind != KindGeometry {
			keys = append(keys, name)
			wheres = append(wheres, name+" IS NULL", "NOT ("+name+" IS NOT NULL)")
		}
		measures = append(measures, fmt.Sprintf("count(%s) AS nn%d", name, i))
		switch cls {
		case clsInt, clsUint, clsDec, clsFloat:
			if c.Type.Kind != KindBit {
				measures = append(measures, fmt.Sprintf("sum(%s) AS s%d", name, i), fmt.Sprintf("avg(%s) AS a%d", name, i))
			}
			for _, lit := range []string{"0", "3", "-5.5", "12.345", "99999999999999999999999", "-99999999999999999999999", "0.00000000000000000000000000000000000001"} {
				wheres = append(wheres, name+" > "+lit, name+" = "+lit, lit+" >= "+name, name+" <> "+lit)
			}
			wheres = append(wheres, name+" IN (0, 3, -5, NULL)", name+" NOT IN (3, -7.0)", name+" IN (-7, 1.5)")
		case clsTime:
			keys = append(keys, "year("+name+")", "month("+name+")", "day("+name+")", "hour("+name+")")
			wheres = append(wheres, name+" >= '2000-01-01'", name+" < '2030-06-01 12:00:00.5'", name+" = '0000-00-00'",
				name+" IN ('1999-12-31', '2020-02-29 10:00:00')")
		case clsDur:
			wheres = append(wheres, name+" > '01:00:00'", name+" <= '-100:00:00.5'")
		case clsStr:
			if c.Type.Kind != KindJSON {
				keys = append(keys, "truncate(1, "+name+")", "truncate(3, "+name+")")
				wheres = append(wheres, name+" > 'a'", name+" IN ('a', 'b''c', NULL)", name+" NOT IN ('', 'x')", name+" = ''", "'b' <= "+name)
			}
		case clsBytes:
			if c.Type.Kind != KindGeometry {
				keys = append(keys, "truncate(2, "+name+")")
				wheres = append(wheres, name+" >= 'A'", name+" IN ('A', 'ab')")
			}
		}
		if (cls == clsInt || cls == clsUint) && c.Type.Kind != KindBit && c.Type.Kind != KindYear {
			keys = append(keys, "truncate(10, "+name+")", "truncate(7, "+name+")")
		}
	}
	wheres = append(wheres, "c0 < c2", "c1 >= c14", "c9 = c10", "c26 <> c27", "c16 > c17",
		"1 = 1", "1 > 2 OR c0 IS NULL", "(c0 > 0 AND c8 < 1) OR NOT (c26 = 'a' AND c15 IS NULL)",
		"c0 > 0 AND c2 IN (3, -7) AND c14 > 0.5", "NOT (c16 >= '2000-01-01' OR c21 IS NULL)")
	var views []ViewSpec
	for i, k := range keys {
		ms := []string{"count() AS n", "sum(c2)", "sum(c11)", "avg(c15)", "count(c28)"}
		if i%10 == 0 {
			ms = measures
		}
		views = append(views, ViewSpec{Name: fmt.Sprintf("k%d", i), From: "shop.all", GroupBy: []string{k + " AS key"}, Measures: ms})
	}
	for i, w := range wheres {
		k1, k2 := keys[i%len(keys)], keys[(i*7+3)%len(keys)]
		views = append(views, ViewSpec{Name: fmt.Sprintf("w%d", i), From: "shop.all", Where: w,
			GroupBy: []string{k1 + " AS key1", k2 + " AS key2"}, Measures: []string{"count() AS n", "sum(c9)", "avg(c15)", "count(c26)"}})
	}
	views = append(views, ViewSpec{Name: "all", From: "shop.all", Measures: measures})
	return views
}

// deltaText renders d for comparison: every key with its encoded state.
func deltaText(d Delta) []string {
	var out []string
	for k, a := range d {
		out = append(out, string(k)+" => "+a.String())
	}
	slices.Sort(out)
	return out
}

// TestAccumulateRecordMatchesRows holds the columnar evaluator against the
// row evaluator on random data of every type: the same groups and states,
// over whole records, over selections in any order, and over several
// records into one delta.
func TestAccumulateRecordMatchesRows(t *testing.T) {
	s := columnarTable(t)
	r := rand.New(rand.NewPCG(3, 7))
	rows := columnarRows(r, s, 3000)
	recs := []arrow.Record{recordOfRows(t, s, rows[:1000]), recordOfRows(t, s, rows[1000:])}
	defer recs[0].Release()
	defer recs[1].Release()
	sel := make([]int32, 0, 700)
	for range cap(sel) {
		sel = append(sel, int32(r.IntN(2000)))
	}
	for _, spec := range columnarViews(s) {
		v, err := ParseView(spec)
		if err != nil {
			t.Fatalf("ParseView(%+v): %v", spec, err)
		}
		bv, err := v.Bind(s)
		if err != nil {
			t.Fatalf("Bind(%+v): %v", spec, err)
		}
		want, got := Delta{}, Delta{}
		for _, row := range rows {
			if err := bv.AccumulateRow(row, 1, want); err != nil {
				t.Fatalf("view %s (where %q, group by %v): AccumulateRow: %v", spec.Name, spec.Where, spec.GroupBy, err)
			}
		}
		for _, rec := range recs {
			if err := bv.AccumulateRecord(rec, nil, got); err != nil {
				t.Fatalf("view %s (where %q, group by %v): AccumulateRecord: %v", spec.Name, spec.Where, spec.GroupBy, err)
			}
		}
		if w, g := deltaText(want), deltaText(got); !slices.Equal(w, g) {
			t.Fatalf("view %s (where %q, group by %v): columnar differs from rows:\nrows:     %s\ncolumnar: %s",
				spec.Name, spec.Where, spec.GroupBy, strings.Join(w, "\n          "), strings.Join(g, "\n          "))
		}

		want, got = Delta{}, Delta{}
		for _, i := range sel {
			if err := bv.AccumulateRow(rows[1000+i], 1, want); err != nil {
				t.Fatal(err)
			}
		}
		if err := bv.AccumulateRecord(recs[1], sel, got); err != nil {
			t.Fatal(err)
		}
		if w, g := deltaText(want), deltaText(got); !slices.Equal(w, g) {
			t.Fatalf("view %s (where %q, group by %v), selection: columnar differs from rows:\nrows:     %s\ncolumnar: %s",
				spec.Name, spec.Where, spec.GroupBy, strings.Join(w, "\n          "), strings.Join(g, "\n          "))
		}
	}
}

func TestZeroMicros(t *testing.T) {
	if got := (time.Time{}).UnixMicro(); got != zeroMicros {
		t.Fatalf("time.Time{}.UnixMicro() = %d, zeroMicros = %d", got, zeroMicros)
	}
}

func TestAccumulateRecordErrors(t *testing.T) {
	s := ordersSchema(t)
	bv := bindView(t, s, aggView("amount > 0", []string{"status"}, "sum(amount)"))
	other := &TableSchema{Table: s.Table, Columns: append([]Column(nil), s.Columns...)}
	other.Columns[2] = Column{Name: "amount", Type: viewType(t, "double")}
	rec := recordOfRows(t, other, []Row{make(Row, len(other.Columns))})
	defer rec.Release()
	d := Delta{}
	err := bv.AccumulateRecord(rec, nil, d)
	if err == nil || !strings.Contains(err.Error(), "column amount (decimal(10,2)) is an Arrow float64, want decimal(10, 2)") {
		t.Fatalf("AccumulateRecord with a float64 amount: %v", err)
	}
	short := recordOfRows(t, &TableSchema{Table: s.Table, Columns: s.Columns[:3]}, nil)
	defer short.Release()
	if err := bv.AccumulateRecord(short, nil, d); err == nil || !strings.Contains(err.Error(), "record has 3 columns") {
		t.Fatalf("AccumulateRecord with 3 columns: %v", err)
	}
	mirror := bindView(t, s, ViewSpec{Name: "m", From: "shop.orders", Mirror: true})
	if err := mirror.AccumulateRecord(rec, nil, d); err == nil {
		t.Fatal("AccumulateRecord into a mirror: no error")
	}
	if len(d) != 0 {
		t.Fatalf("failed calls changed the delta: %v", deltaText(d))
	}
}

// BenchmarkAccumulateRecord is BenchmarkAccumulateRow's view over a record
// batch of 64Ki rows.
func BenchmarkAccumulateRecord(b *testing.B) {
	s := ordersSchema(b)
	bv := bindView(b, s, aggView("status <> 'cancelled' AND amount > 0", []string{"day(created_at) AS day", "status"},
		"count() AS orders", "sum(amount) AS revenue", "avg(price) AS avg_price"))
	rows := make([]Row, 64<<10)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		rows[i] = orderRow(s, map[string]any{
			"id": int64(i), "status": []string{"new", "paid", "cancelled"}[i%3],
			"amount": DecimalFromScaled(big.NewInt(int64(i%5000)), 2), "price": float64(i%100) / 4,
			"created_at": base.Add(time.Duration(i) * 13 * time.Second),
		})
	}
	rec := recordOfRows(b, s, rows)
	defer rec.Release()
	b.Run("record", func(b *testing.B) {
		for range b.N {
			if err := bv.AccumulateRecord(rec, nil, Delta{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("rows", func(b *testing.B) {
		for range b.N {
			d := Delta{}
			for i := range rows {
				r, err := rowOfRecord(rec, i, s)
				if err != nil {
					b.Fatal(err)
				}
				if err := bv.AccumulateRow(r, 1, d); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// rowOfRecord is what the batch layer did before AccumulateRecord: a
// canonical row per record row.
func rowOfRecord(rec arrow.Record, i int, s *TableSchema) (Row, error) {
	r := make(Row, len(s.Columns))
	for j, c := range s.Columns {
		v, err := ArrowValue(rec.Column(j), i, c.Type)
		if err != nil {
			return nil, err
		}
		r[j] = v
	}
	return r, nil
}
