package postgres

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// benchRowsEnv sets the benchmark's generation size; the figure
// is 10,000,000 rows (scripts/bench.sh with BENCH_WAREHOUSE=1 passes it).
const benchRowsEnv = "TIDEMARK_BENCH_WAREHOUSE_ROWS"

// benchTable writes an orders-like table of n rows to the lake as Parquet
// (snappy, one file, row groups of 131072) and returns it.
func benchTable(b *testing.B, store lake.Store, n int) warehouse.Table {
	b.Helper()
	cols := []warehouse.Column{
		{Name: "id", Type: mustType(b, "bigint")},
		{Name: "customer_id", Type: mustType(b, "int unsigned")},
		{Name: "status", Type: mustType(b, "enum('new','paid','shipped','cancelled')")},
		{Name: "amount", Type: mustType(b, "decimal(12,2)"), Nullable: true},
		{Name: "qty", Type: mustType(b, "int")},
		{Name: "created_at", Type: mustType(b, "datetime(6)")},
		{Name: "note", Type: mustType(b, "varchar(64)"), Nullable: true},
	}
	tbl := warehouse.Table{Source: "bench.orders", Kind: warehouse.KindTable, Name: "bench_orders", Columns: cols, PK: []int{0}}
	sch, err := snapshot.SchemaOf(tbl.FormatsColumns())
	if err != nil {
		b.Fatal(err)
	}
	w, err := snapshot.NewWriter(store, "tables/bench/orders/gen=1", sch, snapshot.PartitionSpec{}, snapshot.Options{})
	if err != nil {
		b.Fatal(err)
	}
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
	defer bld.Release()
	for i := 0; i < n; i++ {
		var amount, note any
		if i%10 != 0 {
			amount = formats.Decimal(strconv.Itoa(i%100000) + "." + strconv.Itoa(10+i%90))
		}
		if i%3 == 0 {
			note = "note " + strconv.Itoa(i)
		}
		row := []any{int64(i), uint64(i % 50000), statuses[i%4], amount, int64(i % 17), base.Add(time.Duration(i) * time.Second), note}
		for j, c := range cols {
			if err := formats.AppendArrow(bld.Field(j), c.Type, row[j]); err != nil {
				b.Fatal(err)
			}
		}
		if (i+1)%65536 == 0 || i == n-1 {
			rec := bld.NewRecord()
			err := w.Write(context.Background(), rec)
			rec.Release()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	files, err := w.Close()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range files {
		tbl.Files = append(tbl.Files, warehouse.File{Key: f.Key, Rows: f.Rows, Bytes: f.Bytes})
		tbl.Rows += f.Rows
		tbl.Bytes += f.Bytes
	}
	return tbl
}

// peakRSS returns VmHWM; resetPeakRSS restarts it (Linux clear_refs 5).
func peakRSS() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkLoadGeneration loads a generation of one table (TIDEMARK_BENCH_
// WAREHOUSE_ROWS rows, default 500,000) from Parquet to swapped in and
// readable, and beside it, in the same run, a bare binary COPY of the same
// rows (pre-encoded, so without Parquet decoding) into an unindexed table:
// the ceiling. It reports both rates, their ratio and the loader's peak
// RSS. Targets (docs/benchmarks.md): at 10M rows ≥ 400,000 rows/s end to
// end, ≥ 75 % of the ceiling, peak RSS ≤ 512 MiB.
func BenchmarkLoadGeneration(b *testing.B) {
	n := 500_000
	if v := os.Getenv(benchRowsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive row count", benchRowsEnv, v)
		}
	}
	ctx := context.Background()
	pg := stack.Postgres(b)
	dir := b.TempDir()
	store, _ := lake.OpenDir(dir)
	tbl := benchTable(b, store, n)
	l, err := New(Options{DSN: pg.DSN(), Schema: "bench", Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := pg.Conn(b)

	// The ceiling's input: the same rows as one binary COPY stream in a file.
	copyFile := dir + "/rows.copy"
	enc, err := newRowEncoder(tbl.FormatsColumns())
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(copyFile)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.Write(copyHeader)
	var buf []byte
	if err := warehouse.ReadTable(ctx, store, &tbl, func(rec arrow.Record) error {
		for i := 0; i < int(rec.NumRows()); i++ {
			buf = enc.appendRow(buf[:0], rec, i)
			bw.Write(buf)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	bw.Write(copyTrailer)
	bw.Flush()
	f.Close()
	defs, _ := columnDefs(&tbl)

	var e2e, ceiling time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Ceiling: COPY into a fresh unindexed table.
		if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS public.ceiling; CREATE TABLE public.ceiling ("+defs+")"); err != nil {
			b.Fatal(err)
		}
		in, err := os.Open(copyFile)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		tag, err := c.PgConn().CopyFrom(ctx, in, "COPY public.ceiling FROM STDIN WITH (FORMAT binary)")
		ceiling += time.Since(start)
		in.Close()
		if err != nil || tag.RowsAffected() != int64(n) {
			b.Fatalf("ceiling COPY: %v (%d rows)", err, tag.RowsAffected())
		}
		c.Exec(ctx, "DROP TABLE public.ceiling")
		g := &warehouse.Generation{Number: uint64(i + 1), Cut: formats.Position{File: "bench.000001", Offset: uint32(i + 4)}.String(), Tables: []warehouse.Table{tbl}}
		resetPeakRSS()
		b.StartTimer()

		start = time.Now()
		if _, err := l.Prepare(ctx, g); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Swap(ctx, g, 0); err != nil {
			b.Fatal(err)
		}
		e2e += time.Since(start)
		b.StopTimer()
		peak = max(peak, peakRSS())
		var got int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM bench.bench_orders").Scan(&got); err != nil || got != int64(n) {
			b.Fatalf("swapped in: %d rows, %v", got, err)
		}
		if err := l.DropOld(ctx, 1); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(n) * float64(b.N) / e2e.Seconds()
	ceil := float64(n) * float64(b.N) / ceiling.Seconds()
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(ceil, "ceiling-rows/s")
	b.ReportMetric(100*rate/ceil, "%-of-ceiling")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
	fmt.Fprintf(benchOut(b), "warehouse postgres: %d rows, %s of Parquet: end to end %.0f rows/s (%.2fs), bare COPY ceiling %.0f rows/s (%.2fs): %.0f%% of it; loader peak RSS %.0f MiB (targets: >= 400000 rows/s, >= 75%%, <= 512 MiB at 10M rows)\n",
		n, byteSizeOf(tbl.Bytes), rate, e2e.Seconds()/float64(b.N), ceil, ceiling.Seconds()/float64(b.N), 100*rate/ceil, float64(peak)/(1<<20))
}

func benchOut(b *testing.B) io.Writer { return os.Stdout }

func byteSizeOf(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
