package formats

import (
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/parquet-go/parquet-go"
)

// ParquetValue converts v, a canonical value of type t, to the parquet-go
// value of ParquetNode(t)'s leaf (nil is parquet.NullValue()). Levels and
// column index are the writer's to set.
func ParquetValue(t Type, v any) (parquet.Value, error) {
	if v == nil {
		return parquet.NullValue(), nil
	}
	pv, err := parquetValue(t, v)
	if err != nil {
		return parquet.Value{}, fmt.Errorf("converting %s value %v to Parquet: %w", t, v, err)
	}
	return pv, nil
}

func parquetValue(t Type, v any) (parquet.Value, error) {
	switch c := typeClassOf(t); c {
	case tcInt, tcYear:
		if x, ok := v.(int64); ok {
			return parquet.Int64Value(x), nil
		}
	case tcUint32, tcBit:
		if x, ok := v.(uint64); ok && x <= math.MaxInt64 {
			return parquet.Int64Value(int64(x)), nil
		}
	case tcUint64, tcBit64:
		if x, ok := v.(uint64); ok {
			return parquet.FixedLenByteArrayValue(twosComplement(new(big.Int).SetUint64(x), decimalBytes(20))), nil
		}
	case tcDecimal:
		if d, ok := v.(Decimal); ok {
			n, err := d.Scaled(t.Scale)
			if err != nil {
				return parquet.Value{}, err
			}
			size := decimalBytes(t.Precision)
			if n.BitLen() >= 8*size {
				return parquet.Value{}, fmt.Errorf("%s overflows decimal(%d,%d)", d, t.Precision, t.Scale)
			}
			return parquet.FixedLenByteArrayValue(twosComplement(n, size)), nil
		}
	case tcWideDecimal:
		if d, ok := v.(Decimal); ok {
			return parquet.ByteArrayValue([]byte(d)), nil
		}
	case tcFloat, tcDouble:
		if x, ok := v.(float64); ok {
			return parquet.DoubleValue(x), nil
		}
	case tcDate:
		if x, ok := v.(time.Time); ok {
			return parquet.Int32Value(int32(floorDiv(x.Unix(), 86400))), nil
		}
	case tcDateTime, tcTimestamp:
		if x, ok := v.(time.Time); ok {
			return parquet.Int64Value(x.UnixMicro()), nil
		}
	case tcTime:
		if x, ok := v.(time.Duration); ok {
			return parquet.Int64Value(int64(x / time.Microsecond)), nil
		}
	case tcChar, tcText, tcEnum, tcSet, tcJSON:
		if x, ok := v.(string); ok {
			return parquet.ByteArrayValue([]byte(x)), nil
		}
	case tcBinary, tcBlob, tcGeometry:
		if x, ok := v.([]byte); ok {
			return parquet.ByteArrayValue(x), nil
		}
	default:
		return parquet.Value{}, fmt.Errorf("kind %s has no Parquet mapping", t.Kind)
	}
	return parquet.Value{}, fmt.Errorf("unexpected Go type %T", v)
}

// FromParquet converts a value read from ParquetNode(t)'s column back to
// t's canonical value.
func FromParquet(t Type, v parquet.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	switch c := typeClassOf(t); c {
	case tcInt, tcYear:
		return v.Int64(), nil
	case tcUint32, tcBit:
		return uint64(v.Int64()), nil
	case tcUint64, tcBit64:
		n := fromTwosComplement(v.ByteArray())
		if n.Sign() < 0 || n.BitLen() > 64 {
			return nil, fmt.Errorf("reading %s from Parquet: %s is out of range", t, n)
		}
		return n.Uint64(), nil
	case tcDecimal:
		return DecimalFromScaled(fromTwosComplement(v.ByteArray()), t.Scale), nil
	case tcWideDecimal:
		return ParseDecimal(string(v.ByteArray()), t.Scale)
	case tcFloat, tcDouble:
		return v.Double(), nil
	case tcDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC(), nil
	case tcDateTime, tcTimestamp:
		return time.UnixMicro(v.Int64()).UTC(), nil
	case tcTime:
		return time.Duration(v.Int64()) * time.Microsecond, nil
	case tcChar, tcText, tcEnum, tcSet, tcJSON:
		return string(v.ByteArray()), nil
	case tcBinary, tcBlob, tcGeometry:
		return cloneValueBytes(v.ByteArray()), nil
	}
	return nil, fmt.Errorf("reading %s from Parquet: kind has no Parquet mapping", t)
}

// twosComplement writes n as a size-byte big-endian two's-complement
// integer, Parquet's DECIMAL encoding; n must fit.
func twosComplement(n *big.Int, size int) []byte {
	b := make([]byte, size)
	if n.Sign() >= 0 {
		n.FillBytes(b)
		return b
	}
	// -n = ^(n-1): write |n|-1 and invert.
	m := new(big.Int).Neg(n)
	m.Sub(m, big.NewInt(1))
	m.FillBytes(b)
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

func fromTwosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}
