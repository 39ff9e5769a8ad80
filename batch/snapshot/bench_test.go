package snapshot

import (
	"bytes"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/memory"
	pq "github.com/parquet-go/parquet-go"

	"github.com/tidemark/tidemark/formats"
)

// ordersColumns is a 10-column orders table.
var ordersColumns = []formats.Column{
	{Name: "id", Type: formats.Type{Kind: formats.KindBigInt}},
	{Name: "customer_id", Type: formats.Type{Kind: formats.KindBigInt}},
	{Name: "status", Type: formats.Type{Kind: formats.KindVarChar, Precision: 16}},
	{Name: "amount", Type: formats.Type{Kind: formats.KindDecimal, Precision: 10, Scale: 2}},
	{Name: "discount", Type: formats.Type{Kind: formats.KindDouble}, Nullable: true},
	{Name: "quantity", Type: formats.Type{Kind: formats.KindInt, Unsigned: true}},
	{Name: "created_at", Type: formats.Type{Kind: formats.KindDateTime, FSP: 6}},
	{Name: "ship_date", Type: formats.Type{Kind: formats.KindDate}, Nullable: true},
	{Name: "note", Type: formats.Type{Kind: formats.KindVarChar, Precision: 100}, Nullable: true},
	{Name: "updated_at", Type: formats.Type{Kind: formats.KindTimestamp, FSP: 6}},
}

// ordersSchema is ordersColumns as formats.ArrowType maps them.
func ordersSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "status", Type: arrow.BinaryTypes.String},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
		{Name: "discount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "quantity", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "created_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "ship_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
}

var statuses = []string{"new", "paid", "shipped", "cancelled", "refunded"}

// ordersBatch builds rows [from, from+n) of a deterministic orders table.
func ordersBatch(mem memory.Allocator, from, n int) arrow.Record {
	b := array.NewRecordBuilder(mem, ordersSchema())
	defer b.Release()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := from; i < from+n; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Int64Builder).Append(int64(i*7919) % 100000)
		b.Field(2).(*array.StringBuilder).Append(statuses[i%len(statuses)])
		b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(i*37)%1000000 - 500))
		if i%10 == 0 {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.Float64Builder).Append(float64(i%100) / 100)
		}
		b.Field(5).(*array.Uint64Builder).Append(uint64(i%20 + 1))
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1_000_003))
		if i%3 == 0 {
			b.Field(7).AppendNull()
		} else {
			b.Field(7).(*array.Date32Builder).Append(arrow.Date32(19723 + i/10000))
		}
		if i%4 == 0 {
			b.Field(8).AppendNull()
		} else {
			b.Field(8).(*array.StringBuilder).Append(fmt.Sprintf("note %d", i%1000))
		}
		b.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*2_000_001))
	}
	return b.NewRecord()
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestOrdersSchemaMatchesTypeMap(t *testing.T) {
	s, err := SchemaOf(ordersColumns)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Arrow().Equal(ordersSchema()) {
		t.Fatalf("type map gives %s, benchmark builds %s", s.Arrow(), ordersSchema())
	}
}

// BenchmarkParquetEncode encodes a 1,000,000-row, 10-column orders table
// from Arrow record batches of 64Ki rows, on one goroutine.
func BenchmarkParquetEncode(b *testing.B) {
	const rows, batch = 1_000_000, 64 << 10
	mem := memory.NewGoAllocator()
	var recs []arrow.Record
	var arrowBytes int64
	for from := 0; from < rows; from += batch {
		r := ordersBatch(mem, from, min(batch, rows-from))
		for _, c := range r.Columns() {
			for _, buf := range c.Data().Buffers() {
				if buf != nil {
					arrowBytes += int64(buf.Len())
				}
			}
		}
		recs = append(recs, r)
	}
	for _, codec := range []Codec{Snappy, Zstd} {
		b.Run(string(codec), func(b *testing.B) {
			var out countingWriter
			b.SetBytes(arrowBytes)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for range b.N {
				out.n = 0
				if err := encodeAll(&out, recs, codec); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds()
			// On a shared machine wall time includes waiting for a core;
			// rows per CPU-second is what one core does.
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(rows)*float64(b.N)/sec, "rows/s")
			b.ReportMetric(float64(rows)*float64(b.N)/cpu, "rows/cpu-s")
			b.ReportMetric(float64(arrowBytes)*float64(b.N)/sec/1e6, "MB/s")
			b.ReportMetric(float64(out.n)/1e6, "parquet-MB")
		})
	}
}

func encodeAll(out io.Writer, recs []arrow.Record, codec Codec) error {
	s, err := SchemaOf(ordersColumns)
	if err != nil {
		return err
	}
	fw, err := NewFileWriter(out, s, FileOptions{Codec: codec})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := fw.Write(r); err != nil {
			return err
		}
	}
	return fw.Close()
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestChunkFor(t *testing.T) {
	mem := memory.NewGoAllocator()
	narrow := ordersBatch(mem, 0, 1000)
	defer narrow.Release()
	if got := chunkFor(narrow); got != chunkRows {
		t.Errorf("chunkFor(orders rows) = %d, want %d", got, chunkRows)
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "blob", Type: arrow.BinaryTypes.Binary}}, nil))
	defer b.Release()
	big := make([]byte, 64<<10)
	for range 100 {
		b.Field(0).(*array.BinaryBuilder).Append(big)
	}
	wide := b.NewRecord()
	defer wide.Release()
	if got := chunkFor(wide); got != minChunkRows {
		t.Errorf("chunkFor(64 KiB rows) = %d, want %d", got, minChunkRows)
	}
}

// TestStatisticsKept checks that readers still find min/max where they
// look for them, with the data page headers' copies off: in the column
// chunk statistics and the column index of every column.
func TestStatisticsKept(t *testing.T) {
	rec := ordersBatch(memory.NewGoAllocator(), 0, 5000)
	defer rec.Release()
	var buf bytes.Buffer
	if err := encodeAll(&buf, []arrow.Record{rec}, Snappy); err != nil {
		t.Fatal(err)
	}
	f, err := pq.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	idx := f.ColumnIndexes()
	if len(idx) != len(ordersColumns) {
		t.Fatalf("%d column indexes, want %d", len(idx), len(ordersColumns))
	}
	for i, c := range f.Metadata().RowGroups[0].Columns {
		st := c.MetaData.Statistics
		if st.MinValue == nil || st.MaxValue == nil {
			t.Errorf("column %s: no chunk min/max", ordersColumns[i].Name)
		}
		if len(idx[i].MinValues) == 0 {
			t.Errorf("column %s: empty column index", ordersColumns[i].Name)
		}
	}
}
