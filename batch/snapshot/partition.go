package snapshot

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/tidemark/tidemark/formats"
)

// Transform turns a column value into a partition value.
type Transform uint8

const (
	Identity Transform = iota + 1 // the value itself
	Year                          // "2024"
	Month                         // "2024-05"
	Day                           // "2024-05-01"
	Hour                          // "2024-05-01-13"
	Truncate                      // integers: v - v mod W (floor); strings: the first W characters
)

var transformNames = map[string]Transform{
	"identity": Identity, "year": Year, "month": Month, "day": Day, "hour": Hour, "truncate": Truncate,
}

func (t Transform) String() string {
	for n, x := range transformNames {
		if x == t {
			return n
		}
	}
	return fmt.Sprintf("transform(%d)", uint8(t))
}

// PartitionField is one level of Hive partition folders: Name=value.
type PartitionField struct {
	Name      string // the folder key
	Column    string // the source column, as the schema spells it
	Transform Transform
	Width     int64 // Truncate's W
	Type      formats.Type
}

// folderSuffix gives each transform's default folder key: the column name
// plus this suffix.
var folderSuffix = map[Transform]string{
	Identity: "_part", Year: "_year", Month: "_month", Day: "_day", Hour: "_hour", Truncate: "_trunc",
}

// String renders f in the syntax ParsePartitionSpec reads.
func (f PartitionField) String() string {
	var s string
	switch f.Transform {
	case Identity:
		s = f.Column
	case Truncate:
		s = fmt.Sprintf("truncate(%d, %s)", f.Width, f.Column)
	default:
		s = fmt.Sprintf("%s(%s)", f.Transform, f.Column)
	}
	if f.Name != f.Column+folderSuffix[f.Transform] {
		s += " AS " + f.Name
	}
	return s
}

// PartitionSpec is the list of partition levels of a table's snapshot
// folders, outermost first. The zero value means one unpartitioned folder.
type PartitionSpec struct {
	Fields []PartitionField
}

var partitionRe = regexp.MustCompile(`^\s*(?:([A-Za-z_]+)\s*\(\s*(?:(-?\d+)\s*,\s*)?([^(),\s]+)\s*\)|([^(),\s]+))\s*(?:(?i:AS)\s+([A-Za-z_][A-Za-z0-9_]*))?\s*$`)

// ParsePartitionSpec parses partition fields such as
//
//	day(created_at) AS dt      folder dt=2024-05-01
//	month(created_at)          folder created_at_month=2024-05
//	truncate(1000, id)         folder id_trunc=41000
//	status                     folder status_part=paid (identity)
//
// against schema. Folder keys default to the column name plus _part,
// _year, _month, _day, _hour or _trunc; "AS name" sets one. A key may not
// repeat nor equal a column of the table, because Hive engines (Athena)
// refuse a partition key that is also a data column, and data files keep
// every column. Transforms: identity of an integer, DECIMAL, temporal or
// text column; year/month/day of DATE, DATETIME or TIMESTAMP; hour of
// DATETIME or TIMESTAMP; truncate(W, col) of an integer or text column with
// W > 0. FLOAT/DOUBLE, binary, BLOB, JSON and GEOMETRY columns cannot
// partition: their values are inexact or make unusable folder names.
func ParsePartitionSpec(spec []string, schema *formats.TableSchema) (PartitionSpec, error) {
	var ps PartitionSpec
	names := map[string]bool{}
	for i, s := range spec {
		f, err := parsePartitionField(s, schema)
		if err != nil {
			return PartitionSpec{}, fmt.Errorf("partition[%d] %q of %s: %w", i, s, schema.Table, err)
		}
		key := strings.ToLower(f.Name)
		if names[key] {
			return PartitionSpec{}, fmt.Errorf("partition[%d] %q of %s: folder key %q is used twice; give one another name with AS", i, s, schema.Table, f.Name)
		}
		if schema.ColumnIndex(f.Name) >= 0 {
			return PartitionSpec{}, fmt.Errorf("partition[%d] %q of %s: folder key %q is also a column of the table (Athena refuses that); give it another name with AS", i, s, schema.Table, f.Name)
		}
		names[key] = true
		ps.Fields = append(ps.Fields, f)
	}
	return ps, nil
}

func parsePartitionField(s string, schema *formats.TableSchema) (PartitionField, error) {
	f, col, err := parsePartitionSyntax(s)
	if err != nil {
		return f, err
	}
	ci := schema.ColumnIndex(col)
	if ci < 0 {
		return f, fmt.Errorf("unknown column %q", col)
	}
	c := schema.Columns[ci]
	f.Column, f.Type = c.Name, c.Type
	if err := checkPartitionable(f.Transform, c); err != nil {
		return f, err
	}
	if f.Name == "" {
		f.Name = c.Name + folderSuffix[f.Transform]
	}
	return f, nil
}

func checkPartitionable(t Transform, c formats.Column) error {
	k := c.Type.Kind
	switch k {
	case formats.KindFloat, formats.KindDouble:
		return fmt.Errorf("column %q is %s: floating-point values are inexact and cannot partition", c.Name, k)
	case formats.KindBinary, formats.KindVarBinary, formats.KindBlob, formats.KindJSON, formats.KindGeometry:
		return fmt.Errorf("column %q is %s: binary, JSON and geometry values cannot partition", c.Name, k)
	}
	temporal := k == formats.KindDate || k == formats.KindDateTime || k == formats.KindTimestamp
	integer := isInteger(k)
	text := k == formats.KindChar || k == formats.KindVarChar || k == formats.KindText || k == formats.KindEnum
	switch t {
	case Year, Month, Day:
		if !temporal {
			return fmt.Errorf("%s(%s): column is %s; want DATE, DATETIME or TIMESTAMP", t, c.Name, k)
		}
	case Hour:
		if k != formats.KindDateTime && k != formats.KindTimestamp {
			return fmt.Errorf("hour(%s): column is %s; want DATETIME or TIMESTAMP", c.Name, k)
		}
	case Truncate:
		if !integer && !text {
			return fmt.Errorf("truncate(%s): column is %s; want an integer or a text column", c.Name, k)
		}
	}
	if formats.ArrowType(c.Type) == nil {
		return fmt.Errorf("column %q: type %v has no Arrow mapping", c.Name, c.Type)
	}
	return nil
}

func isInteger(k formats.Kind) bool {
	switch k {
	case formats.KindTinyInt, formats.KindSmallInt, formats.KindMediumInt, formats.KindInt, formats.KindBigInt,
		formats.KindYear, formats.KindBit:
		return true
	}
	return false
}

// HiveNull is the folder value of NULL, as Hive and Athena spell it.
const HiveNull = "__HIVE_DEFAULT_PARTITION__"

// EscapeHive escapes a partition value for a folder name the way Hive's
// FileUtils.escapePathName does: %XX for control characters and
// "#%'*/:=?\{[]^ and DEL, so engines read the value back unchanged.
func EscapeHive(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// partitioner computes each row's partition folder path ("a=x/b=y").
type partitioner struct {
	fields []PartitionField
	cols   []int // Arrow field index of each partition field
	buf    []byte
	last   []cachedPart
}

type cachedPart struct {
	ok  bool
	key int64
	s   string
}

func newPartitioner(spec PartitionSpec, s *arrow.Schema) (*partitioner, error) {
	p := &partitioner{fields: spec.Fields, last: make([]cachedPart, len(spec.Fields))}
	for _, f := range spec.Fields {
		idx := s.FieldIndices(f.Column)
		if len(idx) != 1 {
			return nil, fmt.Errorf("partition %s: column %q is not in the record schema", f, f.Column)
		}
		p.cols = append(p.cols, idx[0])
	}
	return p, nil
}

// path returns row i's folder path, appended to the reused buffer: valid
// until the next call.
func (p *partitioner) path(rec arrow.Record, i int) ([]byte, error) {
	p.buf = p.buf[:0]
	for j, f := range p.fields {
		if j > 0 {
			p.buf = append(p.buf, '/')
		}
		p.buf = append(p.buf, EscapeHive(f.Name)...)
		p.buf = append(p.buf, '=')
		v, err := p.value(j, rec.Column(p.cols[j]), i)
		if err != nil {
			return nil, fmt.Errorf("partition %s: %w", f, err)
		}
		p.buf = append(p.buf, v...)
	}
	return p.buf, nil
}

// value returns the escaped folder value of field j for row i of arr,
// reusing the previous row's string when the transformed key is equal
// (rows usually arrive clustered).
func (p *partitioner) value(j int, arr arrow.Array, i int) (string, error) {
	if arr.IsNull(i) {
		return HiveNull, nil
	}
	f := p.fields[j]
	switch f.Transform {
	case Year, Month, Day, Hour:
		var micros int64
		switch a := arr.(type) {
		case *array.Date32:
			micros = int64(a.Value(i)) * 86400e6
		case *array.Timestamp:
			micros = int64(a.Value(i))
		default:
			return "", fmt.Errorf("%s of an Arrow %s", f.Transform, arr.DataType())
		}
		key := micros
		switch f.Transform {
		case Hour:
			key = floorDiv(micros, 3600e6)
		default:
			key = floorDiv(micros, 86400e6)
		}
		if c := p.last[j]; c.ok && c.key == key {
			return c.s, nil
		}
		t := time.UnixMicro(micros).UTC()
		var s string
		switch f.Transform {
		case Year:
			s = t.Format("2006")
		case Month:
			s = t.Format("2006-01")
		case Day:
			s = t.Format("2006-01-02")
		case Hour:
			s = t.Format("2006-01-02-15")
		}
		p.last[j] = cachedPart{ok: true, key: key, s: s}
		return s, nil
	case Truncate:
		switch a := arr.(type) {
		case *array.Int64:
			return p.intValue(j, truncInt(a.Value(i), f.Width)), nil
		case *array.Uint64:
			v := a.Value(i)
			return strconv.FormatUint(v-v%uint64(f.Width), 10), nil
		case *array.String:
			return EscapeHive(truncRunes(a.Value(i), int(f.Width))), nil
		}
		return "", fmt.Errorf("truncate of an Arrow %s", arr.DataType())
	}
	switch a := arr.(type) {
	case *array.Int64:
		return p.intValue(j, a.Value(i)), nil
	case *array.Uint64:
		return strconv.FormatUint(a.Value(i), 10), nil
	case *array.String:
		return EscapeHive(a.Value(i)), nil
	}
	v, err := formats.ArrowValue(arr, i, f.Type)
	if err != nil {
		return "", err
	}
	return EscapeHive(formats.FormatText(f.Type, v)), nil
}

func (p *partitioner) intValue(j int, v int64) string {
	if c := p.last[j]; c.ok && c.key == v {
		return c.s
	}
	s := strconv.FormatInt(v, 10)
	p.last[j] = cachedPart{ok: true, key: v, s: s}
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// truncInt is v - v mod w with a floor modulus, as the view language's
// truncate: -1 truncated by 10 is -10.
func truncInt(v, w int64) int64 { return floorDiv(v, w) * w }

func truncRunes(s string, w int) string {
	for i := range s {
		if w == 0 {
			return s[:i]
		}
		w--
	}
	return s
}
