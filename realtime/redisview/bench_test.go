package redisview

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// benchSchema is an orders table like the demo's.
func benchSchema(tb testing.TB) *formats.TableSchema {
	tb.Helper()
	s := &formats.TableSchema{Table: formats.TableID{DB: "shop", Table: "orders"}, PK: []int{0}}
	for _, c := range []struct{ name, typ string }{
		{"id", "bigint"}, {"status", "varchar(20)"}, {"amount", "decimal(12,2)"},
		{"price", "double"}, {"created_at", "datetime"}, {"customer", "varchar(40)"},
	} {
		ty, err := formats.ParseColumnType(c.typ)
		if err != nil {
			tb.Fatal(err)
		}
		s.Columns = append(s.Columns, formats.Column{Name: c.name, Type: ty, Nullable: c.name != "id"})
	}
	return s
}

func benchView(tb testing.TB, spec formats.ViewSpec) (*formats.View, *formats.BoundView) {
	tb.Helper()
	v, err := formats.ParseView(spec)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := v.Bind(benchSchema(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return v, b
}

// revenueSpec groups by customer: count, an exact DECIMAL sum and a float
// average (5 tokens).
var revenueSpec = formats.ViewSpec{Name: "revenue", From: "shop.orders",
	GroupBy:  []string{"customer"},
	Measures: []string{"count() AS orders", "sum(amount) AS revenue", "avg(price) AS avg_price"}}

// benchRow is order id's row, of customer id mod customers.
func benchRow(id int64, customers int) formats.Row {
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(id%365))
	return formats.Row{id, statuses[id%4], formats.Decimal(strconv.FormatInt(id%100000, 10) + ".25"),
		float64(id%1000) / 8, day, "customer-" + strconv.FormatInt(id%int64(customers), 10)}
}

// BenchmarkApplyAgg measures ApplyAgg on one Redis: each call carries one
// pre-aggregated batch of row changes (10 per group) touching `groups`
// groups, and moves the checkpoint.
func BenchmarkApplyAgg(b *testing.B) {
	for _, groups := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			ctx := context.Background()
			srv := stack.Redis(b)
			s := New(srv.Client(b), Options{})
			v, bv := benchView(b, revenueSpec)
			if err := s.PublishAgg(ctx, v, 0, pos(0), 0, time.Unix(0, 0)); err != nil {
				b.Fatal(err)
			}
			const perGroup = 10
			d := formats.Delta{}
			for id := int64(0); id < int64(groups*perGroup); id++ {
				if err := bv.AccumulateRow(benchRow(id, groups), 1, d); err != nil {
					b.Fatal(err)
				}
			}
			if len(d) != groups {
				b.Fatalf("delta has %d groups, want %d", len(d), groups)
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				err := s.ApplyAgg(ctx, v, pos(uint32(i)), pos(uint32(i+1)), 1+uint64(i/50), []SegDelta{{Seg: 1 + uint64(i/50), Delta: d}})
				if err != nil {
					b.Fatal(err)
				}
			}
			sec := time.Since(start).Seconds()
			b.ReportMetric(float64(groups*b.N)/sec, "groups/s")
			b.ReportMetric(float64(groups*perGroup*b.N)/sec, "rowchanges/s")
		})
	}
}

// BenchmarkMemory reports Redis memory per stored group (batch hash and
// running total of a view like revenue) and per mirrored row (a generation
// hash and the speed overlay), by MEMORY USAGE over every field.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	srv := stack.Redis(b)
	rdb := srv.Client(b)
	s := New(rdb, Options{})
	const n = 20000
	v, bv := benchView(b, revenueSpec)
	d := formats.Delta{}
	for id := int64(0); id < n*3; id++ {
		if err := bv.AccumulateRow(benchRow(id, n), 1, d); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.LoadBatch(ctx, v, 0, maps.All(d)); err != nil {
		b.Fatal(err)
	}
	if err := s.PublishAgg(ctx, v, 0, pos(0), 0, time.Unix(0, 0)); err != nil {
		b.Fatal(err)
	}
	if err := s.ApplyAgg(ctx, v, pos(0), pos(1), 1, []SegDelta{{Seg: 1, Delta: d}}); err != nil {
		b.Fatal(err)
	}
	mv, mb := benchView(b, formats.ViewSpec{Name: "orders_m", From: "shop.orders", Mirror: true})
	rows := func(yield func(MirrorBatchRow, error) bool) {
		for id := int64(0); id < n; id++ {
			r := benchRow(id, n)
			k, err := mb.MirrorKey(r)
			if !yield(MirrorBatchRow{PK: string(k), Values: AppendMirrorRow(nil, mb, r)}, err) {
				return
			}
		}
	}
	if err := s.LoadMirrorBatch(ctx, mv.Name, 0, rows); err != nil {
		b.Fatal(err)
	}
	fp := MirrorFingerprint(mb)
	if err := s.PublishMirror(ctx, mv.Name, fp, 0, pos(0), time.Unix(0, 0)); err != nil {
		b.Fatal(err)
	}
	var changes []MirrorChange
	for id := int64(0); id < n; id++ {
		r := benchRow(id, n)
		k, _ := mb.MirrorKey(r)
		changes = append(changes, MirrorChange{PK: string(k), Row: AppendMirrorRow(nil, mb, r), Version: pos(1)})
	}
	if err := s.ApplyMirror(ctx, MirrorApply{View: mv.Name, Layout: fp, From: pos(0), To: pos(1), Rows: changes}); err != nil {
		b.Fatal(err)
	}
	usage := func(key string) float64 {
		u, err := rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		return float64(u)
	}
	for i := 0; i < b.N; i++ { // the numbers are the point, not the time
	}
	groups := float64(len(d))
	b.ReportMetric(usage("tm:{revenue}:b:0")/groups, "batch-B/group")
	b.ReportMetric(usage("tm:{revenue}:speed")/groups, "speed-B/group")
	b.ReportMetric(usage("tm:{revenue}:s:1")/groups, "segment-B/group")
	b.ReportMetric(usage("tm:{orders_m}:mb:0")/n, "mirror-batch-B/row")
	b.ReportMetric(usage("tm:{orders_m}:rows")/n, "mirror-overlay-B/row")
}
