package snapshot

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/decimal256"
	"github.com/klauspost/compress/s2"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// Codec is a Parquet compression codec.
type Codec string

const (
	Snappy Codec = "snappy"
	Zstd   Codec = "zstd"
)

func (c Codec) codec() (compress.Codec, error) {
	switch c {
	case "", Snappy:
		return fastSnappy{}, nil
	case Zstd:
		return &zstd.Codec{Level: zstd.SpeedFastest}, nil
	}
	return nil, fmt.Errorf("unknown Parquet codec %q (want snappy or zstd)", string(c))
}

// FileOptions configure one Parquet file.
type FileOptions struct {
	// Codec compresses the pages; "" means Snappy.
	Codec Codec
	// RowGroupRows ends a row group after this many rows. A row group's
	// compressed pages are held in memory until it ends, so this bounds the
	// writer's memory. 0 means 131072.
	RowGroupRows int
	// Metadata is stored in the file footer's key/value metadata.
	Metadata map[string]string
}

// FileWriter writes Arrow record batches of one Schema as one Parquet file,
// column by column (no per-row reflection). It is not safe for concurrent
// use. Close finishes the file; the caller closes the io.Writer.
type FileWriter struct {
	w       *pq.GenericWriter[any]
	schema  *Schema
	cols    []*pq.ColumnWriter
	rgRows  int
	inGroup int
	rows    int64
	values  []pq.Value // scratch, reused per column
	fixed   []byte     // scratch for fixed-width bytes
}

// NewFileWriter starts a Parquet file of schema s on out.
func NewFileWriter(out io.Writer, s *Schema, o FileOptions) (*FileWriter, error) {
	codec, err := o.Codec.codec()
	if err != nil {
		return nil, err
	}
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = 128 << 10
	}
	// Page statistics in the data page headers are off: readers take
	// page-level min/max from the column index and row-group min/max from
	// the column chunk statistics, which the writer still records, and the
	// header copies cost a second min/max pass over every page (about 10%
	// of the encode, mostly string comparisons). The options go to the
	// writer itself: a WriterConfig passed as an option is merged with the
	// defaults, and DataPageStatistics merges with OR.
	opts := []pq.WriterOption{s.parquet, pq.Compression(codec), pq.CreatedBy("tidemark", "", ""),
		pq.PageBufferSize(1 << 20), pq.DataPageStatistics(false)}
	if _, err := pq.NewWriterConfig(opts...); err != nil {
		return nil, fmt.Errorf("configuring Parquet writer: %w", err)
	}
	w := pq.NewGenericWriter[any](out, opts...)
	for k, v := range o.Metadata {
		w.SetKeyValueMetadata(k, v)
	}
	return &FileWriter{w: w, schema: s, cols: w.ColumnWriters(), rgRows: o.RowGroupRows}, nil
}

// Rows returns the number of rows written so far.
func (f *FileWriter) Rows() int64 { return f.rows }

// Size returns the file's bytes so far: flushed row groups plus the
// buffered current one.
func (f *FileWriter) Size() int64 { return f.w.Size() }

// Write appends all rows of rec, whose schema must equal the file's.
func (f *FileWriter) Write(rec arrow.Record) error {
	return f.WriteRows(rec, nil)
}

// WriteRows appends the rows of rec at the given indexes, in that order;
// nil means every row.
func (f *FileWriter) WriteRows(rec arrow.Record, rows []int32) error {
	if !rec.Schema().Equal(f.schema.arrow) {
		return fmt.Errorf("writing Parquet: record schema %s differs from file schema %s", rec.Schema(), f.schema.arrow)
	}
	n := int(rec.NumRows())
	if rows != nil {
		n = len(rows)
	}
	chunk := chunkFor(rec)
	for start := 0; start < n; {
		// Values are converted and handed to the column writers a chunk at
		// a time, a bounded scratch space.
		take := min(n-start, f.rgRows-f.inGroup, chunk)
		var sub []int32
		lo, hi := start, start+take
		if rows != nil {
			sub = rows[start : start+take]
		}
		for c := range f.cols {
			vals, err := f.columnValues(rec.Column(c), c, lo, hi, sub)
			if err != nil {
				return fmt.Errorf("writing Parquet column %q: %w", f.schema.arrow.Field(c).Name, err)
			}
			if _, err := f.cols[c].WriteRowValues(vals); err != nil {
				return fmt.Errorf("writing Parquet column %q: %w", f.schema.arrow.Field(c).Name, err)
			}
		}
		start += take
		f.inGroup += take
		f.rows += int64(take)
		if f.inGroup >= f.rgRows {
			if err := f.w.Flush(); err != nil {
				return fmt.Errorf("writing Parquet row group: %w", err)
			}
			f.inGroup = 0
		}
	}
	return nil
}

// chunkRows is how many values of a column go to its writer per call. Each
// call has a fixed cost in parquet-go (level handling, the page size check),
// and large chunks also make fewer, larger pages: BenchmarkParquetEncode
// gains about 10% from 4Ki to 32Ki rows (larger gained nothing reliable).
// The scratch space is 24 bytes a row.
const chunkRows = 32 << 10

// chunkBytes bounds a chunk's data for wide rows (BLOBs, long texts): the
// column writers buffer a page of it beside the record batch that holds it.
const (
	chunkBytes   = 8 << 20
	minChunkRows = 256
)

// chunkFor returns the chunk size for rec: chunkRows, fewer when its rows
// average more than chunkBytes/chunkRows bytes, never below minChunkRows.
func chunkFor(rec arrow.Record) int {
	n := rec.NumRows()
	if n == 0 {
		return chunkRows
	}
	var size int64
	for _, c := range rec.Columns() {
		for _, b := range c.Data().Buffers() {
			if b != nil {
				size += int64(b.Len())
			}
		}
	}
	return int(min(chunkRows, max(minChunkRows, chunkBytes*n/max(size, 1))))
}

// Close flushes the last row group and writes the footer.
func (f *FileWriter) Close() error {
	if err := f.w.Close(); err != nil {
		return fmt.Errorf("finishing Parquet file: %w", err)
	}
	return nil
}

// columnValues converts rows [lo,hi) of arr (or the rows sel, if not nil) to
// Parquet values with their definition levels, into the reused scratch.
func (f *FileWriter) columnValues(arr arrow.Array, col, lo, hi int, sel []int32) ([]pq.Value, error) {
	n := hi - lo
	if cap(f.values) < n {
		f.values = make([]pq.Value, n)
	}
	vals := f.values[:n]
	optional := f.schema.arrow.Field(col).Nullable
	leaf := f.schema.leaves[col]
	hasNulls := arr.NullN() > 0
	if hasNulls && !optional {
		return nil, fmt.Errorf("NULL in a NOT NULL column")
	}
	switch a := arr.(type) {
	case *array.Int64:
		fillInt64(vals, a.Int64Values(), lo, sel)
	case *array.Uint64:
		if leaf.Kind() == pq.FixedLenByteArray { // DECIMAL(20,0): all 64 bits for engines without unsigned types
			w := leaf.Length()
			fixed := f.fixedScratch(w * n)
			raw := a.Uint64Values()
			for i := range vals {
				b := fixed[w*i : w*i+w]
				clear(b[:w-8])
				binary.BigEndian.PutUint64(b[w-8:], raw[rowAt(lo, sel, i)])
				vals[i] = pq.FixedLenByteArrayValue(b)
			}
			break
		}
		fillInt64(vals, asInt64(a.Uint64Values()), lo, sel)
	case *array.Int32:
		fillInt32(vals, a.Int32Values(), lo, sel)
	case *array.Uint32:
		fillInt32(vals, asInt32(a.Uint32Values()), lo, sel)
	case *array.Int16:
		fill(vals, a.Int16Values(), lo, sel, func(v int16) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Uint16:
		fill(vals, a.Uint16Values(), lo, sel, func(v uint16) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Int8:
		fill(vals, a.Int8Values(), lo, sel, func(v int8) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Uint8:
		fill(vals, a.Uint8Values(), lo, sel, func(v uint8) pq.Value { return pq.Int32Value(int32(v)) })
	case *array.Float64:
		fillFloat64(vals, a.Float64Values(), lo, sel)
	case *array.Float32:
		fill(vals, a.Float32Values(), lo, sel, pq.FloatValue)
	case *array.Date32:
		fillInt32(vals, asInt32(a.Date32Values()), lo, sel)
	case *array.Timestamp:
		fillInt64(vals, asInt64(a.TimestampValues()), lo, sel)
	case *array.Time64:
		fillInt64(vals, asInt64(a.Time64Values()), lo, sel)
	case *array.Duration:
		fillInt64(vals, asInt64(a.DurationValues()), lo, sel)
	case *array.Boolean:
		for i := range vals {
			vals[i] = pq.BooleanValue(a.Value(rowAt(lo, sel, i)))
		}
	case *array.String:
		offs, data := a.ValueOffsets(), a.ValueBytes()
		for i := range vals {
			r := rowAt(lo, sel, i)
			vals[i] = pq.ByteArrayValue(data[offs[r]:offs[r+1]])
		}
	case *array.Binary:
		offs, data := a.ValueOffsets(), a.ValueBytes()
		for i := range vals {
			r := rowAt(lo, sel, i)
			vals[i] = pq.ByteArrayValue(data[offs[r]:offs[r+1]])
		}
	case *array.LargeString:
		for i := range vals {
			vals[i] = pq.ByteArrayValue([]byte(a.Value(rowAt(lo, sel, i))))
		}
	case *array.LargeBinary:
		for i := range vals {
			vals[i] = pq.ByteArrayValue(a.Value(rowAt(lo, sel, i)))
		}
	case *array.Decimal128:
		switch leaf.Kind() {
		case pq.Int32:
			for i := range vals {
				vals[i] = pq.Int32Value(int32(a.Value(rowAt(lo, sel, i)).LowBits()))
			}
		case pq.Int64:
			for i := range vals {
				vals[i] = pq.Int64Value(int64(a.Value(rowAt(lo, sel, i)).LowBits()))
			}
		default:
			w := leaf.Length()
			fixed := f.fixedScratch(w * n)
			var full [16]byte
			for i := range vals {
				putDecimal128(full[:], a.Value(rowAt(lo, sel, i)))
				b := fixed[w*i : w*i+w]
				copy(b, full[16-w:])
				vals[i] = pq.FixedLenByteArrayValue(b)
			}
		}
	case *array.Decimal256:
		switch leaf.Kind() {
		case pq.Int32:
			for i := range vals {
				vals[i] = pq.Int32Value(int32(a.Value(rowAt(lo, sel, i)).Array()[0]))
			}
		case pq.Int64:
			for i := range vals {
				vals[i] = pq.Int64Value(int64(a.Value(rowAt(lo, sel, i)).Array()[0]))
			}
		default:
			w := leaf.Length()
			fixed := f.fixedScratch(w * n)
			var full [32]byte
			for i := range vals {
				putDecimal256(full[:], a.Value(rowAt(lo, sel, i)))
				b := fixed[w*i : w*i+w]
				copy(b, full[32-w:])
				vals[i] = pq.FixedLenByteArrayValue(b)
			}
		}
	default:
		return nil, fmt.Errorf("arrow array %s has no Parquet mapping", arr.DataType())
	}
	switch {
	case hasNulls:
		for i := range vals {
			if arr.IsNull(rowAt(lo, sel, i)) {
				vals[i] = pq.Value{}
			} else {
				vals[i].SetDefinitionLevel(1)
			}
			vals[i].SetColumnIndex(col)
		}
	case optional:
		for i := range vals {
			vals[i].SetDefinitionLevel(1)
			vals[i].SetColumnIndex(col)
		}
	default:
		for i := range vals {
			vals[i].SetColumnIndex(col)
		}
	}
	return vals, nil
}

func (f *FileWriter) fixedScratch(n int) []byte {
	if cap(f.fixed) < n {
		f.fixed = make([]byte, n)
	}
	return f.fixed[:n]
}

func rowAt(lo int, sel []int32, i int) int {
	if sel != nil {
		return int(sel[i])
	}
	return lo + i
}

// fill converts raw[lo:lo+len(vals)], or raw at the indexes sel, to values
// (for the narrow types; the wide ones have the monomorphic loops below,
// which the compiler inlines: the hot path of BenchmarkParquetEncode).
func fill[T any](vals []pq.Value, raw []T, lo int, sel []int32, mk func(T) pq.Value) {
	if sel == nil {
		raw = raw[lo : lo+len(vals)]
		for i, v := range raw {
			vals[i] = mk(v)
		}
		return
	}
	for i, r := range sel[:len(vals)] {
		vals[i] = mk(raw[r])
	}
}

func fillInt64(vals []pq.Value, raw []int64, lo int, sel []int32) {
	if sel == nil {
		raw = raw[lo : lo+len(vals)]
		for i, v := range raw {
			vals[i] = pq.Int64Value(v)
		}
		return
	}
	for i, r := range sel[:len(vals)] {
		vals[i] = pq.Int64Value(raw[r])
	}
}

func fillInt32(vals []pq.Value, raw []int32, lo int, sel []int32) {
	if sel == nil {
		raw = raw[lo : lo+len(vals)]
		for i, v := range raw {
			vals[i] = pq.Int32Value(v)
		}
		return
	}
	for i, r := range sel[:len(vals)] {
		vals[i] = pq.Int32Value(raw[r])
	}
}

func fillFloat64(vals []pq.Value, raw []float64, lo int, sel []int32) {
	if sel == nil {
		raw = raw[lo : lo+len(vals)]
		for i, v := range raw {
			vals[i] = pq.DoubleValue(v)
		}
		return
	}
	for i, r := range sel[:len(vals)] {
		vals[i] = pq.DoubleValue(raw[r])
	}
}

// asInt64 views a slice of an int64-sized Arrow value type (uint64,
// Timestamp, Duration, Time64) as []int64 without copying; Parquet stores
// them all as INT64 bit patterns.
func asInt64[T ~int64 | ~uint64](s []T) []int64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(&s[0])), len(s))
}

// asInt32 is asInt64 for 32-bit types (uint32, Date32).
func asInt32[T ~int32 | ~uint32](s []T) []int32 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&s[0])), len(s))
}

// putDecimal128 writes v as 16 big-endian two's complement bytes, the
// Parquet DECIMAL FIXED_LEN_BYTE_ARRAY encoding.
func putDecimal128(b []byte, v decimal128.Num) {
	binary.BigEndian.PutUint64(b[0:8], uint64(v.HighBits()))
	binary.BigEndian.PutUint64(b[8:16], v.LowBits())
}

func putDecimal256(b []byte, v decimal256.Num) {
	w := v.Array() // little-endian words
	for i := 0; i < 4; i++ {
		binary.BigEndian.PutUint64(b[8*i:8*i+8], w[3-i])
	}
}

// fastSnappy is Snappy with s2's fast block encoder. parquet-go's codec uses
// the "better" encoder, which costs a third of the encode time for a few
// percent of size; the output is the same Snappy format either way.
type fastSnappy struct{}

func (fastSnappy) String() string                            { return "SNAPPY" }
func (fastSnappy) CompressionCodec() format.CompressionCodec { return format.Snappy }
func (fastSnappy) Encode(dst, src []byte) ([]byte, error)    { return s2.EncodeSnappy(dst[:0], src), nil }
func (fastSnappy) Decode(dst, src []byte) ([]byte, error)    { return s2.Decode(dst[:0], src) }
