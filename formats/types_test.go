package formats

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// The -update flag may be declared by another test file of this package
// (golden files); declare it only once.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite generated files (docs/types.md)")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func TestParseColumnType(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Type
	}{
		{"tinyint(1)", Type{Kind: KindTinyInt}},
		{"tinyint(3) unsigned", Type{Kind: KindTinyInt, Unsigned: true}},
		{"smallint(6)", Type{Kind: KindSmallInt}},
		{"mediumint(8) unsigned", Type{Kind: KindMediumInt, Unsigned: true}},
		{"int(10) unsigned", Type{Kind: KindInt, Unsigned: true}},
		{"int(10) unsigned zerofill", Type{Kind: KindInt, Unsigned: true}},
		{"INT UNSIGNED", Type{Kind: KindInt, Unsigned: true}},
		{"int", Type{Kind: KindInt}},
		{"bigint(20)", Type{Kind: KindBigInt}},
		{"bigint(20) unsigned", Type{Kind: KindBigInt, Unsigned: true}},
		{"decimal(12,2)", Type{Kind: KindDecimal, Precision: 12, Scale: 2}},
		{"decimal(65,30)", Type{Kind: KindDecimal, Precision: 65, Scale: 30}},
		{"decimal(10,0) unsigned", Type{Kind: KindDecimal, Precision: 10}},
		{"decimal", Type{Kind: KindDecimal, Precision: 10}},
		{"numeric(5)", Type{Kind: KindDecimal, Precision: 5}},
		{"float", Type{Kind: KindFloat}},
		{"float(7,4)", Type{Kind: KindFloat}},
		{"float(30)", Type{Kind: KindDouble}},
		{"double", Type{Kind: KindDouble}},
		{"double(10,3) unsigned", Type{Kind: KindDouble}},
		{"double precision", Type{Kind: KindDouble}},
		{"date", Type{Kind: KindDate}},
		{"datetime", Type{Kind: KindDateTime}},
		{"datetime(6)", Type{Kind: KindDateTime, FSP: 6}},
		{"timestamp(3)", Type{Kind: KindTimestamp, FSP: 3}},
		{"time(1)", Type{Kind: KindTime, FSP: 1}},
		{"year(4)", Type{Kind: KindYear, Precision: 4}},
		{"year", Type{Kind: KindYear, Precision: 4}},
		{"year(2)", Type{Kind: KindYear, Precision: 2}},
		{"char(10)", Type{Kind: KindChar, Precision: 10}},
		{"char", Type{Kind: KindChar, Precision: 1}},
		{"varchar(20)", Type{Kind: KindVarChar, Precision: 20}},
		{"tinytext", Type{Kind: KindText, Precision: 255}},
		{"text", Type{Kind: KindText, Precision: 65535}},
		{"mediumtext", Type{Kind: KindText, Precision: 16777215}},
		{"longtext", Type{Kind: KindText, Precision: 4294967295}},
		{"binary(16)", Type{Kind: KindBinary, Precision: 16}},
		{"varbinary(255)", Type{Kind: KindVarBinary, Precision: 255}},
		{"tinyblob", Type{Kind: KindBlob, Precision: 255}},
		{"blob", Type{Kind: KindBlob, Precision: 65535}},
		{"mediumblob", Type{Kind: KindBlob, Precision: 16777215}},
		{"longblob", Type{Kind: KindBlob, Precision: 4294967295}},
		{"enum('a','b''c')", Type{Kind: KindEnum, Elems: []string{"a", "b'c"}}},
		{`enum('x,y','d\\e','Mixed Case',' ','')`, Type{Kind: KindEnum, Elems: []string{"x,y", `d\e`, "Mixed Case", " ", ""}}},
		{"enum('(',')')", Type{Kind: KindEnum, Elems: []string{"(", ")"}}},
		{"set('p','q''r')", Type{Kind: KindSet, Elems: []string{"p", "q'r"}}},
		{"enum('🚀','日本')", Type{Kind: KindEnum, Elems: []string{"🚀", "日本"}}},
		{"bit(1)", Type{Kind: KindBit, Precision: 1}},
		{"bit(5)", Type{Kind: KindBit, Precision: 5}},
		{"bit(64)", Type{Kind: KindBit, Precision: 64}},
		{"bit", Type{Kind: KindBit, Precision: 1}},
		{"json", Type{Kind: KindJSON}},
		{"geometry", Type{Kind: KindGeometry}},
		{"point", Type{Kind: KindGeometry}},
		{"linestring", Type{Kind: KindGeometry}},
		{"polygon", Type{Kind: KindGeometry}},
		{"multipolygon", Type{Kind: KindGeometry}},
		{"geometrycollection", Type{Kind: KindGeometry}},
		{"  bool ", Type{Kind: KindTinyInt}},
	} {
		got, err := ParseColumnType(c.in)
		if err != nil {
			t.Errorf("ParseColumnType(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseColumnType(%q) = %+v, want %+v", c.in, got, c.want)
		}
		// String writes what ParseColumnType reads back.
		back, err := ParseColumnType(got.String())
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("ParseColumnType(%q.String() = %q) = %+v, %v", c.in, got.String(), back, err)
		}
	}
}

func TestParseColumnTypeErrors(t *testing.T) {
	for _, c := range []struct{ in, mention string }{
		{"uuid", `"uuid"`},
		{"inet6", `"inet6"`},
		{"vector(3)", `"vector"`},
		{"", `""`},
		{"varchar", "varchar without a length"},
		{"decimal(70,2)", "decimal(70,2)"},
		{"decimal(5,6)", "decimal(5,6)"},
		{"datetime(7)", "7"},
		{"bit(65)", "bit(65)"},
		{"bit(0)", "bit(0)"},
		{"enum('a", "unterminated"},
		{"enum(a)", "quoted"},
		{"enum('a' 'b')", "want , or )"},
		{"int foo", `"foo"`},
		{"int(x)", `"x"`},
		{"char(3", "unclosed"},
	} {
		_, err := ParseColumnType(c.in)
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("ParseColumnType(%q) = %v, want an error mentioning %s", c.in, err, c.mention)
		}
	}
}

func TestTypeString(t *testing.T) {
	for _, c := range []struct {
		t    Type
		want string
	}{
		{Type{Kind: KindBigInt, Unsigned: true}, "bigint unsigned"},
		{Type{Kind: KindDecimal, Precision: 12, Scale: 2}, "decimal(12,2)"},
		{Type{Kind: KindDateTime, FSP: 6}, "datetime(6)"},
		{Type{Kind: KindTimestamp}, "timestamp"},
		{Type{Kind: KindEnum, Elems: []string{"a", "b'c", `d\e`}}, `enum('a','b''c','d\\e')`},
		{Type{Kind: KindText, Precision: 16777215}, "mediumtext"},
		{Type{Kind: KindBlob, Precision: 255}, "tinyblob"},
		{Type{Kind: KindBit, Precision: 64}, "bit(64)"},
		{Type{}, "invalid"},
	} {
		if got := c.t.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.t, got, c.want)
		}
	}
	if got := Kind(200).String(); got != "kind(200)" {
		t.Errorf("Kind(200).String() = %q", got)
	}
}

// TestTypeMapTargets pins the mapping of each class to every target.
func TestTypeMapTargets(t *testing.T) {
	for _, c := range []struct {
		typ                                          string
		goType, arrow, parquet, pg, redshift, athena string
	}{
		{"tinyint", "int64", "int64", "INT64 INT(64,true)", "bigint", "BIGINT", "bigint"},
		{"int unsigned", "uint64", "uint64", "INT64 INT(64,true)", "bigint", "BIGINT", "bigint"},
		{"bigint unsigned", "uint64", "uint64", "FIXED_LEN_BYTE_ARRAY(9) DECIMAL(20,0)", "numeric(20,0)", "DECIMAL(20,0)", "decimal(20,0)"},
		{"year", "int64", "int64", "INT64 INT(64,true)", "bigint", "BIGINT", "bigint"},
		{"bit(5)", "uint64", "uint64", "INT64 INT(64,true)", "bigint", "BIGINT", "bigint"},
		{"bit(64)", "uint64", "uint64", "FIXED_LEN_BYTE_ARRAY(9) DECIMAL(20,0)", "numeric(20,0)", "DECIMAL(20,0)", "decimal(20,0)"},
		{"decimal(1,0)", "formats.Decimal", "decimal(1, 0)", "FIXED_LEN_BYTE_ARRAY(1) DECIMAL(1,0)", "numeric(1,0)", "DECIMAL(1,0)", "decimal(1,0)"},
		{"decimal(12,2)", "formats.Decimal", "decimal(12, 2)", "FIXED_LEN_BYTE_ARRAY(6) DECIMAL(12,2)", "numeric(12,2)", "DECIMAL(12,2)", "decimal(12,2)"},
		{"decimal(38,10)", "formats.Decimal", "decimal(38, 10)", "FIXED_LEN_BYTE_ARRAY(16) DECIMAL(38,10)", "numeric(38,10)", "DECIMAL(38,10)", "decimal(38,10)"},
		{"decimal(65,30)", "formats.Decimal", "utf8", "BYTE_ARRAY STRING", "numeric(65,30)", "VARCHAR(67)", "string"},
		{"float", "float64", "float64", "DOUBLE", "double precision", "DOUBLE PRECISION", "double"},
		{"double", "float64", "float64", "DOUBLE", "double precision", "DOUBLE PRECISION", "double"},
		{"date", "time.Time", "date32", "INT32 DATE", "date", "DATE", "date"},
		{"datetime(3)", "time.Time", "timestamp[us]", "INT64 TIMESTAMP(isAdjustedToUTC=false,unit=MICROS)", "timestamp(3)", "TIMESTAMP", "timestamp"},
		{"timestamp", "time.Time", "timestamp[us, tz=UTC]", "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "timestamptz(0)", "TIMESTAMPTZ", "timestamp"},
		{"time(6)", "time.Duration", "duration[us]", "INT64 INT(64,true)", "interval", "BIGINT", "bigint"},
		{"char(10)", "string", "utf8", "BYTE_ARRAY STRING", "varchar(10)", "VARCHAR(40)", "string"},
		{"varchar(20000)", "string", "utf8", "BYTE_ARRAY STRING", "varchar(20000)", "VARCHAR(65535)", "string"},
		{"tinytext", "string", "utf8", "BYTE_ARRAY STRING", "text", "VARCHAR(255)", "string"},
		{"longtext", "string", "utf8", "BYTE_ARRAY STRING", "text", "VARCHAR(65535)", "string"},
		{"enum('a','bcd')", "string", "utf8", "BYTE_ARRAY STRING", "text", "VARCHAR(3)", "string"},
		{"set('a','bcd')", "string", "utf8", "BYTE_ARRAY STRING", "text", "VARCHAR(5)", "string"},
		{"json", "string", "utf8", "BYTE_ARRAY STRING", "jsonb", "VARCHAR(65535)", "string"},
		{"binary(16)", "[]uint8", "binary", "BYTE_ARRAY", "bytea", "VARBYTE(16)", "binary"},
		{"longblob", "[]uint8", "binary", "BYTE_ARRAY", "bytea", "VARBYTE(16777216)", "binary"},
		{"point", "[]uint8", "binary", "BYTE_ARRAY", "bytea", "VARBYTE(16777216)", "binary"},
	} {
		typ := mustType(t, c.typ)
		got := []string{GoType(typ).String(), ArrowType(typ).String(), parquetNodeString(ParquetNode(typ, false)),
			PostgresType(typ), RedshiftType(typ), AthenaType(typ)}
		want := []string{c.goType, c.arrow, c.parquet, c.pg, c.redshift, c.athena}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s maps to\n  %q\nwant\n  %q", c.typ, got, want)
		}
	}
	invalid := Type{}
	if GoType(invalid) != nil || ArrowType(invalid) != nil || ParquetNode(invalid, true) != nil ||
		PostgresType(invalid) != "" || RedshiftType(invalid) != "" || AthenaType(invalid) != "" {
		t.Error("an invalid Type must map to nothing")
	}
	if !ParquetNode(mustType(t, "int"), true).Optional() || ParquetNode(mustType(t, "int"), false).Optional() {
		t.Error("ParquetNode nullability")
	}
}

// Every Kind has a row, and every row is complete and consistent with its sample.
func TestTypeMapComplete(t *testing.T) {
	for k := KindTinyInt; k <= KindGeometry; k++ {
		typ := Type{Kind: k, Precision: 10, Elems: []string{"a"}}
		if typeRowOf(typ) == nil {
			t.Errorf("kind %s has no row in the type map", k)
		}
	}
	for c := tcInvalid + 1; c < numTypeClasses; c++ {
		r := typeMap[c]
		typ, err := ParseColumnType(r.example)
		if err != nil {
			t.Fatalf("row %d example: %v", c, err)
		}
		if typeClassOf(typ) != c {
			t.Errorf("row %d (%s): example %s is in row %d", c, r.mysql, r.example, typeClassOf(typ))
		}
		if reflect.TypeOf(r.sample) != r.goType {
			t.Errorf("row %s: sample is a %T, Go type %s", r.mysql, r.sample, r.goType)
		}
		if r.arrow == nil || r.parquet == nil || r.postgres == nil || r.redshift == nil || r.athena == nil {
			t.Errorf("row %s is incomplete", r.mysql)
		}
	}
}

func TestTypeFromBinlog(t *testing.T) {
	const utf8mb4 = 45
	for _, c := range []struct {
		col  BinlogColumn
		want string
	}{
		{BinlogColumn{Type: mysql.MYSQL_TYPE_TINY, Unsigned: true}, "tinyint unsigned"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_INT24}, "mediumint"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true}, "bigint unsigned"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_NEWDECIMAL, Meta: 65<<8 | 30}, "decimal(65,30)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_FLOAT, Meta: 4}, "float"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_DOUBLE, Meta: 8}, "double"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_BIT, Meta: 1<<8 | 5}, "bit(13)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_BIT, Meta: 8 << 8}, "bit(64)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_DATE}, "date"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_DATETIME2, Meta: 6}, "datetime(6)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_TIMESTAMP2, Meta: 3}, "timestamp(3)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_TIME2, Meta: 2}, "time(2)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_YEAR}, "year"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 80, Collation: utf8mb4}, "varchar(20)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 80, Collation: 1024 + utf8mb4}, "varchar(20)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 60, Collation: 33}, "varchar(20)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 20, Collation: 8}, "varchar(20)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 16, Collation: 63}, "varbinary(16)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_STRING, Meta: uint16(mysql.MYSQL_TYPE_STRING)<<8 | 40, Collation: utf8mb4}, "char(10)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_STRING, Meta: uint16(mysql.MYSQL_TYPE_STRING)<<8 | 4, Collation: 63}, "binary(4)"},
		// CHAR(255) in utf8mb4 is 1020 bytes: the length's high bits ride in the type byte.
		{BinlogColumn{Type: mysql.MYSQL_TYPE_STRING, Meta: uint16(mysql.MYSQL_TYPE_STRING^0x30)<<8 | (1020 & 0xFF), Collation: utf8mb4}, "char(255)"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_STRING, Meta: uint16(mysql.MYSQL_TYPE_ENUM)<<8 | 1, Elems: []string{"a", "b"}}, "enum('a','b')"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_STRING, Meta: uint16(mysql.MYSQL_TYPE_SET)<<8 | 1, Elems: []string{"a", "b"}}, "set('a','b')"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_BLOB, Meta: 2, Collation: utf8mb4}, "text"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_BLOB, Meta: 4, Collation: utf8mb4}, "longtext"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_BLOB, Meta: 1, Collation: 63}, "tinyblob"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_JSON, Meta: 4}, "json"},
		{BinlogColumn{Type: mysql.MYSQL_TYPE_GEOMETRY, Meta: 4}, "geometry"},
	} {
		got, err := TypeFromBinlog(c.col)
		if err != nil {
			t.Errorf("TypeFromBinlog(%+v): %v", c.col, err)
			continue
		}
		if want := mustType(t, c.want); !reflect.DeepEqual(got, want) {
			t.Errorf("TypeFromBinlog(%+v) = %+v, want %+v", c.col, got, want)
		}
	}
	for _, c := range []BinlogColumn{
		{Type: mysql.MYSQL_TYPE_VARCHAR, Meta: 80},
		{Type: mysql.MYSQL_TYPE_BLOB, Meta: 7, Collation: 63},
		{Type: mysql.MYSQL_TYPE_VECTOR},
	} {
		if got, err := TypeFromBinlog(c); err == nil {
			t.Errorf("TypeFromBinlog(%+v) = %v, want an error", c, got)
		}
	}
}

// TestTypeDoc keeps docs/types.md equal to what the type map generates;
// go test ./formats -run TestTypeDoc -update rewrites it.
func TestTypeDoc(t *testing.T) {
	path := filepath.Join("..", "docs", "types.md")
	want := typeDoc()
	if updating() {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./formats -run TestTypeDoc -update)", err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: run go test ./formats -run TestTypeDoc -update", path)
	}
}
