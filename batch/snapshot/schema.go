package snapshot

import (
	"fmt"
	"reflect"

	"github.com/apache/arrow/go/v15/arrow"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"
)

// ParquetSchema maps an Arrow schema (as formats.ArrowType builds it) to the
// Parquet schema Tidemark writes: one top-level column per field, in field
// order, named as the field (so Parquet keeps the source column names).
//
//	Arrow                      Parquet
//	int8..int64                INT32/INT64 with INT(n, signed)
//	uint8..uint64              INT32/INT64 with INT(n, unsigned)
//	float32, float64           FLOAT, DOUBLE
//	bool                       BOOLEAN
//	decimal128(p,s) p <= 9     INT32 DECIMAL(p,s)
//	decimal128(p,s) p <= 18    INT64 DECIMAL(p,s)
//	decimal128(p,s), 256       FIXED_LEN_BYTE_ARRAY(16|32) DECIMAL(p,s)
//	utf8, large_utf8           BYTE_ARRAY STRING
//	binary, large_binary       BYTE_ARRAY
//	date32                     INT32 DATE
//	timestamp[us, tz]          INT64 TIMESTAMP(MICROS, isAdjustedToUTC = tz != "")
//	time64[us]                 INT64 TIME(MICROS)
//	duration[us]               INT64 (microseconds; Parquet has no duration type)
//
// A nullable field becomes an OPTIONAL column, others REQUIRED.
func ParquetSchema(name string, s *arrow.Schema) (*pq.Schema, error) {
	g := orderedGroup{}
	for _, f := range s.Fields() {
		n, err := parquetNode(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		if f.Nullable {
			n = pq.Optional(n)
		} else {
			n = pq.Required(n)
		}
		g.fields = append(g.fields, &orderedField{Node: n, name: f.Name})
	}
	return pq.NewSchema(name, &g), nil
}

func parquetNode(t arrow.DataType) (pq.Node, error) {
	switch t := t.(type) {
	case *arrow.Int8Type:
		return pq.Int(8), nil
	case *arrow.Int16Type:
		return pq.Int(16), nil
	case *arrow.Int32Type:
		return pq.Int(32), nil
	case *arrow.Int64Type:
		return pq.Int(64), nil
	case *arrow.Uint8Type:
		return pq.Uint(8), nil
	case *arrow.Uint16Type:
		return pq.Uint(16), nil
	case *arrow.Uint32Type:
		return pq.Uint(32), nil
	case *arrow.Uint64Type:
		return pq.Uint(64), nil
	case *arrow.Float32Type:
		return pq.Leaf(pq.FloatType), nil
	case *arrow.Float64Type:
		return pq.Leaf(pq.DoubleType), nil
	case *arrow.BooleanType:
		return pq.Leaf(pq.BooleanType), nil
	case *arrow.Decimal128Type:
		return pq.Decimal(int(t.Scale), int(t.Precision), decimalPhysical(t.Precision, 16)), nil
	case *arrow.Decimal256Type:
		return pq.Decimal(int(t.Scale), int(t.Precision), decimalPhysical(t.Precision, 32)), nil
	case *arrow.StringType, *arrow.LargeStringType:
		return pq.String(), nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return pq.Leaf(pq.ByteArrayType), nil
	case *arrow.Date32Type:
		return pq.Date(), nil
	case *arrow.TimestampType:
		u, err := timeUnit(t.Unit)
		if err != nil {
			return nil, err
		}
		return pq.TimestampAdjusted(u, t.TimeZone != ""), nil
	case *arrow.Time64Type:
		u, err := timeUnit(t.Unit)
		if err != nil {
			return nil, err
		}
		return pq.Time(u), nil
	case *arrow.DurationType:
		return pq.Int(64), nil
	}
	return nil, fmt.Errorf("arrow type %s has no Parquet mapping", t)
}

func decimalPhysical(precision int32, maxBytes int) pq.Type {
	switch {
	case precision <= 9:
		return pq.Int32Type
	case precision <= 18:
		return pq.Int64Type
	}
	return pq.FixedLenByteArrayType(maxBytes)
}

func timeUnit(u arrow.TimeUnit) (pq.TimeUnit, error) {
	switch u {
	case arrow.Millisecond:
		return pq.Millisecond, nil
	case arrow.Microsecond:
		return pq.Microsecond, nil
	case arrow.Nanosecond:
		return pq.Nanosecond, nil
	}
	return nil, fmt.Errorf("time unit %s has no Parquet mapping", u)
}

// orderedGroup is a Parquet group node whose fields keep the order they were
// added in. parquet.Group is a map and sorts its fields by name, which would
// reorder a table's columns.
type orderedGroup struct {
	pq.Group // for the methods a group shares; its map stays empty
	fields   []pq.Field
}

func (g *orderedGroup) Fields() []pq.Field { return g.fields }
func (g *orderedGroup) String() string {
	s := "group {"
	for _, f := range g.fields {
		s += " " + f.Name() + ":" + f.String()
	}
	return s + " }"
}
func (g *orderedGroup) GoType() reflect.Type        { return reflect.TypeOf(map[string]any(nil)) }
func (g *orderedGroup) Encoding() encoding.Encoding { return nil }
func (g *orderedGroup) Compression() compress.Codec { return nil }

type orderedField struct {
	pq.Node
	name string
}

func (f *orderedField) Name() string { return f.name }
func (f *orderedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}
