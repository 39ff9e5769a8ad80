package postgres

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
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

// benchVariantsEnv lists loader variants to compare back to back on the
// same rows (comma-separated names of benchVariants); default "default".
const benchVariantsEnv = "TIDEMARK_BENCH_WAREHOUSE_VARIANTS"

// benchVariants are the loader settings the benchmark can compare; each
// changes Options from New's defaults.
var benchVariants = map[string]func(*Options){
	"default":  func(*Options) {},
	"mwm64":    func(o *Options) { o.MaintenanceWorkMem = "64MB" },
	"mwm1g":    func(o *Options) { o.MaintenanceWorkMem = "1GB" },
	"serial":   func(o *Options) { o.MaintenanceWorkers = -1 },
	"keyfirst": func(o *Options) { o.keyFirst = true },
	"nofreeze": func(o *Options) { o.noFreeze = true },
}

// BenchmarkLoadGeneration loads a generation of one table (TIDEMARK_BENCH_
// WAREHOUSE_ROWS rows, default 500,000) from Parquet to swapped in and
// readable (the swap committed; the ANALYZE that follows is timed and
// printed beside it), and beside it, in the same run, a bare binary COPY of the same
// rows (pre-encoded, so without Parquet decoding) into an unindexed table:
// the ceiling. It reports both rates, their ratio, the loader's peak RSS
// and the time of each phase (medians over -benchtime Nx iterations; each
// iteration runs the ceiling, then each variant of benchVariantsEnv, back
// to back). Targets (docs/benchmarks.md): at 10M rows ≥ 400,000 rows/s end
// to end, ≥ 75 % of the ceiling, peak RSS ≤ 512 MiB.
func BenchmarkLoadGeneration(b *testing.B) {
	n := 500_000
	if v := os.Getenv(benchRowsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive row count", benchRowsEnv, v)
		}
	}
	variants := []string{"default"}
	if v := os.Getenv(benchVariantsEnv); v != "" {
		variants = strings.Split(v, ",")
	}
	ctx := context.Background()
	pg := stack.Postgres(b)
	dir := b.TempDir()
	store, _ := lake.OpenDir(dir)
	tbl := benchTable(b, store, n)
	type run struct {
		e2e, readable time.Duration
		peak          int64
		phases        map[string]time.Duration
	}
	loaders := make([]*Loader, len(variants))
	runs := make([][]run, len(variants))
	var cur *run // the run being traced
	for i, name := range variants {
		o := Options{DSN: pg.DSN(), Schema: "bench", Store: store, Trace: func(_, phase string, d time.Duration) { cur.phases[phase] += d }}
		set, ok := benchVariants[name]
		if !ok {
			b.Fatalf("%s: no variant %q", benchVariantsEnv, name)
		}
		set(&o)
		l, err := New(o)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		loaders[i] = l
	}
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
	encStart := time.Now()
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
	// The loader's own work, alone: Parquet decoded and encoded as COPY
	// rows (into a file), on one goroutine.
	goSide := time.Since(encStart)
	defs, _ := columnDefs(&tbl)

	var ceilings []time.Duration
	gen := uint64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Ceiling: COPY into a fresh unindexed table, on a connection with
		// the server's default settings.
		if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS public.ceiling; CREATE TABLE public.ceiling ("+defs+")"); err != nil {
			b.Fatal(err)
		}
		in, err := os.Open(copyFile)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		tag, err := c.PgConn().CopyFrom(ctx, in, "COPY public.ceiling FROM STDIN WITH (FORMAT binary)")
		ceilings = append(ceilings, time.Since(start))
		in.Close()
		if err != nil || tag.RowsAffected() != int64(n) {
			b.Fatalf("ceiling COPY: %v (%d rows)", err, tag.RowsAffected())
		}
		c.Exec(ctx, "DROP TABLE public.ceiling")
		for v, l := range loaders {
			gen++
			g := &warehouse.Generation{Number: gen, Cut: formats.Position{File: "bench.000001", Offset: uint32(gen + 4)}.String(), Tables: []warehouse.Table{tbl}}
			cur = &run{phases: map[string]time.Duration{}}
			resetPeakRSS()
			b.StartTimer()
			start = time.Now()
			if _, err := l.Prepare(ctx, g); err != nil {
				b.Fatal(err)
			}
			if _, err := l.Swap(ctx, g, 0); err != nil {
				b.Fatal(err)
			}
			cur.e2e = time.Since(start)
			b.StopTimer()
			cur.readable = cur.e2e - cur.phases[PhaseAnalyze]
			cur.peak = peakRSS()
			runs[v] = append(runs[v], *cur)
			var got int64
			if err := c.QueryRow(ctx, "SELECT count(*) FROM bench.bench_orders").Scan(&got); err != nil || got != int64(n) {
				b.Fatalf("swapped in: %d rows, %v", got, err)
			}
			if err := l.DropOld(ctx, 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	ceiling := median(ceilings)
	ceil := float64(n) / ceiling.Seconds()
	out := benchOut(b)
	fmt.Fprintf(out, "warehouse postgres: Parquet decode + COPY encode alone (one goroutine, into a file): %.2fs, %.0f rows/s\n", goSide.Seconds(), float64(n)/goSide.Seconds())
	for v, name := range variants {
		rs := runs[v]
		e2e := median(pick(rs, func(r run) time.Duration { return r.e2e }))
		readable := median(pick(rs, func(r run) time.Duration { return r.readable }))
		var peak int64
		for _, r := range rs {
			peak = max(peak, r.peak)
		}
		rate := float64(n) / readable.Seconds()
		if v == 0 {
			b.ReportMetric(rate, "rows/s")
			b.ReportMetric(ceil, "ceiling-rows/s")
			b.ReportMetric(100*rate/ceil, "%-of-ceiling")
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(0, "ns/op")
		}
		var phases []string
		for _, p := range []string{PhaseCreate, PhaseCopy, PhaseKey, PhaseCommit, PhaseSwap, PhaseAnalyze} {
			phases = append(phases, fmt.Sprintf("%s %.2fs", p, median(pick(rs, func(r run) time.Duration { return r.phases[p] })).Seconds()))
		}
		fmt.Fprintf(out, "warehouse postgres [%s]: %d rows, %s of Parquet, median of %d: to swapped in and readable %.0f rows/s (%.2fs), bare COPY ceiling %.0f rows/s (%.2fs): %.0f%% of it; with the ANALYZE after the swap %.2fs (%.0f%%); loader peak RSS %.0f MiB; phases: %s (targets: >= 400000 rows/s, >= 75%%, <= 512 MiB at 10M rows)\n",
			name, n, byteSizeOf(tbl.Bytes), len(rs), rate, readable.Seconds(), ceil, ceiling.Seconds(), 100*rate/ceil, e2e.Seconds(), 100*ceiling.Seconds()/e2e.Seconds(), float64(peak)/(1<<20), strings.Join(phases, ", "))
	}
}

func pick[T any](rs []T, f func(T) time.Duration) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// median of ds (the lower middle of an even count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func benchOut(b *testing.B) io.Writer { return os.Stdout }

func byteSizeOf(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
