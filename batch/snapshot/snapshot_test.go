package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	pq "github.com/parquet-go/parquet-go"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// allTypesTable has one column of every type family the type map knows.
func allTypesTable(t testing.TB) *formats.TableSchema {
	t.Helper()
	defs := []struct{ name, typ string }{
		{"id", "bigint"}, {"ti", "tinyint"}, {"iu", "int unsigned"}, {"biu", "bigint unsigned"},
		{"dc", "decimal(20,6)"}, {"dsmall", "decimal(5,2)"}, {"dw", "decimal(65,30)"},
		{"f", "float"}, {"d", "double"}, {"dt", "date"}, {"dtm", "datetime"}, {"dtm6", "datetime(6)"},
		{"ts", "timestamp(3)"}, {"tm", "time(2)"}, {"yr", "year"}, {"c", "char(10)"}, {"vc", "varchar(50)"},
		{"tx", "text"}, {"bn", "binary(4)"}, {"vb", "varbinary(10)"}, {"bl", "blob"},
		{"en", "enum('red','green','blue')"}, {"st", "set('a','b','c','d')"}, {"bt", "bit(10)"},
		{"bt64", "bit(64)"}, {"js", "json"}, {"geo", "geometry"},
	}
	s := &formats.TableSchema{Table: formats.TableID{DB: "shop", Table: "alltypes"}, PK: []int{0}}
	for i, d := range defs {
		typ, err := formats.ParseColumnType(d.typ)
		if err != nil {
			t.Fatalf("parsing %s: %v", d.typ, err)
		}
		s.Columns = append(s.Columns, formats.Column{Name: d.name, Type: typ, Nullable: i > 0})
	}
	return s
}

// sampleValue is a deterministic canonical value of t for row i, NULL for
// some rows of nullable columns, with the type's extremes mixed in.
func sampleValue(c formats.Column, i int) any {
	if c.Nullable && (i+len(c.Name))%7 == 0 {
		return nil
	}
	t := c.Type
	switch t.Kind {
	case formats.KindTinyInt, formats.KindSmallInt, formats.KindMediumInt, formats.KindInt, formats.KindBigInt:
		if t.Unsigned {
			if i%5 == 1 {
				return uint64(math.MaxUint64 >> (64 - bitsOf(t)))
			}
			return uint64(i * 7919)
		}
		if i%5 == 1 {
			return int64(math.MinInt64 >> (64 - bitsOf(t)))
		}
		return int64(i*7919 - 50000)
	case formats.KindDecimal:
		n := big.NewInt(int64(i*123457 - 999999))
		if i%5 == 1 && t.Precision > 30 {
			n, _ = new(big.Int).SetString(strings.Repeat("9", t.Precision), 10)
			n.Neg(n)
		}
		if t.Precision < 10 {
			n.Mod(n, big.NewInt(99999))
		}
		return formats.DecimalFromScaled(n, t.Scale)
	case formats.KindFloat:
		return float64(float32(i) * 0.1)
	case formats.KindDouble:
		return float64(i) / 3
	case formats.KindDate:
		return time.Date(2024, 1, 1+i*3, 0, 0, 0, 0, time.UTC)
	case formats.KindDateTime, formats.KindTimestamp:
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*97*time.Minute + time.Duration(i%1000)*time.Microsecond)
	case formats.KindTime:
		return time.Duration(i-50)*3601*time.Second + 10*time.Millisecond
	case formats.KindYear:
		return int64(1901 + i%255)
	case formats.KindChar, formats.KindVarChar, formats.KindText:
		return fmt.Sprintf("s%d ü 🚀/=%%", i%13)
	case formats.KindEnum:
		return t.Elems[i%len(t.Elems)]
	case formats.KindSet:
		return []string{"", "a", "a,c", "b,c,d"}[i%4]
	case formats.KindBit:
		if t.Precision == 64 {
			return math.MaxUint64 - uint64(i)
		}
		return uint64(i % 1024)
	case formats.KindJSON:
		return fmt.Sprintf(`{"a":%d}`, i)
	case formats.KindBinary, formats.KindVarBinary, formats.KindBlob, formats.KindGeometry:
		return []byte{byte(i), 0, 0xff, byte(i >> 8)}
	}
	panic("no sample for " + t.Kind.String())
}

func bitsOf(t formats.Type) int {
	switch t.Kind {
	case formats.KindTinyInt:
		return 8
	case formats.KindSmallInt:
		return 16
	case formats.KindMediumInt:
		return 24
	case formats.KindInt:
		return 32
	}
	return 64
}

func sampleRows(s *formats.TableSchema, from, n int) []formats.Row {
	rows := make([]formats.Row, n)
	for i := range rows {
		r := make(formats.Row, len(s.Columns))
		for j, c := range s.Columns {
			r[j] = sampleValue(c, from+i)
		}
		r[0] = int64(from + i)
		rows[i] = r
	}
	return rows
}

func recordOf(t testing.TB, sch *Schema, cols []formats.Column, rows []formats.Row) arrow.Record {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
	defer b.Release()
	for _, r := range rows {
		for j, c := range cols {
			if err := formats.AppendArrow(b.Field(j), c.Type, r[j]); err != nil {
				t.Fatalf("column %s: %v", c.Name, err)
			}
		}
	}
	return b.NewRecord()
}

// readParquet reads a file written from cols back to canonical rows.
func readParquet(t testing.TB, data []byte, cols []formats.Column) []formats.Row {
	t.Helper()
	f, err := pq.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("opening Parquet: %v", err)
	}
	var out []formats.Row
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]pq.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, pr := range buf[:n] {
				r := make(formats.Row, len(cols))
				for _, v := range pr {
					x, cerr := formats.FromParquet(cols[v.Column()].Type, v)
					if cerr != nil {
						t.Fatal(cerr)
					}
					r[v.Column()] = x
				}
				out = append(out, r)
			}
			if err != nil {
				break
			}
		}
		rows.Close()
	}
	return out
}

func TestRoundTripEveryType(t *testing.T) {
	ctx := context.Background()
	s := allTypesTable(t)
	sch, err := SchemaOf(s.Columns)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := lake.OpenDir(t.TempDir())
	spec, err := ParsePartitionSpec([]string{"month(dtm) AS m", "en"}, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, codec := range []Codec{Snappy, Zstd} {
		t.Run(string(codec), func(t *testing.T) {
			prefix := "tables/shop/alltypes/gen=1-" + string(codec)
			w, err := NewWriter(store, prefix, sch, spec, Options{FileOptions: FileOptions{Codec: codec, RowGroupRows: 50}, MaxOpenFiles: 4})
			if err != nil {
				t.Fatal(err)
			}
			var want []formats.Row
			for from := 0; from < 1000; from += 300 {
				rows := sampleRows(s, from, min(300, 1000-from))
				want = append(want, rows...)
				rec := recordOf(t, sch, s.Columns, rows)
				if err := w.Write(ctx, rec); err != nil {
					t.Fatal(err)
				}
				rec.Release()
			}
			files, err := w.Close()
			if err != nil {
				t.Fatal(err)
			}
			var got []formats.Row
			var total int64
			for _, f := range files {
				if !strings.HasPrefix(f.Key, prefix+"/m=") || !strings.Contains(f.Key, "/en_part=") {
					t.Errorf("file %s is not in m=/en_part= folders", f.Key)
				}
				data, err := lake.ReadAll(ctx, store, f.Key)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(data)) != f.Bytes {
					t.Errorf("%s: %d bytes stored, Writer says %d", f.Key, len(data), f.Bytes)
				}
				rows := readParquet(t, data, s.Columns)
				if int64(len(rows)) != f.Rows {
					t.Errorf("%s: %d rows read, Writer says %d", f.Key, len(rows), f.Rows)
				}
				for _, r := range rows {
					m, en := HiveNull, HiveNull
					if r[10] != nil {
						m = r[10].(time.Time).Format("2006-01")
					}
					if r[21] != nil {
						en = r[21].(string)
					}
					part := "m=" + m + "/en_part=" + en
					if f.Partition != part {
						t.Fatalf("row %v in partition %s, want %s", r[0], f.Partition, part)
					}
				}
				got = append(got, rows...)
				total += f.Rows
			}
			sort.Slice(got, func(i, j int) bool { return got[i][0].(int64) < got[j][0].(int64) })
			if len(got) != len(want) {
				t.Fatalf("read %d rows, wrote %d", len(got), len(want))
			}
			for i := range want {
				for j, c := range s.Columns {
					if !reflect.DeepEqual(got[i][j], want[i][j]) {
						t.Fatalf("row %d column %s (%s): got %#v, want %#v", i, c.Name, c.Type, got[i][j], want[i][j])
					}
				}
			}
		})
	}
}

func TestColumnOrderKept(t *testing.T) {
	s := allTypesTable(t)
	sch, err := SchemaOf(s.Columns)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fw, err := NewFileWriter(&buf, sch, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := recordOf(t, sch, s.Columns, sampleRows(s, 0, 3))
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := pq.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for i, field := range f.Schema().Fields() {
		if field.Name() != s.Columns[i].Name {
			t.Fatalf("Parquet column %d is %q, want %q", i, field.Name(), s.Columns[i].Name)
		}
	}
}

func TestMaxOpenFilesAndFileRows(t *testing.T) {
	ctx := context.Background()
	s := &formats.TableSchema{Table: formats.TableID{DB: "d", Table: "t"}, Columns: []formats.Column{
		{Name: "id", Type: formats.Type{Kind: formats.KindBigInt}},
		{Name: "g", Type: formats.Type{Kind: formats.KindInt}},
	}}
	sch, _ := SchemaOf(s.Columns)
	spec, err := ParsePartitionSpec([]string{"g AS grp"}, s)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := lake.OpenDir(t.TempDir())
	w, _ := NewWriter(store, "p", sch, spec, Options{MaxOpenFiles: 2, MaxFileRows: 10})
	var rows []formats.Row
	for i := 0; i < 60; i++ {
		rows = append(rows, formats.Row{int64(i), int64(i / 5 % 3)}) // runs of 5 rows over groups 0,1,2
	}
	if err := w.Write(ctx, recordOf(t, sch, s.Columns, rows)); err != nil {
		t.Fatal(err)
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if f.Rows > 10 {
			t.Errorf("%s has %d rows > MaxFileRows", f.Key, f.Rows)
		}
		n += f.Rows
	}
	if n != 60 {
		t.Fatalf("files hold %d rows, want 60", n)
	}
	// Three groups through two open slots: evictions split groups over several part files.
	if len(files) < 6 {
		t.Fatalf("got %d files: %v", len(files), files)
	}
	objs, _ := store.List(ctx, "p/")
	if len(objs) != len(files) {
		t.Fatalf("lake has %d objects, Writer reports %d", len(objs), len(files))
	}
}

func TestParsePartitionSpec(t *testing.T) {
	s := allTypesTable(t)
	good := map[string]string{
		"day(dtm) AS dday":      "dday=day(dtm)",
		"month(dt)":             "dt_month=month(dt)",
		"year(ts)":              "ts_year=year(ts)",
		"hour(dtm6)":            "dtm6_hour=hour(dtm6)",
		"truncate(1000, id)":    "id_trunc=truncate(1000)",
		"truncate(2, vc)":       "vc_trunc=truncate(2)",
		"en":                    "en_part=identity(en)",
		"identity(dc) as amt":   "amt=identity(dc)",
		"  `vc`  ":              "vc_part=identity(vc)",
		"DAY( dt ) AS d_day":    "d_day=day(dt)",
		"truncate(3, biu) AS b": "b=truncate(3)",
	}
	for in, want := range good {
		ps, err := ParsePartitionSpec([]string{in}, s)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		f := ps.Fields[0]
		got := f.Name + "=" + f.Transform.String() + "(" + f.Column + ")"
		if f.Transform == Truncate {
			got = fmt.Sprintf("%s=truncate(%d)", f.Name, f.Width)
		}
		if got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
	bad := map[string]string{
		"f":               "floating-point",
		"day(d)":          "floating-point",
		"bl":              "binary, JSON and geometry",
		"js":              "binary, JSON and geometry",
		"geo":             "binary, JSON and geometry",
		"identity(vb)":    "binary, JSON and geometry",
		"day(vc)":         "want DATE, DATETIME or TIMESTAMP",
		"hour(dt)":        "want DATETIME or TIMESTAMP",
		"truncate(0, id)": "want an integer > 0",
		"truncate(id)":    "needs a width",
		"truncate(5, dc)": "want an integer or a text column",
		"week(dt)":        "unknown transform",
		"day(nope)":       "unknown column",
		"day(dt) AS id":   "also a column",
		"day(dt, 3)":      "want col",
		"day(3, dt)":      "takes one argument",
		"a b c":           "want col",
	}
	for in, want := range bad {
		_, err := ParsePartitionSpec([]string{in}, s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want one saying %q", in, err, want)
		}
	}
	if _, err := ParsePartitionSpec([]string{"day(dt) AS x", "month(dtm) AS X"}, s); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate folder key: err = %v", err)
	}
}

func TestPartitionValues(t *testing.T) {
	s := &formats.TableSchema{Table: formats.TableID{DB: "d", Table: "t"}, Columns: []formats.Column{
		{Name: "id", Type: formats.Type{Kind: formats.KindBigInt}, Nullable: true},
		{Name: "at", Type: formats.Type{Kind: formats.KindTimestamp, FSP: 6}, Nullable: true},
		{Name: "name", Type: formats.Type{Kind: formats.KindVarChar, Precision: 20}, Nullable: true},
		{Name: "amt", Type: formats.Type{Kind: formats.KindDecimal, Precision: 10, Scale: 2}, Nullable: true},
	}}
	sch, _ := SchemaOf(s.Columns)
	spec, err := ParsePartitionSpec([]string{"truncate(10, id)", "hour(at)", "truncate(2, name) AS n2", "name", "amt"}, s)
	if err != nil {
		t.Fatal(err)
	}
	rec := recordOf(t, sch, s.Columns, []formats.Row{
		{int64(-1), time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), "a/b=c:d", formats.Decimal("-12.50")},
		{nil, nil, nil, nil},
		{int64(25), time.Date(2024, 5, 1, 13, 0, 0, 0, time.UTC), "日本語", formats.Decimal("0.00")},
	})
	p, err := newPartitioner(spec, sch.Arrow())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"id_trunc=-10/at_hour=1969-12-31-23/n2=a%2F/name_part=a%2Fb%3Dc%3Ad/amt_part=-12.50",
		"id_trunc=" + HiveNull + "/at_hour=" + HiveNull + "/n2=" + HiveNull + "/name_part=" + HiveNull + "/amt_part=" + HiveNull,
		"id_trunc=20/at_hour=2024-05-01-13/n2=日本/name_part=日本語/amt_part=0.00",
	}
	for i, w := range want {
		got, err := p.path(rec, i)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != w {
			t.Errorf("row %d: %s, want %s", i, got, w)
		}
	}
}

// TestReadRecordsRoundTrip reads files back column by column into Arrow
// and checks every value of every type against what was written.
func TestReadRecordsRoundTrip(t *testing.T) {
	s := allTypesTable(t)
	sch, err := SchemaOf(s.Columns)
	if err != nil {
		t.Fatal(err)
	}
	rows := sampleRows(s, 0, 700)
	var buf bytes.Buffer
	fw, _ := NewFileWriter(&buf, sch, FileOptions{RowGroupRows: 256})
	rec := recordOf(t, sch, s.Columns, rows)
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	var got []formats.Row
	err = ReadRecords(bytes.NewReader(buf.Bytes()), int64(buf.Len()), sch, func(r arrow.Record) error {
		for i := 0; i < int(r.NumRows()); i++ {
			row := make(formats.Row, len(s.Columns))
			for j, c := range s.Columns {
				v, err := formats.ArrowValue(r.Column(j), i, c.Type)
				if err != nil {
					return err
				}
				row[j] = v
			}
			got = append(got, row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) {
		t.Fatalf("read %d rows, wrote %d", len(got), len(rows))
	}
	for i := range rows {
		for j, c := range s.Columns {
			if !reflect.DeepEqual(got[i][j], rows[i][j]) {
				t.Fatalf("row %d column %s (%s): got %#v, want %#v", i, c.Name, c.Type, got[i][j], rows[i][j])
			}
		}
	}
}
