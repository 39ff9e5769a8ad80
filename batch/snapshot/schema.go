package snapshot

import (
	"fmt"
	"reflect"

	"github.com/apache/arrow/go/v15/arrow"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/tidemark/tidemark/formats"
)

// Schema is the column layout of Parquet files written from Arrow record
// batches: the batches' Arrow schema and the Parquet node of each field, in
// field order, named as the field (Parquet keeps the source column names).
type Schema struct {
	arrow   *arrow.Schema
	parquet *pq.Schema
	leaves  []pq.Type // physical type of each column
}

// Arrow returns the Arrow schema record batches must have.
func (s *Schema) Arrow() *arrow.Schema { return s.arrow }

// Parquet returns the Parquet schema of the files.
func (s *Schema) Parquet() *pq.Schema { return s.parquet }

// SchemaOf is the layout of a source table's (or a view's typed) columns
// through the one type map: formats.ArrowType for the record batches and
// formats.ParquetNode for the files.
func SchemaOf(cols []formats.Column) (*Schema, error) {
	fields := make([]arrow.Field, len(cols))
	nodes := make([]pq.Node, len(cols))
	for i, c := range cols {
		at := formats.ArrowType(c.Type)
		if at == nil {
			return nil, fmt.Errorf("column %q: type %v has no Arrow mapping", c.Name, c.Type)
		}
		fields[i] = arrow.Field{Name: c.Name, Type: at, Nullable: c.Nullable}
		nodes[i] = formats.ParquetNode(c.Type, c.Nullable)
	}
	return NewSchema(fields, nodes)
}

// SchemaFromArrow is the layout of Arrow data with no source column types
// (derived results), by the default mapping:
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
func SchemaFromArrow(s *arrow.Schema) (*Schema, error) {
	nodes := make([]pq.Node, s.NumFields())
	for i, f := range s.Fields() {
		n, err := parquetNode(f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		if f.Nullable {
			n = pq.Optional(n)
		} else {
			n = pq.Required(n)
		}
		nodes[i] = n
	}
	return NewSchema(s.Fields(), nodes)
}

// NewSchema pairs Arrow fields with Parquet leaf nodes, checking that the
// file writer can convert each field's arrays to its node's physical type.
func NewSchema(fields []arrow.Field, nodes []pq.Node) (*Schema, error) {
	if len(fields) != len(nodes) {
		return nil, fmt.Errorf("building Parquet schema: %d Arrow fields, %d Parquet nodes", len(fields), len(nodes))
	}
	g := &orderedGroup{}
	leaves := make([]pq.Type, len(fields))
	for i, f := range fields {
		n := nodes[i]
		if n == nil || !n.Leaf() || n.Repeated() {
			return nil, fmt.Errorf("column %q: want a Parquet leaf node, got %v", f.Name, n)
		}
		if n.Optional() != f.Nullable {
			return nil, fmt.Errorf("column %q: Arrow nullable=%t but Parquet optional=%t", f.Name, f.Nullable, n.Optional())
		}
		if err := checkConvertible(f.Type, n.Type()); err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		leaves[i] = n.Type()
		g.fields = append(g.fields, &orderedField{Node: n, name: f.Name})
	}
	return &Schema{
		arrow:   arrow.NewSchema(fields, nil),
		parquet: pq.NewSchema("tidemark", g),
		leaves:  leaves,
	}, nil
}

// checkConvertible reports whether FileWriter converts arrays of a to
// Parquet values of physical type p.
func checkConvertible(a arrow.DataType, p pq.Type) error {
	k := p.Kind()
	ok := false
	switch a.ID() {
	case arrow.INT64, arrow.TIMESTAMP, arrow.DURATION, arrow.TIME64:
		ok = k == pq.Int64
	case arrow.UINT64:
		ok = k == pq.Int64 || (k == pq.FixedLenByteArray && p.Length() > 8)
	case arrow.INT32, arrow.UINT32, arrow.INT16, arrow.UINT16, arrow.INT8, arrow.UINT8, arrow.DATE32:
		ok = k == pq.Int32
	case arrow.FLOAT64:
		ok = k == pq.Double
	case arrow.FLOAT32:
		ok = k == pq.Float
	case arrow.BOOL:
		ok = k == pq.Boolean
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		ok = k == pq.ByteArray
	case arrow.DECIMAL128:
		ok = k == pq.Int32 || k == pq.Int64 || (k == pq.FixedLenByteArray && p.Length() <= 16)
	case arrow.DECIMAL256:
		ok = k == pq.Int32 || k == pq.Int64 || (k == pq.FixedLenByteArray && p.Length() <= 32)
	}
	if !ok {
		return fmt.Errorf("no conversion from Arrow %s to Parquet %s", a, p)
	}
	return nil
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
