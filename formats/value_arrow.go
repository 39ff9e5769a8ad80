package formats

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
)

// AppendArrow appends v, a canonical value of type t, to b, a builder of
// ArrowType(t)'s array; nil appends a null. A value or builder that does
// not match t is an error.
func AppendArrow(b array.Builder, t Type, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	ok := false
	switch bb := b.(type) {
	case *array.Int64Builder:
		var x int64
		if x, ok = v.(int64); ok {
			bb.Append(x)
		}
	case *array.Uint64Builder:
		var x uint64
		if x, ok = v.(uint64); ok {
			bb.Append(x)
		}
	case *array.Float64Builder:
		var x float64
		if x, ok = v.(float64); ok {
			bb.Append(x)
		}
	case *array.Decimal128Builder:
		var d Decimal
		if d, ok = v.(Decimal); ok {
			n, err := d.Scaled(t.Scale)
			if err != nil {
				return fmt.Errorf("appending %s to Arrow: %w", t, err)
			}
			if n.BitLen() > 127 {
				return fmt.Errorf("appending %s to Arrow: %s overflows decimal128", t, d)
			}
			bb.Append(decimal128.FromBigInt(n))
		}
	case *array.StringBuilder:
		switch x := v.(type) {
		case string:
			bb.Append(x)
			ok = true
		case Decimal:
			bb.Append(string(x))
			ok = true
		}
	case *array.BinaryBuilder:
		var x []byte
		if x, ok = v.([]byte); ok {
			bb.Append(x)
		}
	case *array.Date32Builder:
		var x time.Time
		if x, ok = v.(time.Time); ok {
			bb.Append(arrow.Date32(floorDiv(x.Unix(), 86400)))
		}
	case *array.TimestampBuilder:
		var x time.Time
		if x, ok = v.(time.Time); ok {
			bb.Append(arrow.Timestamp(x.UnixMicro()))
		}
	case *array.DurationBuilder:
		var x time.Duration
		if x, ok = v.(time.Duration); ok {
			bb.Append(arrow.Duration(x / time.Microsecond))
		}
	}
	if !ok {
		return fmt.Errorf("appending %s value of Go type %T to an Arrow %T", t, v, b)
	}
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// ArrowValue returns element i of arr, an array of ArrowType(t), as t's
// canonical value (nil when null). Strings and bytes are copied out of the
// array's buffers.
func ArrowValue(arr arrow.Array, i int, t Type) (any, error) {
	if arr.IsNull(i) {
		return nil, nil
	}
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i), nil
	case *array.Uint64:
		return a.Value(i), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.Decimal128:
		return DecimalFromScaled(a.Value(i).BigInt(), t.Scale), nil
	case *array.String:
		if t.Kind == KindDecimal {
			return ParseDecimal(a.Value(i), t.Scale)
		}
		return strings.Clone(a.Value(i)), nil
	case *array.Binary:
		return cloneValueBytes(a.Value(i)), nil
	case *array.Date32:
		return time.Unix(int64(a.Value(i))*86400, 0).UTC(), nil
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(i))).UTC(), nil
	case *array.Duration:
		return time.Duration(a.Value(i)) * time.Microsecond, nil
	}
	return nil, fmt.Errorf("reading %s from an Arrow %s array: unsupported", t, arr.DataType())
}
