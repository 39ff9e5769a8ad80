package formats

import (
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/parquet-go/parquet-go"
)

// This file holds the type half of Tidemark's one type map: per MySQL /
// MariaDB column type, the canonical Go value and the Arrow, Parquet,
// PostgreSQL, Redshift and Athena types, in one table (typeMap).
// docs/types.md is generated from that table (TestTypeDoc; go test
// ./formats -run TestTypeDoc -update rewrites it). The value_*.go files
// (indexed in values.go) decode and encode the values.

// typeClass is a row of the type map: the Kinds (and attributes) that map alike.
type typeClass uint8

const (
	tcInvalid     typeClass = iota
	tcInt                   // signed TINYINT..BIGINT
	tcUint32                // TINYINT..INT UNSIGNED: fits int64
	tcUint64                // BIGINT UNSIGNED: needs all 64 bits
	tcYear                  // YEAR
	tcBit                   // BIT(1..63): fits int64
	tcBit64                 // BIT(64)
	tcDecimal               // DECIMAL(P<=38)
	tcWideDecimal           // DECIMAL(P>38): beyond decimal128 and Athena/Redshift
	tcFloat                 // FLOAT
	tcDouble                // DOUBLE
	tcDate                  // DATE
	tcDateTime              // DATETIME
	tcTimestamp             // TIMESTAMP
	tcTime                  // TIME
	tcChar                  // CHAR, VARCHAR
	tcText                  // TINYTEXT..LONGTEXT
	tcEnum                  // ENUM
	tcSet                   // SET
	tcJSON                  // JSON
	tcBinary                // BINARY, VARBINARY
	tcBlob                  // TINYBLOB..LONGBLOB
	tcGeometry              // GEOMETRY and subtypes
	numTypeClasses
)

// maxArrowDecimal is decimal128's precision: wider DECIMALs travel as text.
const maxArrowDecimal = 38

func typeClassOf(t Type) typeClass {
	switch t.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		switch {
		case !t.Unsigned:
			return tcInt
		case t.Kind == KindBigInt:
			return tcUint64
		}
		return tcUint32
	case KindYear:
		return tcYear
	case KindBit:
		if t.Precision >= 64 {
			return tcBit64
		}
		return tcBit
	case KindDecimal:
		if t.Precision > maxArrowDecimal {
			return tcWideDecimal
		}
		return tcDecimal
	case KindFloat:
		return tcFloat
	case KindDouble:
		return tcDouble
	case KindDate:
		return tcDate
	case KindDateTime:
		return tcDateTime
	case KindTimestamp:
		return tcTimestamp
	case KindTime:
		return tcTime
	case KindChar, KindVarChar:
		return tcChar
	case KindText:
		return tcText
	case KindEnum:
		return tcEnum
	case KindSet:
		return tcSet
	case KindJSON:
		return tcJSON
	case KindBinary, KindVarBinary:
		return tcBinary
	case KindBlob:
		return tcBlob
	case KindGeometry:
		return tcGeometry
	}
	return tcInvalid
}

// typeRow is one row of the type map.
type typeRow struct {
	typeClass typeClass
	// mysql names the MySQL/MariaDB column types of the row, as docs show them.
	mysql string
	// example is a type of the row and sample a canonical value of it; the
	// docs render them through the row's functions and AppendJSON.
	example string
	sample  any
	goType  reflect.Type
	arrow   func(Type) arrow.DataType
	parquet func(Type) parquet.Node
	// postgres, redshift and athena give the column type in a CREATE TABLE.
	postgres func(Type) string
	redshift func(Type) string
	athena   func(Type) string
}

var (
	goInt64    = reflect.TypeFor[int64]()
	goUint64   = reflect.TypeFor[uint64]()
	goDecimal  = reflect.TypeFor[Decimal]()
	goFloat64  = reflect.TypeFor[float64]()
	goTime     = reflect.TypeFor[time.Time]()
	goDuration = reflect.TypeFor[time.Duration]()
	goString   = reflect.TypeFor[string]()
	goBytes    = reflect.TypeFor[[]byte]()
)

// Shared cells of the table.
func constCell[T any](v T) func(Type) T { return func(Type) T { return v } }

var (
	arrowInt64   = constCell[arrow.DataType](arrow.PrimitiveTypes.Int64)
	arrowUint64  = constCell[arrow.DataType](arrow.PrimitiveTypes.Uint64)
	arrowFloat64 = constCell[arrow.DataType](arrow.PrimitiveTypes.Float64)
	arrowString  = constCell[arrow.DataType](arrow.BinaryTypes.String)
	arrowBinary  = constCell[arrow.DataType](arrow.BinaryTypes.Binary)

	parquetInt64  = func(Type) parquet.Node { return parquet.Int(64) }
	parquetString = func(Type) parquet.Node { return parquet.String() }
	parquetBinary = func(Type) parquet.Node { return parquet.Leaf(parquet.ByteArrayType) }
	parquetDouble = func(Type) parquet.Node { return parquet.Leaf(parquet.DoubleType) }
	// parquetUint64 keeps all 64 bits readable by engines without unsigned
	// integers (Athena, Redshift): DECIMAL(20,0) in 9 bytes.
	parquetUint64 = func(Type) parquet.Node {
		return parquet.Decimal(0, 20, parquet.FixedLenByteArrayType(decimalBytes(20)))
	}

	sqlBigint = constCell("bigint")
	sqlDouble = constCell("double precision")
)

// typeMap is the type map, one row per typeClass, in typeClass order.
var typeMap = [numTypeClasses]typeRow{
	tcInt: {
		mysql: "TINYINT, SMALLINT, MEDIUMINT, INT, BIGINT", example: "bigint", sample: int64(-42),
		goType: goInt64, arrow: arrowInt64, parquet: parquetInt64,
		postgres: sqlBigint, redshift: constCell("BIGINT"), athena: sqlBigint,
	},
	tcUint32: {
		mysql: "TINYINT, SMALLINT, MEDIUMINT, INT UNSIGNED", example: "int unsigned", sample: uint64(4294967295),
		goType: goUint64, arrow: arrowUint64, parquet: parquetInt64,
		postgres: sqlBigint, redshift: constCell("BIGINT"), athena: sqlBigint,
	},
	tcUint64: {
		mysql: "BIGINT UNSIGNED", example: "bigint unsigned", sample: uint64(18446744073709551615),
		goType: goUint64, arrow: arrowUint64, parquet: parquetUint64,
		postgres: constCell("numeric(20,0)"), redshift: constCell("DECIMAL(20,0)"), athena: constCell("decimal(20,0)"),
	},
	tcYear: {
		mysql: "YEAR", example: "year", sample: int64(2024),
		goType: goInt64, arrow: arrowInt64, parquet: parquetInt64,
		postgres: sqlBigint, redshift: constCell("BIGINT"), athena: sqlBigint,
	},
	tcBit: {
		mysql: "BIT(M), M ≤ 63", example: "bit(5)", sample: uint64(21),
		goType: goUint64, arrow: arrowUint64, parquet: parquetInt64,
		postgres: sqlBigint, redshift: constCell("BIGINT"), athena: sqlBigint,
	},
	tcBit64: {
		mysql: "BIT(64)", example: "bit(64)", sample: uint64(18446744073709551615),
		goType: goUint64, arrow: arrowUint64, parquet: parquetUint64,
		postgres: constCell("numeric(20,0)"), redshift: constCell("DECIMAL(20,0)"), athena: constCell("decimal(20,0)"),
	},
	tcDecimal: {
		mysql: "DECIMAL(P,S), P ≤ 38", example: "decimal(12,2)", sample: Decimal("-12.50"),
		goType: goDecimal,
		arrow: func(t Type) arrow.DataType {
			return &arrow.Decimal128Type{Precision: int32(t.Precision), Scale: int32(t.Scale)}
		},
		parquet: func(t Type) parquet.Node {
			return parquet.Decimal(t.Scale, t.Precision, parquet.FixedLenByteArrayType(decimalBytes(t.Precision)))
		},
		postgres: func(t Type) string { return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale) },
		redshift: func(t Type) string { return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale) },
		athena:   func(t Type) string { return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale) },
	},
	tcWideDecimal: {
		mysql: "DECIMAL(P,S), P > 38", example: "decimal(65,30)", sample: Decimal("-1.000000000000000000000000000001"),
		goType: goDecimal, arrow: arrowString, parquet: parquetString,
		postgres: func(t Type) string { return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale) },
		redshift: func(t Type) string { return fmt.Sprintf("VARCHAR(%d)", t.Precision+2) },
		athena:   constCell("string"),
	},
	tcFloat: {
		mysql: "FLOAT", example: "float", sample: float64(float32(1.1)),
		goType: goFloat64, arrow: arrowFloat64, parquet: parquetDouble,
		postgres: sqlDouble, redshift: constCell("DOUBLE PRECISION"), athena: constCell("double"),
	},
	tcDouble: {
		mysql: "DOUBLE", example: "double", sample: 0.30000000000000004,
		goType: goFloat64, arrow: arrowFloat64, parquet: parquetDouble,
		postgres: sqlDouble, redshift: constCell("DOUBLE PRECISION"), athena: constCell("double"),
	},
	tcDate: {
		mysql: "DATE", example: "date", sample: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		goType: goTime, arrow: constCell[arrow.DataType](arrow.FixedWidthTypes.Date32),
		parquet:  func(Type) parquet.Node { return parquet.Date() },
		postgres: constCell("date"), redshift: constCell("DATE"), athena: constCell("date"),
	},
	tcDateTime: {
		mysql: "DATETIME(fsp)", example: "datetime(3)", sample: time.Date(2024, 2, 29, 13, 4, 5, 120e6, time.UTC),
		goType:   goTime,
		arrow:    constCell[arrow.DataType](&arrow.TimestampType{Unit: arrow.Microsecond}),
		parquet:  func(Type) parquet.Node { return parquet.TimestampAdjusted(parquet.Microsecond, false) },
		postgres: func(t Type) string { return fmt.Sprintf("timestamp(%d)", clampFSP(t.FSP)) },
		redshift: constCell("TIMESTAMP"), athena: constCell("timestamp"),
	},
	tcTimestamp: {
		mysql: "TIMESTAMP(fsp)", example: "timestamp(6)", sample: time.Date(2024, 2, 29, 13, 4, 5, 123456e3, time.UTC),
		goType:   goTime,
		arrow:    constCell[arrow.DataType](&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}),
		parquet:  func(Type) parquet.Node { return parquet.Timestamp(parquet.Microsecond) },
		postgres: func(t Type) string { return fmt.Sprintf("timestamptz(%d)", clampFSP(t.FSP)) },
		redshift: constCell("TIMESTAMPTZ"), athena: constCell("timestamp"),
	},
	tcTime: {
		mysql: "TIME(fsp)", example: "time(1)", sample: -(838*time.Hour + 59*time.Minute + 59*time.Second + 500*time.Millisecond),
		goType: goDuration, arrow: constCell[arrow.DataType](arrow.FixedWidthTypes.Duration_us),
		// Parquet, Athena and Redshift have no type for a signed duration
		// beyond 24 hours: microseconds as a BIGINT.
		parquet:  parquetInt64,
		postgres: constCell("interval"), redshift: constCell("BIGINT"), athena: sqlBigint,
	},
	tcChar: {
		mysql: "CHAR(N), VARCHAR(N)", example: "varchar(20)", sample: "naïve 🚀",
		goType: goString, arrow: arrowString, parquet: parquetString,
		postgres: func(t Type) string { return fmt.Sprintf("varchar(%d)", max(t.Precision, 1)) },
		// Redshift lengths are bytes, MySQL's are characters (utf8mb4: up to 4 bytes).
		redshift: func(t Type) string { return redshiftVarchar(4 * t.Precision) },
		athena:   constCell("string"),
	},
	tcText: {
		mysql: "TINYTEXT, TEXT, MEDIUMTEXT, LONGTEXT", example: "text", sample: "line 1\nline 2",
		goType: goString, arrow: arrowString, parquet: parquetString,
		postgres: constCell("text"),
		redshift: func(t Type) string { return redshiftVarchar(t.Precision) },
		athena:   constCell("string"),
	},
	tcEnum: {
		mysql: "ENUM(...)", example: "enum('new','paid')", sample: "paid",
		goType: goString, arrow: arrowString, parquet: parquetString,
		postgres: constCell("text"),
		redshift: func(t Type) string {
			n := 0
			for _, e := range t.Elems {
				n = max(n, len(e))
			}
			return redshiftVarchar(n)
		},
		athena: constCell("string"),
	},
	tcSet: {
		mysql: "SET(...)", example: "set('a','b','c')", sample: "a,c",
		goType: goString, arrow: arrowString, parquet: parquetString,
		postgres: constCell("text"),
		redshift: func(t Type) string {
			n := max(len(t.Elems)-1, 0)
			for _, e := range t.Elems {
				n += len(e)
			}
			return redshiftVarchar(n)
		},
		athena: constCell("string"),
	},
	tcJSON: {
		mysql: "JSON (MySQL; MariaDB's JSON is a LONGTEXT)", example: "json", sample: `{"a":[1,2.5,null]}`,
		goType: goString, arrow: arrowString, parquet: parquetString,
		postgres: constCell("jsonb"), redshift: constCell("VARCHAR(65535)"), athena: constCell("string"),
	},
	tcBinary: {
		mysql: "BINARY(N), VARBINARY(N)", example: "varbinary(16)", sample: []byte{0, 1, 0xfe, 0xff},
		goType: goBytes, arrow: arrowBinary, parquet: parquetBinary,
		postgres: constCell("bytea"),
		redshift: func(t Type) string { return redshiftVarbyte(t.Precision) },
		athena:   constCell("binary"),
	},
	tcBlob: {
		mysql: "TINYBLOB, BLOB, MEDIUMBLOB, LONGBLOB", example: "blob", sample: []byte("\x00blob"),
		goType: goBytes, arrow: arrowBinary, parquet: parquetBinary,
		postgres: constCell("bytea"),
		redshift: func(t Type) string { return redshiftVarbyte(t.Precision) },
		athena:   constCell("binary"),
	},
	tcGeometry: {
		mysql: "GEOMETRY, POINT, LINESTRING, POLYGON, MULTI*, GEOMETRYCOLLECTION", example: "point",
		sample: []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40},
		goType: goBytes, arrow: arrowBinary, parquet: parquetBinary,
		postgres: constCell("bytea"), redshift: constCell("VARBYTE(1024000)"), athena: constCell("binary"),
	},
}

// Redshift's limits: VARCHAR up to 65535 bytes, VARBYTE up to 1024000.
func redshiftVarchar(n int) string { return fmt.Sprintf("VARCHAR(%d)", min(max(n, 1), 65535)) }
func redshiftVarbyte(n int) string { return fmt.Sprintf("VARBYTE(%d)", min(max(n, 1), 1024000)) }

// decimalBytes is the width of the smallest two's-complement big-endian
// integer that holds every DECIMAL of precision p scaled to an integer.
func decimalBytes(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil) // 10^p - 1 is the largest
	return (limit.BitLen() + 1 + 7) / 8                                  // one sign bit
}

func typeRowOf(t Type) *typeRow {
	c := typeClassOf(t)
	if c == tcInvalid {
		return nil
	}
	return &typeMap[c]
}

// GoType returns the Go type of t's canonical values (see values.go), or
// nil for an invalid Type.
func GoType(t Type) reflect.Type {
	if r := typeRowOf(t); r != nil {
		return r.goType
	}
	return nil
}

// ArrowType returns the Arrow type of t's column in record batches: int64
// (uint64 when unsigned, and BIT), decimal128(P,S) when P ≤ 38 else utf8
// holding the canonical Decimal text, float64, date32, timestamp[us]
// (tz=UTC for TIMESTAMP, none for DATETIME's wall clock), duration[us] for
// TIME, utf8 for text kinds and binary for binary kinds. nil for an invalid
// Type.
func ArrowType(t Type) arrow.DataType {
	if r := typeRowOf(t); r != nil {
		return r.arrow(t)
	}
	return nil
}

// ParquetNode returns the parquet-go node of t's column, Optional when
// nullable. Parquet columns keep every value exactly and stay readable by
// Athena and Redshift: unsigned 64-bit values are DECIMAL(20,0), DECIMALs
// are FIXED_LEN_BYTE_ARRAY (P > 38: STRING), TIME is INT64 microseconds.
// nil for an invalid Type. ParquetValue and FromParquet convert values.
func ParquetNode(t Type, nullable bool) parquet.Node {
	r := typeRowOf(t)
	if r == nil {
		return nil
	}
	n := r.parquet(t)
	if nullable {
		return parquet.Optional(n)
	}
	return parquet.Required(n)
}

// PostgresType returns t's column type for a PostgreSQL CREATE TABLE, or ""
// for an invalid Type. Loading FormatText's output into it needs the
// session TimeZone 'UTC' (TIMESTAMP), bytea as hex rather than base64, and
// a rule for the zero date; pgx's binary COPY takes the Go values as they
// are, except Decimal (as its text) and time.Duration (as an interval).
func PostgresType(t Type) string {
	if r := typeRowOf(t); r != nil {
		return r.postgres(t)
	}
	return ""
}

// RedshiftType returns t's column type for a Redshift CREATE TABLE
// compatible with COPY ... FORMAT PARQUET from ParquetNode's files, or ""
// for an invalid Type. Text longer than 65535 bytes does not fit Redshift's
// VARCHAR.
func RedshiftType(t Type) string {
	if r := typeRowOf(t); r != nil {
		return r.redshift(t)
	}
	return ""
}

// AthenaType returns t's column type for an Athena (Hive DDL) CREATE
// EXTERNAL TABLE over ParquetNode's files, or "" for an invalid Type.
func AthenaType(t Type) string {
	if r := typeRowOf(t); r != nil {
		return r.athena(t)
	}
	return ""
}

var kindNames = [...]string{
	KindInvalid: "invalid", KindTinyInt: "tinyint", KindSmallInt: "smallint", KindMediumInt: "mediumint",
	KindInt: "int", KindBigInt: "bigint", KindDecimal: "decimal", KindFloat: "float", KindDouble: "double",
	KindDate: "date", KindDateTime: "datetime", KindTimestamp: "timestamp", KindTime: "time",
	KindYear: "year", KindChar: "char", KindVarChar: "varchar", KindText: "text", KindBinary: "binary",
	KindVarBinary: "varbinary", KindBlob: "blob", KindEnum: "enum", KindSet: "set", KindBit: "bit",
	KindJSON: "json", KindGeometry: "geometry",
}

// String returns the kind's MySQL name in lower case, e.g. "datetime".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Text and BLOB sizes, in bytes, by their MySQL names.
const (
	tinySize   = 255
	normalSize = 65535
	mediumSize = 16777215
	longSize   = 4294967295
)

// String returns t in MySQL's COLUMN_TYPE spelling without display widths,
// e.g. "int unsigned", "decimal(12,2)", "datetime(6)", "enum('a','b')" (a quote inside a value
// doubled, a backslash escaped); ParseColumnType reads it back.
func (t Type) String() string {
	k := t.Kind.String()
	switch t.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		if t.Unsigned {
			return k + " unsigned"
		}
		return k
	case KindDecimal:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case KindDateTime, KindTimestamp, KindTime:
		if t.FSP > 0 {
			return fmt.Sprintf("%s(%d)", k, t.FSP)
		}
		return k
	case KindYear:
		if t.Precision == 2 {
			return "year(2)"
		}
		return k
	case KindChar, KindVarChar, KindBinary, KindVarBinary, KindBit:
		return fmt.Sprintf("%s(%d)", k, t.Precision)
	case KindText, KindBlob:
		switch {
		case t.Precision > 0 && t.Precision <= tinySize:
			return "tiny" + k
		case t.Precision <= normalSize:
			return k
		case t.Precision <= mediumSize:
			return "medium" + k
		}
		return "long" + k
	case KindEnum, KindSet:
		var b strings.Builder
		b.WriteString(k)
		b.WriteByte('(')
		for i, e := range t.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quoteEnumValue(e))
		}
		b.WriteByte(')')
		return b.String()
	}
	return k
}

// quoteEnumValue writes s as a MySQL string literal the way COLUMN_TYPE does:
// quotes doubled, backslashes escaped.
func quoteEnumValue(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ParseColumnType parses a column type as information_schema.COLUMNS.COLUMN_TYPE
// spells it ("int(10) unsigned", "decimal(12,2)", "datetime(6)",
// "enum('a','b')", "bit(5)", "varchar(20)", "longtext", "year(4)",
// "point", ...). Display widths and ZEROFILL do not change the type;
// "tinyint(1)" is a TINYINT. An unknown type (MariaDB's uuid or inet6, MySQL's
// vector) is an error naming it.
//
// MariaDB (10.11 at least) writes 4-byte characters of ENUM and SET values
// as '?' in COLUMN_TYPE and SHOW CREATE TABLE; where that matters (decoding
// the binlog's indexes, ordering) take Elems from the binlog table map
// (binlog_row_metadata=FULL), which has them right.
func ParseColumnType(columnType string) (Type, error) {
	t, err := parseColumnType(strings.TrimSpace(columnType))
	if err != nil {
		return Type{}, fmt.Errorf("parsing column type %q: %w", columnType, err)
	}
	return t, nil
}

func parseColumnType(s string) (Type, error) {
	i := 0
	for i < len(s) && (isIdentLetter(s[i]) || isDecimalDigit(s[i]) || s[i] == '_') {
		i++
	}
	name := strings.ToLower(s[:i])
	rest := strings.TrimLeft(s[i:], " ")
	var (
		args  []int
		elems []string
		err   error
	)
	hasArgs := strings.HasPrefix(rest, "(")
	if hasArgs {
		if name == "enum" || name == "set" {
			elems, rest, err = parseTypeElems(rest)
		} else {
			args, rest, err = parseTypeArgs(rest)
		}
		if err != nil {
			return Type{}, err
		}
	}
	var t Type
	for _, m := range strings.Fields(strings.ToLower(rest)) {
		switch {
		case m == "unsigned" || m == "zerofill":
			t.Unsigned = true
		case m == "signed":
		case m == "precision" && name == "double":
		default:
			return Type{}, fmt.Errorf("unexpected %q after %s", m, name)
		}
	}
	arg := func(i, def int) int {
		if i < len(args) {
			return args[i]
		}
		return def
	}
	switch name {
	case "tinyint", "bool", "boolean":
		t.Kind = KindTinyInt
	case "smallint":
		t.Kind = KindSmallInt
	case "mediumint":
		t.Kind = KindMediumInt
	case "int", "integer":
		t.Kind = KindInt
	case "bigint":
		t.Kind = KindBigInt
	case "decimal", "numeric", "dec", "fixed":
		t = Type{Kind: KindDecimal, Precision: arg(0, 10), Scale: arg(1, 0)}
		if t.Precision < 1 || t.Precision > 65 || t.Scale < 0 || t.Scale > t.Precision || t.Scale > 38 {
			return Type{}, fmt.Errorf("decimal(%d,%d) is out of range", t.Precision, t.Scale)
		}
	case "float":
		t = Type{Kind: KindFloat}
		if len(args) == 1 && args[0] > 24 { // FLOAT(p), p > 24, is a DOUBLE
			t.Kind = KindDouble
		}
	case "double", "real":
		t = Type{Kind: KindDouble}
	case "date":
		t = Type{Kind: KindDate}
	case "datetime", "timestamp", "time":
		t = Type{Kind: map[string]Kind{"datetime": KindDateTime, "timestamp": KindTimestamp, "time": KindTime}[name], FSP: arg(0, 0)}
		if t.FSP < 0 || t.FSP > 6 {
			return Type{}, fmt.Errorf("fractional seconds precision %d is outside 0..6", t.FSP)
		}
	case "year":
		t = Type{Kind: KindYear, Precision: arg(0, 4)}
		if t.Precision != 2 {
			t.Precision = 4
		}
	case "char":
		t = Type{Kind: KindChar, Precision: arg(0, 1)}
	case "varchar":
		if !hasArgs {
			return Type{}, fmt.Errorf("varchar without a length")
		}
		t = Type{Kind: KindVarChar, Precision: arg(0, 0)}
	case "binary":
		t = Type{Kind: KindBinary, Precision: arg(0, 1)}
	case "varbinary":
		if !hasArgs {
			return Type{}, fmt.Errorf("varbinary without a length")
		}
		t = Type{Kind: KindVarBinary, Precision: arg(0, 0)}
	case "tinytext", "text", "mediumtext", "longtext":
		t = Type{Kind: KindText, Precision: lobSize(strings.TrimSuffix(name, "text"))}
	case "tinyblob", "blob", "mediumblob", "longblob":
		t = Type{Kind: KindBlob, Precision: lobSize(strings.TrimSuffix(name, "blob"))}
	case "enum", "set":
		if !hasArgs {
			return Type{}, fmt.Errorf("%s without values", name)
		}
		t = Type{Kind: KindEnum, Elems: elems}
		if name == "set" {
			t.Kind = KindSet
			if len(elems) > 64 {
				return Type{}, fmt.Errorf("set with %d values (64 at most)", len(elems))
			}
		}
	case "bit":
		t = Type{Kind: KindBit, Precision: arg(0, 1)}
		if t.Precision < 1 || t.Precision > 64 {
			return Type{}, fmt.Errorf("bit(%d) is outside bit(1)..bit(64)", t.Precision)
		}
	case "json":
		t = Type{Kind: KindJSON}
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection":
		t = Type{Kind: KindGeometry}
	default:
		return Type{}, fmt.Errorf("unsupported type %q: Tidemark's type map has no mapping for it", name)
	}
	if t.Unsigned && typeClassOf(t) == typeClassOf(Type{Kind: t.Kind, Precision: t.Precision}) {
		// UNSIGNED is kept only where the type map maps it apart (the integer
		// kinds but YEAR): DECIMAL/FLOAT UNSIGNED only constrain the range, and
		// YEAR UNSIGNED (deprecated MySQL syntax) changes nothing.
		t.Unsigned = false
	}
	return t, nil
}

func isIdentLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

func lobSize(prefix string) int {
	switch prefix {
	case "tiny":
		return tinySize
	case "medium":
		return mediumSize
	case "long":
		return longSize
	}
	return normalSize
}

// parseTypeArgs parses "(12,2)..." into its integers and what follows.
func parseTypeArgs(s string) ([]int, string, error) {
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return nil, "", fmt.Errorf("unclosed %q", s)
	}
	var args []int
	for _, a := range strings.Split(s[1:end], ",") {
		n, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("bad length %q", a)
		}
		args = append(args, n)
	}
	return args, s[end+1:], nil
}

// parseTypeElems parses "('a','b')..." (a quote inside a value doubled or
// backslash-escaped, as COLUMN_TYPE writes them) into its values and what follows.
func parseTypeElems(s string) ([]string, string, error) {
	elems := []string{}
	i := 1 // past "("
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == ')' && len(elems) == 0 {
			return elems, s[i+1:], nil
		}
		if i >= len(s) || s[i] != '\'' {
			return nil, "", fmt.Errorf("want a quoted value at %q", s[i:])
		}
		var b strings.Builder
		i++
		for {
			if i >= len(s) {
				return nil, "", fmt.Errorf("unterminated value in %q", s)
			}
			c := s[i]
			if c == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				i++
				break
			}
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(unescapeSQLChar(s[i+1]))
				i += 2
				continue
			}
			b.WriteByte(c)
			i++
		}
		elems = append(elems, b.String())
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		if i < len(s) && s[i] == ')' {
			return elems, s[i+1:], nil
		}
		return nil, "", fmt.Errorf("want , or ) at %q", s[i:])
	}
}

// unescapeSQLChar maps the character after a backslash in a MySQL string literal.
func unescapeSQLChar(c byte) byte {
	switch c {
	case '0':
		return 0
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'Z':
		return 26
	}
	return c
}

// BinlogColumn is what a binlog table map event says about one column, as
// go-mysql's replication.TableMapEvent exposes it (with
// binlog_row_metadata=FULL for Unsigned, Collation and Elems).
type BinlogColumn struct {
	Type     byte   // ColumnType[i], a mysql.MYSQL_TYPE_* constant
	Meta     uint16 // ColumnMeta[i]
	Unsigned bool   // UnsignedMap()[i]
	// Collation is CollationMap()[i] for character columns: 63 (binary)
	// marks BINARY, VARBINARY and BLOB; 0 means unknown, an error for
	// CHAR/VARCHAR/BINARY/TEXT/BLOB columns.
	Collation uint64
	Elems     []string // EnumStrValueMap()[i] or SetStrValueMap()[i]
}

// binaryCollation is the id of the "binary" collation.
const binaryCollation = 63

// TypeFromBinlog returns the Type of a column described by a binlog table
// map. It agrees with ParseColumnType on the server's COLUMN_TYPE, with
// these limits of the table map: YEAR(2) comes back as YEAR; CHAR and
// VARCHAR lengths are characters only for well-known character sets
// (utf8mb4, utf8mb3, latin1, ascii, ucs2, utf16, utf32), else bytes; MariaDB
// JSON is the LONGTEXT it is stored as; geometry subtypes are GEOMETRY.
func TypeFromBinlog(c BinlogColumn) (Type, error) {
	t, err := typeFromBinlog(c)
	if err != nil {
		return Type{}, fmt.Errorf("mapping binlog column type %d (meta %#x): %w", c.Type, c.Meta, err)
	}
	return t, nil
}

func typeFromBinlog(c BinlogColumn) (Type, error) {
	switch c.Type {
	case mysql.MYSQL_TYPE_TINY:
		return Type{Kind: KindTinyInt, Unsigned: c.Unsigned}, nil
	case mysql.MYSQL_TYPE_SHORT:
		return Type{Kind: KindSmallInt, Unsigned: c.Unsigned}, nil
	case mysql.MYSQL_TYPE_INT24:
		return Type{Kind: KindMediumInt, Unsigned: c.Unsigned}, nil
	case mysql.MYSQL_TYPE_LONG:
		return Type{Kind: KindInt, Unsigned: c.Unsigned}, nil
	case mysql.MYSQL_TYPE_LONGLONG:
		return Type{Kind: KindBigInt, Unsigned: c.Unsigned}, nil
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		return Type{Kind: KindDecimal, Precision: int(c.Meta >> 8), Scale: int(c.Meta & 0xFF)}, nil
	case mysql.MYSQL_TYPE_FLOAT:
		return Type{Kind: KindFloat}, nil
	case mysql.MYSQL_TYPE_DOUBLE:
		return Type{Kind: KindDouble}, nil
	case mysql.MYSQL_TYPE_BIT:
		return Type{Kind: KindBit, Precision: int(c.Meta>>8)*8 + int(c.Meta&0xFF)}, nil
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		return Type{Kind: KindDate}, nil
	case mysql.MYSQL_TYPE_DATETIME:
		return Type{Kind: KindDateTime}, nil
	case mysql.MYSQL_TYPE_DATETIME2:
		return Type{Kind: KindDateTime, FSP: int(c.Meta)}, nil
	case mysql.MYSQL_TYPE_TIMESTAMP:
		return Type{Kind: KindTimestamp}, nil
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		return Type{Kind: KindTimestamp, FSP: int(c.Meta)}, nil
	case mysql.MYSQL_TYPE_TIME:
		return Type{Kind: KindTime}, nil
	case mysql.MYSQL_TYPE_TIME2:
		return Type{Kind: KindTime, FSP: int(c.Meta)}, nil
	case mysql.MYSQL_TYPE_YEAR:
		return Type{Kind: KindYear, Precision: 4}, nil
	case mysql.MYSQL_TYPE_ENUM:
		return Type{Kind: KindEnum, Elems: c.Elems}, nil
	case mysql.MYSQL_TYPE_SET:
		return Type{Kind: KindSet, Elems: c.Elems}, nil
	case mysql.MYSQL_TYPE_JSON:
		return Type{Kind: KindJSON}, nil
	case mysql.MYSQL_TYPE_GEOMETRY:
		return Type{Kind: KindGeometry}, nil
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		return charType(c, KindVarChar, KindVarBinary, int(c.Meta))
	case mysql.MYSQL_TYPE_STRING:
		// The real type and the length share Meta, as go-mysql's
		// RowsEvent.decodeValue unpacks them.
		realType, length := byte(c.Meta>>8), int(c.Meta&0xFF)
		if c.Meta >= 256 && realType&0x30 != 0x30 {
			length = int(c.Meta&0xFF) | int((realType&0x30)^0x30)<<4
			realType |= 0x30
		}
		switch realType {
		case mysql.MYSQL_TYPE_ENUM:
			return Type{Kind: KindEnum, Elems: c.Elems}, nil
		case mysql.MYSQL_TYPE_SET:
			return Type{Kind: KindSet, Elems: c.Elems}, nil
		}
		return charType(c, KindChar, KindBinary, length)
	case mysql.MYSQL_TYPE_BLOB:
		sizes := map[uint16]int{1: tinySize, 2: normalSize, 3: mediumSize, 4: longSize}
		size, ok := sizes[c.Meta]
		if !ok {
			return Type{}, fmt.Errorf("BLOB length bytes %d", c.Meta)
		}
		return charType(c, KindText, KindBlob, size)
	}
	return Type{}, fmt.Errorf("unsupported binlog column type")
}

// charType picks the text or the binary kind by collation and turns a byte
// length into characters.
func charType(c BinlogColumn, text, binary Kind, bytes int) (Type, error) {
	switch c.Collation {
	case 0:
		return Type{}, fmt.Errorf("character set unknown: the table map lacks it (set binlog_row_metadata=FULL)")
	case binaryCollation:
		return Type{Kind: binary, Precision: bytes}, nil
	}
	if text == KindText {
		return Type{Kind: text, Precision: bytes}, nil
	}
	return Type{Kind: text, Precision: bytes / maxBytesPerChar(c.Collation)}, nil
}

// maxBytesPerChar is the widest character of a collation's character set,
// for the collation ids MySQL and MariaDB share (MariaDB's NO PAD variants
// are the id plus 1024); 1 when unknown, so a length is never understated.
func maxBytesPerChar(id uint64) int {
	if id >= 1024 && id < 2048 {
		id -= 1024
	}
	switch {
	case id == 45 || id == 46 || (id >= 224 && id <= 247) || (id >= 255 && id <= 323):
		return 4 // utf8mb4
	case id == 33 || id == 83 || (id >= 192 && id <= 215) || id == 223:
		return 3 // utf8mb3
	case id == 35 || id == 90 || (id >= 128 && id <= 151) || id == 159:
		return 2 // ucs2
	case id == 54 || id == 55 || (id >= 101 && id <= 124) || id == 121 || id == 60 || id == 61 || (id >= 160 && id <= 183):
		return 4 // utf16, utf32
	}
	return 1
}

// typeDoc renders docs/types.md from the type map.
func typeDoc() string {
	var b strings.Builder
	b.WriteString(typeDocIntro)
	b.WriteString("| MySQL / MariaDB | example | Go value | JSON (API) | Arrow | Parquet | PostgreSQL | Redshift | Athena |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range typeMap[1:] {
		t, err := ParseColumnType(r.example)
		if err != nil {
			panic(fmt.Sprintf("type map row %q: %v", r.mysql, err)) // a bug in the table itself
		}
		fmt.Fprintf(&b, "| %s | `%s` | `%s` | `%s` | `%s` | `%s` | `%s` | `%s` | `%s` |\n",
			r.mysql, r.example, goTypeName(r.goType), AppendJSON(nil, t, r.sample), ArrowType(t),
			parquetNodeString(ParquetNode(t, false)), PostgresType(t), RedshiftType(t), AthenaType(t))
	}
	b.WriteString(typeDocNotes)
	return b.String()
}

func goTypeName(t reflect.Type) string {
	if t == goBytes {
		return "[]byte"
	}
	return t.String()
}

func parquetNodeString(n parquet.Node) string {
	typ := n.Type()
	s := typ.Kind().String()
	if typ.Kind() == parquet.FixedLenByteArray {
		s = fmt.Sprintf("%s(%d)", s, typ.Length())
	}
	if lt := typ.LogicalType(); lt != nil {
		s += " " + lt.String()
	}
	return s
}

const typeDocIntro = `# Type map

<!-- Generated from formats/types.go by ` + "`go test ./formats -run TestTypeDoc -update`" + `. Do not edit. -->

Every layer of Tidemark types a column value the same way, from one table in
` + "`formats/types.go`" + `: the binlog capture and the snapshot decode into the same
canonical Go value, which is written to Redis, JSON, Arrow, Parquet and the
warehouses as below. The JSON column shows the API's rendering of a sample
value of the example type.

`

const typeDocNotes = `
## Notes

- **NULL** is Go ` + "`nil`" + `, JSON ` + "`null`" + `, a null in Arrow and Parquet. An empty string and empty
  bytes are not NULL (empty bytes are a non-nil ` + "`[]byte{}`" + `).
- **Integers**: the Go value is ` + "`int64`" + `, or ` + "`uint64`" + ` for UNSIGNED columns and BIT.
  JSON numbers are written exactly (a BIGINT UNSIGNED is not passed through a float).
  Values that fit a signed 64-bit integer are BIGINT in the lake and the warehouses; BIGINT
  UNSIGNED and BIT(64) are DECIMAL(20,0) there, because Athena and Redshift have no unsigned
  64-bit type.
- **DECIMAL** values are ` + "`formats.Decimal`" + `: canonical text with exactly S fraction digits,
  ` + "`-`" + ` only when nonzero ("-12.50", "0.00", "123"); never a float. JSON strings. Above
  precision 38 (beyond Arrow's decimal128, Athena and Redshift) they travel as that text.
- **FLOAT** is the stored float32 widened to float64 on both decoding paths; JSON and text
  write the fewest digits that read back to that float32 (1.1, not 1.100000023841858).
- **DATE / DATETIME / TIMESTAMP** are ` + "`time.Time`" + ` in UTC: DATETIME is the wall clock read as
  UTC, TIMESTAMP the instant. Text and JSON: "YYYY-MM-DD", "YYYY-MM-DD HH:MM:SS[.ffffff]" with
  exactly FSP fraction digits. The zero dates '0000-00-00' and '0000-00-00 00:00:00' (and the
  zero TIMESTAMP) are ` + "`time.Time{}`" + `, written back as those zero spellings (and as
  0001-01-01 in Arrow and Parquet). A date with a zero month or day only ('2024-00-10', which a
  lax sql_mode allows) or an invalid day (ALLOW_INVALID_DATES) is refused with an error.
- **TIME** is a ` + "`time.Duration`" + ` (negative allowed, up to ±838:59:59.999999); text and JSON
  "[-]HH:MM:SS[.ffffff]"; Arrow duration[us]; microseconds as a BIGINT in Parquet, Athena and
  Redshift; interval in PostgreSQL.
- **ENUM** is its label ("" for MySQL's invalid-value 0), **SET** its labels in declaration
  order joined by ",". They sort as MySQL sorts them: by index and by bit mask. MariaDB
  writes 4-byte characters of ENUM/SET values as '?' in information_schema and SHOW CREATE
  TABLE: the values of a column's Type come from the binlog table map, which has them right.
- **YEAR** is an ` + "`int64`" + ` (0 for the zero year); YEAR(2) is the full year (24 is 2024), which
  needs the column's type from information_schema on the snapshot path.
- **JSON** columns are their text with insignificant white space removed (key order and
  number spellings as the server gives them), in the API inside a JSON string. MariaDB's JSON
  is a LONGTEXT and maps as text.
- **Binary** kinds and **GEOMETRY** are ` + "`[]byte`" + `, standard base64 in JSON and text. GEOMETRY is
  WKB without the 4-byte SRID prefix MySQL stores before it. BINARY(N) keeps its trailing
  0x00 padding on both paths (the binlog strips it; it is put back).
- **Strings** are utf8mb4 text. Ordering is by bytes, as a ` + "`_bin`" + ` collation; columns with a
  case-insensitive collation may order and group differently in MySQL. Text columns must be
  utf8mb4, utf8mb3 or ascii: the binlog carries text unconverted, so a latin1 "é" is not
  UTF-8 and is refused with an error rather than differing silently from the snapshot.

## Decoding paths

Both paths must produce identical values; ` + "`formats/typemap_integration_test.go`" + ` proves it on
a real MariaDB.

- **Binlog** (` + "`formats.FromBinlog`" + `): go-mysql v1.16 with
  ` + "`BinlogSyncerConfig{ParseTime: false, UseDecimal: false, TimestampStringLocation: time.UTC, RenderJSONAsMySQLText: true}`" + `
  and ` + "`binlog_row_metadata=FULL`" + ` (signedness, ENUM/SET values, character sets).
  ` + "`formats.TypeFromBinlog`" + ` builds a column's Type from the table map. The capture
  (` + "`realtime/capture`" + `, ` + "`decodeRows`" + `) decodes rows against a table map of its own without the
  signedness bitmap (integers arrive as signed Go types and ` + "`FromBinlog`" + ` reads them by the
  column Type's signedness) and with DATETIME(fsp) columns declared as BIT of the same length,
  whose raw bytes it formats into exactly go-mysql's string, without ` + "`fmt`" + `
  (` + "`realtime/capture/datetime_test.go`" + ` holds the two against each other); invalid dates
  therefore still reach ` + "`FromBinlog`" + ` as written.
- **Snapshot** (` + "`formats.FromText`" + `): the text protocol (database/sql, go-sql-driver/mysql,
  parseTime=false, ` + "`sql.RawBytes`" + `), each column selected with ` + "`formats.SelectExpr`" + `:
  FLOAT and DOUBLE as ` + "`CAST(c AS DOUBLE)`" + ` (the server prints FLOAT with 6 digits),
  TIMESTAMP as ` + "`UNIX_TIMESTAMP(c)`" + ` (the stored instant, whatever the session time_zone),
  everything else as stored (GEOMETRY too: SRID + WKB, the binlog's bytes).
  ` + "`formats.ParseColumnType`" + ` reads information_schema.COLUMNS.COLUMN_TYPE.
`
