package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/apache/arrow/go/v15/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
)

// ReadRecords reads a Parquet file written by FileWriter for schema s back
// as Arrow record batches, one per row group, column by column: values go
// from Parquet pages into Arrow builders without canonical Go values in
// between. fn must not keep the record past its return.
func ReadRecords(r io.ReaderAt, size int64, s *Schema, fn func(arrow.Record) error) error {
	pf, err := pq.OpenFile(r, size)
	if err != nil {
		return fmt.Errorf("opening Parquet file: %w", err)
	}
	if n := len(pf.Schema().Fields()); n != len(s.leaves) {
		return fmt.Errorf("Parquet file has %d columns, the schema %d", n, len(s.leaves))
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, s.arrow)
	defer b.Release()
	buf := make([]pq.Value, 4096)
	for _, rg := range pf.RowGroups() {
		for c, chunk := range rg.ColumnChunks() {
			if err := readColumn(chunk, b.Field(c), s.leaves[c], buf); err != nil {
				return fmt.Errorf("reading Parquet column %q: %w", s.arrow.Field(c).Name, err)
			}
		}
		rec := b.NewRecord()
		err := fn(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

func readColumn(chunk pq.ColumnChunk, fb array.Builder, leaf pq.Type, buf []pq.Value) error {
	pages := chunk.Pages()
	defer pages.Close()
	for {
		page, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		vr := page.Values()
		for {
			n, err := vr.ReadValues(buf)
			if aerr := appendValues(fb, leaf, buf[:n]); aerr != nil {
				pq.Release(page)
				return aerr
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pq.Release(page)
				return err
			}
		}
		pq.Release(page)
	}
}

// appendValues is the inverse of FileWriter.columnValues.
func appendValues(fb array.Builder, leaf pq.Type, vals []pq.Value) error {
	switch b := fb.(type) {
	case *array.Int64Builder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
			} else {
				b.Append(v.Int64())
			}
		}
	case *array.Uint64Builder:
		flba := leaf.Kind() == pq.FixedLenByteArray
		for _, v := range vals {
			switch {
			case v.IsNull():
				b.AppendNull()
			case flba:
				raw := v.ByteArray()
				if len(raw) < 8 {
					return fmt.Errorf("unsigned value of %d bytes", len(raw))
				}
				for _, x := range raw[:len(raw)-8] {
					if x != 0 {
						return fmt.Errorf("unsigned value %x out of uint64 range", raw)
					}
				}
				b.Append(binary.BigEndian.Uint64(raw[len(raw)-8:]))
			default:
				b.Append(uint64(v.Int64()))
			}
		}
	case *array.Float64Builder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
			} else {
				b.Append(v.Double())
			}
		}
	case *array.Date32Builder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
			} else {
				b.Append(arrow.Date32(v.Int32()))
			}
		}
	case *array.TimestampBuilder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
			} else {
				b.Append(arrow.Timestamp(v.Int64()))
			}
		}
	case *array.DurationBuilder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
			} else {
				b.Append(arrow.Duration(v.Int64()))
			}
		}
	case *array.StringBuilder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
			} else {
				b.BinaryBuilder.Append(v.ByteArray())
			}
		}
	case *array.BinaryBuilder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
			} else {
				b.Append(v.ByteArray())
			}
		}
	case *array.Decimal128Builder:
		for _, v := range vals {
			if v.IsNull() {
				b.AppendNull()
				continue
			}
			switch leaf.Kind() {
			case pq.Int32:
				b.Append(decimal128.FromI64(int64(v.Int32())))
			case pq.Int64:
				b.Append(decimal128.FromI64(v.Int64()))
			default:
				n, err := decimal128FromBytes(v.ByteArray())
				if err != nil {
					return err
				}
				b.Append(n)
			}
		}
	default:
		return fmt.Errorf("reading into an Arrow %T is not supported", fb)
	}
	return nil
}

// decimal128FromBytes reads a big-endian two's complement integer of up to
// 16 bytes.
func decimal128FromBytes(raw []byte) (decimal128.Num, error) {
	if len(raw) > 16 {
		n := new(big.Int).SetBytes(raw)
		if raw[0]&0x80 != 0 {
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
		}
		if n.BitLen() > 127 {
			return decimal128.Num{}, fmt.Errorf("decimal of %d bytes overflows decimal128", len(raw))
		}
		return decimal128.FromBigInt(n), nil
	}
	var full [16]byte
	if len(raw) > 0 && raw[0]&0x80 != 0 {
		for i := range full {
			full[i] = 0xff
		}
	}
	copy(full[16-len(raw):], raw)
	return decimal128.New(int64(binary.BigEndian.Uint64(full[:8])), binary.BigEndian.Uint64(full[8:])), nil
}
