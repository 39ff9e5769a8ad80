package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// BenchmarkViewPushdown computes one aggregate view over the benchmark's
// generation table (TIDEMARK_BENCH_WAREHOUSE_ROWS rows, default 500,000)
// both ways batch.engine can: the local columnar engine over the table's
// Parquet (as a rebuild rolling a generation forward reads it) and pushed
// down to PostgreSQL over the prepared per-generation table
// (ComputeViewState). Beside each, in the same run, its ceiling: decoding
// the Parquet without aggregating, and a bare count(*) scan of the table
// in PostgreSQL. It checks the two answers are equal and prints rows/s,
// latency and peak RSS of each. No target: it shows where a generation's
// views are cheaper to compute on this machine.
func BenchmarkViewPushdown(b *testing.B) {
	n := 500_000
	if v := os.Getenv(benchRowsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive row count", benchRowsEnv, v)
		}
	}
	ctx := context.Background()
	pg := stack.Postgres(b)
	store, _ := lake.OpenDir(b.TempDir())
	tbl := benchTable(b, store, n)
	l, err := New(Options{DSN: pg.DSN(), Schema: "bench", Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	g := &warehouse.Generation{Number: 1, Cut: formats.Position{File: "bench.000001", Offset: 4}.String(), Tables: []warehouse.Table{tbl}}
	start := time.Now()
	if _, err := l.Prepare(ctx, g); err != nil {
		b.Fatal(err)
	}
	prepare := time.Since(start)
	v, err := formats.ParseView(formats.ViewSpec{Name: "revenue", From: "bench.orders", Where: "status <> 'cancelled'",
		GroupBy:  []string{"day(created_at) AS day", "status"},
		Measures: []string{"count()", "sum(amount)", "avg(amount)", "avg(qty)", "count(note)"}})
	if err != nil {
		b.Fatal(err)
	}
	schema := &formats.TableSchema{Table: formats.TableID{DB: "bench", Table: "orders"}, Columns: tbl.FormatsColumns(), PK: []int{0}}
	bv, err := v.Bind(schema)
	if err != nil {
		b.Fatal(err)
	}
	c := pg.Conn(b)
	rel := ident(l.GenSchema(), warehouse.GenTable(tbl.Name, 1))

	var local, decode, pushed, scan time.Duration
	var localPeak, pushedPeak int64
	var ld, pd formats.Delta
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resetPeakRSS()
		t0 := time.Now()
		if err := warehouse.ReadTable(ctx, store, &tbl, func(arrow.Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
		decode += time.Since(t0)
		t0 = time.Now()
		ld = formats.Delta{}
		if err := warehouse.ReadTable(ctx, store, &tbl, func(rec arrow.Record) error { return bv.AccumulateRecord(rec, nil, ld) }); err != nil {
			b.Fatal(err)
		}
		local += time.Since(t0)
		localPeak = max(localPeak, peakRSS())

		resetPeakRSS()
		t0 = time.Now()
		var cnt int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM "+rel).Scan(&cnt); err != nil || cnt != int64(n) {
			b.Fatalf("count(*): %d, %v", cnt, err)
		}
		scan += time.Since(t0)
		t0 = time.Now()
		if pd, err = l.ComputeViewState(ctx, bv, 1); err != nil {
			b.Fatal(err)
		}
		pushed += time.Since(t0)
		pushedPeak = max(pushedPeak, peakRSS())
	}
	b.StopTimer()
	if len(ld) == 0 || len(ld) != len(pd) {
		b.Fatalf("local engine %d groups, PostgreSQL %d", len(ld), len(pd))
	}
	for k, a := range ld {
		want, _ := bv.Result(k, a)
		got, ok := bv.Result(k, pd[k])
		if !ok || !bv.RowsEqual(got, want) {
			b.Fatalf("group %q: local %v, PostgreSQL %v", k, want, got)
		}
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	rate := func(d time.Duration) float64 { return float64(n) * float64(b.N) / d.Seconds() }
	b.ReportMetric(rate(local), "local-rows/s")
	b.ReportMetric(rate(pushed), "pushdown-rows/s")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(benchOut(b), "view pushdown: %d rows, %d groups; local engine %.0f rows/s (%.3fs, peak RSS %.0f MiB) beside Parquet decoding alone %.0f rows/s (%.3fs); "+
		"PostgreSQL %.0f rows/s (%.3fs, process peak RSS %.0f MiB) beside a count(*) scan %.0f rows/s (%.3fs); preparing the table took %.2fs once\n",
		n, len(ld), rate(local), per(local), float64(localPeak)/(1<<20), rate(decode), per(decode),
		rate(pushed), per(pushed), float64(pushedPeak)/(1<<20), rate(scan), per(scan), prepare.Seconds())
}
