package batch

import (
	"context"
	"math/big"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// rowsSource emits n deterministic orders rows at a fixed position.
type rowsSource struct{ n int }

func (s rowsSource) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error) {
	for i := 0; i < s.n; i++ {
		r := formats.Row{int64(i), int64(i % 1000), []string{"new", "paid", "shipped", "cancelled"}[i%4],
			formats.DecimalFromScaled(big.NewInt(int64(i*37%100000)), 2), modelBase.Add(time.Duration(i) * time.Second)}
		if err := emit(ctx, ordersSchema, r); err != nil {
			return formats.Position{}, err
		}
	}
	return formats.Position{File: "bin.000001", Offset: 4}, nil
}

// BenchmarkRebuild measures, for a 200,000-row table on a local lake, a
// from-source rebuild (extract to staging, then the partitioned snapshot
// and one aggregate view), a rebuild rolled forward from the previous
// generation, and the same without a view (the columnar path: base rows
// never become Go values).
func BenchmarkRebuild(b *testing.B) {
	const n = 200_000
	for _, mode := range []string{"from-source", "from-generation", "from-generation-no-view"} {
		opts := Options{SourceName: "bench", Tables: []Table{{ID: ordersID, Partition: []string{"day(created_at) AS dt"}}},
			Views: testViews()[:1], Keep: 2}
		if mode == "from-generation-no-view" {
			opts.Views = nil
		}
		b.Run(mode, func(b *testing.B) {
			store, _ := lake.OpenDir(b.TempDir())
			ctx := context.Background()
			if _, err := Rebuild(ctx, store, rowsSource{n}, opts); err != nil {
				b.Fatal(err)
			}
			o := opts
			o.FromSource = mode == "from-source"
			cpu0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				if _, err := Rebuild(ctx, store, rowsSource{n}, o); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(n)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "rows/cpu-s")
		})
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
