package formats

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/decimal128"
	"github.com/parquet-go/parquet-go"
)

// This file holds the value half of the type map: how a column value is
// decoded from the binlog and from a snapshot query into its canonical Go
// value (see types.go for the table), and how canonical values are written
// and read as JSON and text, and ordered.
//
// Canonical values, per Kind (nil is SQL NULL everywhere):
//
//	TINYINT..BIGINT, YEAR          int64 (uint64 when Unsigned)
//	BIT(M)                         uint64
//	DECIMAL(P,S)                   Decimal, exactly S fraction digits
//	FLOAT, DOUBLE                  float64 (FLOAT: the float32 value, widened)
//	DATE                           time.Time, midnight UTC
//	DATETIME(fsp)                  time.Time, the wall clock read as UTC
//	TIMESTAMP(fsp)                 time.Time, the instant in UTC
//	TIME(fsp)                      time.Duration, may be negative
//	CHAR, VARCHAR, TEXT, ENUM,
//	SET, JSON                      string (SET: labels joined by ",";
//	                               JSON: its text, insignificant space removed)
//	BINARY, VARBINARY, BLOB,
//	GEOMETRY                       []byte, never nil (GEOMETRY: WKB without
//	                               MySQL's 4-byte SRID prefix)
//
// Every time.Time is built in time.UTC, so canonical values from the binlog
// and from a snapshot compare equal with reflect.DeepEqual. The zero dates
// '0000-00-00' and '0000-00-00 00:00:00' (and the zero TIMESTAMP) decode to
// time.Time{}, and time.Time{} is written back as those zero spellings; a
// date with only some zero parts ('2024-00-15', allowed by a lax sql_mode)
// has no time.Time and is an error, never silently moved to another day.

// Decimal is an exact DECIMAL value in canonical text form: an optional "-"
// (only when the value is not zero), the integer digits without leading
// zeros ("0" when there are none), and, when the scale S is positive, "."
// and exactly S fraction digits: "-12.50", "0.00", "123". The zero Decimal
// ("") is not a value; ParseDecimal never returns it without an error.
//
// A Decimal is never converted through a float: arithmetic goes through
// Scaled and DecimalFromScaled.
type Decimal string

// maxDecimalScale bounds the scales ParseDecimal accepts (MySQL allows 30,
// MariaDB 38); the margin costs nothing.
const maxDecimalScale = 100

// ParseDecimal parses s, a decimal number ("-12.5", "+0.125", "1.5e3",
// ".5"), and returns it in canonical form with exactly scale fraction
// digits. Trailing zero fraction digits beyond scale are dropped; any other
// digit beyond scale is an error, because rounding would change the value.
func ParseDecimal(s string, scale int) (Decimal, error) {
	if scale < 0 || scale > maxDecimalScale {
		return "", fmt.Errorf("parsing decimal %q: scale %d is outside 0..%d", s, scale, maxDecimalScale)
	}
	neg, intPart, fracPart, err := splitDecimal(s)
	if err != nil {
		return "", fmt.Errorf("parsing decimal %q: %w", s, err)
	}
	if len(fracPart) > scale {
		if strings.TrimRight(fracPart[scale:], "0") != "" {
			return "", fmt.Errorf("parsing decimal %q: more than %d fraction digits", s, scale)
		}
		fracPart = fracPart[:scale]
	}
	var b strings.Builder
	b.Grow(len(intPart) + scale + 2)
	if neg && (intPart != "0" || strings.TrimRight(fracPart, "0") != "") {
		b.WriteByte('-')
	}
	b.WriteString(intPart)
	if scale > 0 {
		b.WriteByte('.')
		b.WriteString(fracPart)
		for i := len(fracPart); i < scale; i++ {
			b.WriteByte('0')
		}
	}
	return Decimal(b.String()), nil
}

// splitDecimal reads a decimal literal into its sign, its integer digits
// without leading zeros ("0" when none) and its fraction digits without
// trailing zeros.
func splitDecimal(s string) (neg bool, intPart, fracPart string, err error) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDecimalDigit(s[i]) {
		i++
	}
	intDigits := s[start:i]
	var fracDigits string
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDecimalDigit(s[i]) {
			i++
		}
		fracDigits = s[start:i]
	}
	if intDigits == "" && fracDigits == "" {
		return false, "", "", errors.New("no digits")
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		e, err := strconv.Atoi(s[i:])
		if err != nil || e > 1000 || e < -1000 {
			return false, "", "", fmt.Errorf("bad exponent %q", s[i:])
		}
		exp, i = e, len(s)
	}
	if i != len(s) {
		return false, "", "", fmt.Errorf("unexpected %q", s[i:])
	}
	// Move the decimal point by exp digits.
	digits := intDigits + fracDigits
	point := len(intDigits) + exp
	switch {
	case point < 0:
		digits = strings.Repeat("0", -point) + digits
		point = 0
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	intPart = strings.TrimLeft(digits[:point], "0")
	if intPart == "" {
		intPart = "0"
	}
	return neg, intPart, strings.TrimRight(digits[point:], "0"), nil
}

// parseDecimalOf parses a value of the DECIMAL type t, which must fit its
// precision.
func parseDecimalOf(t Type, s string) (Decimal, error) {
	d, err := ParseDecimal(s, t.Scale)
	if err == nil && t.Precision > 0 && decimalIntDigits(d) > t.Precision-t.Scale {
		return "", fmt.Errorf("more than the %d integer digits of %s", t.Precision-t.Scale, t)
	}
	return d, err
}

// decimalIntDigits counts the integer digits of a canonical Decimal ("0"
// has none).
func decimalIntDigits(d Decimal) int {
	s := strings.TrimPrefix(string(d), "-")
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	if s == "0" {
		return 0
	}
	return len(s)
}

// Scaled returns d × 10^scale as an integer: "12.34" scaled by 2 is 1234.
// It is an error when d has nonzero digits beyond scale.
func (d Decimal) Scaled(scale int) (*big.Int, error) {
	c, err := ParseDecimal(string(d), scale)
	if err != nil {
		return nil, err
	}
	digits := strings.Replace(string(c), ".", "", 1)
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return nil, fmt.Errorf("scaling decimal %q: bad digits", d)
	}
	return n, nil
}

// DecimalFromScaled returns the Decimal n × 10^-scale in canonical form with
// scale fraction digits: DecimalFromScaled(-1250, 2) is "-12.50". A nil n is
// zero.
func DecimalFromScaled(n *big.Int, scale int) Decimal {
	if scale < 0 {
		scale = 0
	}
	if n == nil {
		n = new(big.Int)
	}
	abs := new(big.Int).Abs(n).String()
	if len(abs) <= scale {
		abs = strings.Repeat("0", scale-len(abs)+1) + abs
	}
	var b strings.Builder
	if n.Sign() < 0 {
		b.WriteByte('-')
	}
	b.WriteString(abs[:len(abs)-scale])
	if scale > 0 {
		b.WriteByte('.')
		b.WriteString(abs[len(abs)-scale:])
	}
	return Decimal(b.String())
}

// cmpDecimal orders two decimals by value, whatever their scales.
// Unparsable values sort by their text, after every number.
func cmpDecimal(a, b Decimal) int {
	an, ai, af, aerr := splitDecimal(string(a))
	bn, bi, bf, berr := splitDecimal(string(b))
	switch {
	case aerr != nil || berr != nil:
		if aerr != nil && berr != nil {
			return strings.Compare(string(a), string(b))
		}
		if aerr != nil {
			return 1
		}
		return -1
	}
	aZero := ai == "0" && af == ""
	bZero := bi == "0" && bf == ""
	an, bn = an && !aZero, bn && !bZero
	if an != bn {
		if an {
			return -1
		}
		return 1
	}
	c := cmp.Compare(len(ai), len(bi))
	if c == 0 {
		c = strings.Compare(ai, bi)
	}
	if c == 0 {
		c = strings.Compare(af, bf) // trailing zeros are stripped, so this is numeric
	}
	if an {
		return -c
	}
	return c
}

// FromBinlog converts v, a column value as go-mysql v1.16's
// replication.RowsEvent.Rows holds it, into t's canonical Go value.
//
// It expects the BinlogSyncerConfig Tidemark's capture uses:
//
//	ParseTime: false, UseDecimal: false,
//	TimestampStringLocation: time.UTC,   // TIMESTAMP strings in UTC
//	RenderJSONAsMySQLText: true,         // MySQL JSON as the server prints it
//
// and accepts what the other settings give too (time.Time values, a
// decimal.Decimal, float types), except that a TIMESTAMP string is always
// read as UTC: with TimestampStringLocation unset go-mysql formats it in
// the process's local zone and the value would be off by that zone.
//
// What go-mysql hands over, and what FromBinlog does with it:
//   - integers: int8..int64 (uint8..uint64 when the table map carries
//     signedness, binlog_row_metadata=MINIMAL or FULL); a signed raw value of
//     an Unsigned column is reinterpreted at the column's width (MEDIUMINT:
//     24 bits).
//   - DECIMAL: its text; FLOAT: float32; DOUBLE: float64.
//   - DATE, DATETIME, TIMESTAMP, TIME: text, with exactly fsp fraction digits.
//   - YEAR: int, 0 or 1901..2155.
//   - ENUM: int64 index, 1-based, 0 for the empty error value; SET: int64 bit
//     mask. Both need t.Elems (binlog_row_metadata=FULL or the schema).
//   - BIT: int64 (BIT(64) may be negative: reinterpreted as uint64).
//   - CHAR, VARCHAR, BINARY, VARBINARY: string; TEXT, BLOB, MariaDB JSON
//     (a LONGTEXT): []byte; MySQL JSON: string.
//   - BINARY(N): the server strips trailing 0x00 bytes in the row image; they
//     are put back, as a SELECT returns them.
//   - GEOMETRY: []byte, a 4-byte little-endian SRID then WKB; the SRID is
//     dropped.
//
// Strings and byte slices are copied: go-mysql may alias its event buffer.
func FromBinlog(t Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	out, err := fromBinlog(t, v)
	if err == nil {
		err = checkUTF8(out)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding binlog value %#v as %s: %w", v, t, err)
	}
	return out, nil
}

func fromBinlog(t Type, v any) (any, error) {
	switch t.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		return binlogInt(t, v)
	case KindYear:
		n, err := binlogAnyInt(v)
		return n, err
	case KindBit:
		switch x := v.(type) {
		case []byte:
			return bigEndianUint(x)
		case string:
			return bigEndianUint([]byte(x))
		}
		n, err := binlogAnyInt(v)
		if err != nil {
			if u, ok := v.(uint64); ok {
				return u, nil
			}
			return nil, err
		}
		return uint64(n), nil
	case KindDecimal:
		switch x := v.(type) {
		case string:
			return parseDecimalOf(t, x)
		case []byte:
			return parseDecimalOf(t, string(x))
		case fmt.Stringer: // decimal.Decimal with UseDecimal: true
			return parseDecimalOf(t, x.String())
		}
	case KindFloat, KindDouble:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Float32 || rv.Kind() == reflect.Float64 {
			f := rv.Float()
			if t.Kind == KindFloat {
				f = float64(float32(f))
			}
			return f, nil
		}
	case KindDate:
		switch x := v.(type) {
		case string:
			return parseDateValue(x)
		case time.Time:
			y, m, d := x.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
		}
	case KindDateTime, KindTimestamp:
		switch x := v.(type) {
		case string:
			return parseDateTimeValue(x, t)
		case time.Time:
			return x.UTC(), nil
		}
	case KindTime:
		if s, ok := v.(string); ok {
			return parseTimeValue(s, t)
		}
	case KindChar, KindVarChar, KindText:
		switch x := v.(type) {
		case string:
			return strings.Clone(x), nil
		case []byte:
			return string(x), nil
		}
	case KindBinary, KindVarBinary, KindBlob:
		b, ok := binlogAnyBytes(v)
		if !ok {
			break
		}
		if t.Kind == KindBinary && len(b) < t.Precision {
			b = append(b, make([]byte, t.Precision-len(b))...)
		}
		return b, nil
	case KindEnum:
		if s, ok := v.(string); ok {
			return strings.Clone(s), nil
		}
		i, err := binlogAnyInt(v)
		if err != nil {
			return nil, err
		}
		return enumLabel(t, i)
	case KindSet:
		if s, ok := v.(string); ok {
			return strings.Clone(s), nil
		}
		mask, err := binlogAnyInt(v)
		if err != nil {
			return nil, err
		}
		return setLabels(t, uint64(mask))
	case KindJSON:
		switch x := v.(type) {
		case string:
			return normalizeJSON(x), nil
		case []byte:
			return normalizeJSON(string(x)), nil
		}
	case KindGeometry:
		if b, ok := binlogAnyBytes(v); ok {
			return stripSRID(b)
		}
	default:
		return nil, fmt.Errorf("kind %s has no decoding", t.Kind)
	}
	return nil, fmt.Errorf("unexpected Go type %T", v)
}

// checkUTF8 refuses a string value that is not UTF-8. The binlog carries
// text in the column's character set, unconverted: a latin1 column's "é"
// would silently differ from the snapshot's (converted) one, so it is an
// error instead. Canonical strings are always valid UTF-8, which also keeps
// their JSON form lossless.
func checkUTF8(v any) error {
	if s, ok := v.(string); ok && !utf8.ValidString(s) {
		return errors.New("text is not valid UTF-8: Tidemark reads text columns in utf8mb4, utf8mb3 or ascii only")
	}
	return nil
}

// binlogInt turns go-mysql's integer into int64, or uint64 for an Unsigned
// column. Without signedness metadata go-mysql decodes every integer as
// signed at the column's width, so an UNSIGNED TINYINT 255 arrives as
// int8(-1) and is reinterpreted here.
func binlogInt(t Type, v any) (any, error) {
	if t.Unsigned {
		switch x := v.(type) {
		case int8:
			return uint64(uint8(x)), nil
		case int16:
			return uint64(uint16(x)), nil
		case int32:
			if t.Kind == KindMediumInt {
				return uint64(uint32(x) & 0xFFFFFF), nil
			}
			return uint64(uint32(x)), nil
		case int64:
			if t.Kind == KindMediumInt {
				return uint64(x) & 0xFFFFFF, nil
			}
			return uint64(x), nil
		case uint8:
			return uint64(x), nil
		case uint16:
			return uint64(x), nil
		case uint32:
			return uint64(x), nil
		case uint64:
			return x, nil
		case int:
			if x < 0 {
				return nil, fmt.Errorf("negative value %d for an unsigned column", x)
			}
			return uint64(x), nil
		}
		return nil, fmt.Errorf("unexpected Go type %T", v)
	}
	return binlogAnyInt(v)
}

// binlogAnyInt converts any Go integer to int64; a uint64 above MaxInt64 is an
// error.
func binlogAnyInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("value %d overflows a signed column", x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("unexpected Go type %T", v)
}

// binlogAnyBytes copies a string or []byte into a new, never nil, []byte.
func binlogAnyBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return cloneValueBytes(x), true
	case string:
		b := make([]byte, len(x))
		copy(b, x)
		return b, true
	}
	return nil, false
}

func cloneValueBytes(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

func bigEndianUint(b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("%d bytes is wider than BIT(64)", len(b))
	}
	var u uint64
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	return u, nil
}

func enumLabel(t Type, i int64) (string, error) {
	if i == 0 {
		return "", nil // the '' MySQL stores for an invalid value in a lax sql_mode
	}
	if i < 0 || i > int64(len(t.Elems)) {
		return "", fmt.Errorf("ENUM index %d outside the %d known values", i, len(t.Elems))
	}
	return t.Elems[i-1], nil
}

func setLabels(t Type, mask uint64) (string, error) {
	var b strings.Builder
	for i := 0; mask != 0; i, mask = i+1, mask>>1 {
		if mask&1 == 0 {
			continue
		}
		if i >= len(t.Elems) {
			return "", fmt.Errorf("SET bit %d outside the %d known values", i, len(t.Elems))
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Elems[i])
	}
	return b.String(), nil
}

// stripSRID drops the 4-byte SRID MySQL and MariaDB put before the WKB of
// a stored geometry.
func stripSRID(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("geometry of %d bytes has no SRID prefix", len(b))
	}
	return cloneValueBytes(b[4:]), nil
}

// normalizeJSON removes insignificant white space from a JSON text, so the
// binlog's rendering and the server's SELECT rendering of one document
// agree. Key order and number spellings are kept as the server gives them.
// A text that is not JSON (possible in a MariaDB LONGTEXT declared as JSON
// without its CHECK) is kept as it is.
func normalizeJSON(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return strings.Clone(s)
	}
	return b.String()
}

// FromText converts raw, one column of a snapshot row read through the
// MySQL text protocol (database/sql with go-sql-driver/mysql, parseTime=false,
// scanned into sql.RawBytes), into t's canonical Go value. A nil raw is
// NULL; an empty non-nil raw is the empty string or empty bytes.
//
// The query must select each column with SelectExpr: FLOAT is read from
// CAST(col AS DOUBLE), because the server prints a FLOAT with 6 significant
// digits and loses the exact float32 the binlog carries; TIMESTAMP is read
// from UNIX_TIMESTAMP(col), which is the stored instant whatever the
// session time_zone (a plain TIMESTAMP text is also accepted, read as UTC:
// only right when the session time_zone is '+00:00'). GEOMETRY is selected
// as stored (SRID then WKB, exactly the binlog's bytes), not ST_AsBinary,
// which may reorder axes for geographic SRIDs on MySQL 8. BIT arrives as
// its big-endian bytes. YEAR(2) arrives as its last two digits, so t must
// say YEAR(2) (Precision 2), as ParseColumnType does; the binlog table map
// cannot tell it.
//
// raw is copied; the caller may reuse it.
func FromText(t Type, raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	out, err := fromText(t, raw)
	if err == nil {
		err = checkUTF8(out)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s value %q: %w", t, raw, err)
	}
	return out, nil
}

func fromText(t Type, raw []byte) (any, error) {
	s := string(raw)
	switch t.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		if t.Unsigned {
			return strconv.ParseUint(s, 10, 64)
		}
		return strconv.ParseInt(s, 10, 64)
	case KindYear:
		y, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		// YEAR(2) travels as its two digits, unpadded ("5" is 2005):
		// 70..99 are 19xx, 0..69 are 20xx.
		if t.Precision == 2 && y < 100 {
			if y < 70 {
				y += 2000
			} else {
				y += 1900
			}
		}
		return y, nil
	case KindBit:
		return bigEndianUint(raw)
	case KindDecimal:
		return parseDecimalOf(t, s)
	case KindFloat:
		f, err := strconv.ParseFloat(s, 64)
		return float64(float32(f)), err
	case KindDouble:
		return strconv.ParseFloat(s, 64)
	case KindDate:
		return parseDateValue(s)
	case KindDateTime:
		return parseDateTimeValue(s, t)
	case KindTimestamp:
		if strings.IndexByte(s, '-') >= 0 {
			return parseDateTimeValue(s, t)
		}
		return parseUnixValue(s, t)
	case KindTime:
		return parseTimeValue(s, t)
	case KindChar, KindVarChar, KindText, KindEnum, KindSet:
		return s, nil
	case KindJSON:
		return normalizeJSON(s), nil
	case KindBinary, KindVarBinary, KindBlob:
		return cloneValueBytes(raw), nil
	case KindGeometry:
		return stripSRID(raw)
	}
	return nil, fmt.Errorf("kind %s has no decoding", t.Kind)
}

// SelectExpr returns the select-list expression a snapshot query uses for
// col, so that FromText gets the exact value the binlog carries: the quoted
// column name, or for FLOAT/DOUBLE "CAST(`c` AS DOUBLE) AS `c`" and for
// TIMESTAMP "UNIX_TIMESTAMP(`c`) AS `c`". The result column keeps the
// column's name. See FromText for why.
func SelectExpr(col Column) string {
	id := QuoteIdent(col.Name)
	switch col.Type.Kind {
	case KindFloat, KindDouble:
		return "CAST(" + id + " AS DOUBLE) AS " + id
	case KindTimestamp:
		return "UNIX_TIMESTAMP(" + id + ") AS " + id
	}
	return id
}

// QuoteIdent quotes a MySQL identifier with backticks, doubling any
// backtick inside it.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// AppendJSON appends v, a canonical value of type t, in the API's JSON
// form: NULL null; integers, YEAR, BIT and floats as JSON numbers (uint64
// exactly, never through a float; FLOAT with the fewest digits that read
// back to its float32); DECIMAL as a string ("-12.50"); DATE "YYYY-MM-DD";
// DATETIME and TIMESTAMP (UTC) "YYYY-MM-DD HH:MM:SS[.ffffff]" with FSP
// fraction digits; TIME "[-]HH:MM:SS[.ffffff]"; strings, ENUM, SET and JSON
// columns as JSON strings (a JSON column's text inside a string); binary and
// GEOMETRY as standard base64 strings. ParseJSON reads it back exactly.
//
// v must be canonical for t. A value of another Go type is written as a
// JSON string of its %v form, so the output stays valid JSON.
func AppendJSON(dst []byte, t Type, v any) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(dst, "null"...) // not storable in MySQL; JSON has no spelling
		}
		return appendFloatValue(dst, t, x)
	case time.Time:
		// FormatText's form, which has nothing to escape, without the
		// string it would allocate.
		dst = append(dst, '"')
		switch t.Kind {
		case KindDate:
			dst = appendDateValue(dst, x)
		case KindDateTime, KindTimestamp:
			dst = appendDateTimeValue(dst, x, t.FSP)
		default:
			dst = appendDateTimeValue(dst, x, 6)
		}
		return append(dst, '"')
	case Decimal, string, time.Duration, []byte:
		return appendJSONStringValue(dst, FormatText(t, v))
	}
	return appendJSONStringValue(dst, fmt.Sprintf("%v", v))
}

// ParseJSON reads one JSON value in the form AppendJSON writes into t's
// canonical value; surrounding white space is allowed. Numeric kinds also
// accept their number inside a JSON string, and DECIMAL a JSON number, as
// API clients write them.
func ParseJSON(t Type, raw []byte) (any, error) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "null":
		return nil, nil
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal([]byte(s), &str); err != nil {
			return nil, fmt.Errorf("parsing JSON %s value %s: %w", t, raw, err)
		}
		return ParseText(t, str)
	case kindIsNumeric(t.Kind) && s != "" && (s[0] == '-' || isDecimalDigit(s[0])) && json.Valid([]byte(s)):
		return ParseText(t, s)
	}
	return nil, fmt.Errorf("parsing JSON %s value %s: want %s", t, raw, jsonWantFor(t.Kind))
}

func jsonWantFor(k Kind) string {
	if kindIsNumeric(k) {
		return "a number or null"
	}
	return "a string or null"
}

func kindIsNumeric(k Kind) bool {
	switch k {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt, KindYear, KindBit,
		KindDecimal, KindFloat, KindDouble:
		return true
	}
	return false
}

// FormatText returns v, a canonical value of type t, as text: the spellings
// of AppendJSON without JSON quoting or escaping (DECIMAL "-12.50", dates
// "YYYY-MM-DD", binary as base64, a JSON column as its text). NULL is "":
// a caller that must tell NULL from the empty string checks v == nil first. It is the
// form CSV output and API query parameters use; ParseText reads it back.
func FormatText(t Type, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case Decimal:
		return string(x)
	case float64:
		return string(appendFloatValue(nil, t, x))
	case string:
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case time.Time:
		switch t.Kind {
		case KindDate:
			return string(appendDateValue(nil, x))
		case KindDateTime, KindTimestamp:
			return string(appendDateTimeValue(nil, x, t.FSP))
		}
		return string(appendDateTimeValue(nil, x, 6))
	case time.Duration:
		fsp := t.FSP
		if t.Kind != KindTime {
			fsp = 6
		}
		return string(appendTimeValue(nil, x, fsp))
	}
	return fmt.Sprintf("%v", v)
}

// ParseText parses s, in the form FormatText writes, into t's canonical
// value. It never returns NULL: "" is the empty string for string kinds and
// an error for the others. DATETIME and TIMESTAMP also accept "T" between
// date and time and a date alone (midnight).
func ParseText(t Type, s string) (any, error) {
	v, err := parseText(t, s)
	if err == nil {
		err = checkUTF8(v)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s value %q: %w", t, s, err)
	}
	return v, nil
}

func parseText(t Type, s string) (any, error) {
	switch t.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		if t.Unsigned {
			return strconv.ParseUint(s, 10, 64)
		}
		return strconv.ParseInt(s, 10, 64)
	case KindYear:
		return strconv.ParseInt(s, 10, 64)
	case KindBit:
		return strconv.ParseUint(s, 10, 64)
	case KindDecimal:
		return parseDecimalOf(t, s)
	case KindFloat:
		f, err := strconv.ParseFloat(s, 32)
		return f, err
	case KindDouble:
		return strconv.ParseFloat(s, 64)
	case KindDate:
		return parseDateValue(s)
	case KindDateTime, KindTimestamp:
		if len(s) == len("2006-01-02") {
			return parseDateValue(s)
		}
		return parseDateTimeValue(s, t)
	case KindTime:
		return parseTimeValue(s, t)
	case KindChar, KindVarChar, KindText, KindEnum, KindSet:
		return s, nil
	case KindJSON:
		return normalizeJSON(s), nil
	case KindBinary, KindVarBinary, KindBlob, KindGeometry:
		b, err := base64.StdEncoding.DecodeString(s)
		if b == nil && err == nil {
			b = []byte{}
		}
		return b, err
	}
	return nil, fmt.Errorf("kind %s has no text form", t.Kind)
}

// CompareValues orders two canonical values of type t as MySQL orders them,
// NULL first: numbers and DECIMAL by value, temporal values in time order,
// ENUM by declaration index and SET by bit mask (as MySQL sorts them, not
// by label), binary by bytes. Strings compare by bytes, as a _bin collation
// does; a case- or accent-insensitive collation may order (and group)
// differently. It returns -1, 0 or +1.
func CompareValues(t Type, a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
	case uint64:
		if y, ok := b.(uint64); ok {
			return cmp.Compare(x, y)
		}
	case Decimal:
		if y, ok := b.(Decimal); ok {
			return cmpDecimal(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			return cmp.Compare(x, y)
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			return cmp.Compare(x, y)
		}
	case string:
		if y, ok := b.(string); ok {
			switch t.Kind {
			case KindEnum:
				return cmp.Compare(enumIndexOf(t, x), enumIndexOf(t, y))
			case KindSet:
				return cmp.Compare(setMaskOf(t, x), setMaskOf(t, y))
			}
			return strings.Compare(x, y)
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y)
		}
	}
	return strings.Compare(FormatText(t, a), FormatText(t, b))
}

// enumIndexOf is a label's 1-based declaration index; the empty error value and unknown labels
// are 0, as MySQL's error value is.
func enumIndexOf(t Type, label string) int {
	for i, e := range t.Elems {
		if e == label {
			return i + 1
		}
	}
	return 0
}

func setMaskOf(t Type, labels string) uint64 {
	var m uint64
	if labels == "" {
		return 0
	}
	for _, l := range strings.Split(labels, ",") {
		if i := enumIndexOf(t, l); i > 0 && i <= 64 {
			m |= 1 << (i - 1)
		}
	}
	return m
}

// appendFloatValue writes the shortest text that reads back to x; a FLOAT is
// written with the fewest digits that read back to its float32.
func appendFloatValue(dst []byte, t Type, x float64) []byte {
	if t.Kind == KindFloat && float64(float32(x)) == x {
		return strconv.AppendFloat(dst, x, 'g', -1, 32)
	}
	return strconv.AppendFloat(dst, x, 'g', -1, 64)
}

// appendJSONStringValue appends s as a JSON string. Invalid UTF-8 (never in a
// canonical value) becomes U+FFFD.
func appendJSONStringValue(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20:
				dst = append(dst, c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // valid JSON, but not inside JavaScript
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

var dateTimeLayouts = [7]string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.0",
	"2006-01-02 15:04:05.00",
	"2006-01-02 15:04:05.000",
	"2006-01-02 15:04:05.0000",
	"2006-01-02 15:04:05.00000",
	"2006-01-02 15:04:05.000000",
}

func clampFSP(fsp int) int { return min(max(fsp, 0), 6) }

func appendDateValue(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, "0000-00-00"...)
	}
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, "2006-01-02")
	}
	// By hand: this runs for every temporal value of every mirrored row,
	// and AppendFormat interprets its layout each time.
	return append(dst, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		'-', byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10))
}

func appendDateTimeValue(dst []byte, t time.Time, fsp int) []byte {
	fsp = clampFSP(fsp)
	if t.IsZero() {
		dst = append(dst, "0000-00-00 00:00:00"...)
		if fsp > 0 {
			dst = append(dst, ".000000"[:fsp+1]...)
		}
		return dst
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return t.AppendFormat(dst, dateTimeLayouts[fsp])
	}
	dst = appendDateValue(dst, t)
	h, mi, sec := t.Clock()
	dst = append(dst, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10),
		':', byte('0'+sec/10), byte('0'+sec%10))
	if fsp > 0 {
		// The first fsp digits of the nanoseconds: truncated, as
		// AppendFormat's ".000000" does.
		var frac [9]byte
		ns := t.Nanosecond()
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		dst = append(dst, '.')
		dst = append(dst, frac[:fsp]...)
	}
	return dst
}

func appendTimeValue(dst []byte, d time.Duration, fsp int) []byte {
	fsp = clampFSP(fsp)
	if d < 0 {
		dst = append(dst, '-')
		d = -d
	}
	us := int64(d / time.Microsecond)
	h := us / 3_600_000_000
	us -= h * 3_600_000_000
	m := us / 60_000_000
	us -= m * 60_000_000
	s := us / 1_000_000
	us -= s * 1_000_000
	if h < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, h, 10)
	dst = append(dst, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	if fsp > 0 {
		frac := strconv.AppendInt(nil, us+1_000_000, 10) // "1ffffff"
		dst = append(dst, '.')
		dst = append(dst, frac[1:1+fsp]...)
	}
	return dst
}

func isDecimalDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits parses s, all ASCII digits, as a non-negative int.
func parseDigits(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDecimalDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseDate parses "YYYY-MM-DD".
func parseDateValue(s string) (time.Time, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	y, ok1 := parseDigits(s[0:4])
	m, ok2 := parseDigits(s[5:7])
	d, ok3 := parseDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return makeDateValue(s, y, m, d, 0, 0, 0, 0)
}

// parseDateTime parses "YYYY-MM-DD HH:MM:SS[.f]" (or with "T"), with at
// most t.FSP nonzero fraction digits.
func parseDateTimeValue(s string, t Type) (time.Time, error) {
	const base = len("2006-01-02 15:04:05")
	// The error is built only on failure: this runs once per DATETIME
	// value of every binlog row.
	bad := func() error { return fmt.Errorf("datetime %q: want YYYY-MM-DD HH:MM:SS[.ffffff]", s) }
	if len(s) < base || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, bad()
	}
	y, ok1 := parseDigits(s[0:4])
	mo, ok2 := parseDigits(s[5:7])
	d, ok3 := parseDigits(s[8:10])
	h, ok4 := parseDigits(s[11:13])
	mi, ok5 := parseDigits(s[14:16])
	sec, ok6 := parseDigits(s[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, bad()
	}
	us, err := parseFraction(s[base:], t.FSP)
	if err != nil {
		return time.Time{}, fmt.Errorf("datetime %q: %w", s, err)
	}
	return makeDateValue(s, y, mo, d, h, mi, sec, us)
}

// parseFraction parses "" or ".f{1,6}" into microseconds, refusing nonzero
// digits beyond fsp.
func parseFraction(s string, fsp int) (int, error) {
	if s == "" {
		return 0, nil
	}
	if s[0] != '.' || len(s) < 2 || len(s) > 7 {
		return 0, fmt.Errorf("fraction %q: want . and 1 to 6 digits", s)
	}
	f, ok := parseDigits(s[1:])
	if !ok {
		return 0, fmt.Errorf("fraction %q: want digits", s)
	}
	for i := len(s) - 1; i < 6; i++ {
		f *= 10
	}
	if f%fracPow10[6-clampFSP(fsp)] != 0 {
		return 0, fmt.Errorf("fraction %q has more than %d digits", s, fsp)
	}
	return f, nil
}

var fracPow10 = [7]int{1, 10, 100, 1000, 10000, 100000, 1000000}

func makeDateValue(s string, y, mo, d, h, mi, sec, us int) (time.Time, error) {
	if y == 0 && mo == 0 && d == 0 {
		if h == 0 && mi == 0 && sec == 0 && us == 0 {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("%q: a zero date with a nonzero time has no Go value", s)
	}
	if mo == 0 || d == 0 {
		return time.Time{}, fmt.Errorf("%q: a date with a zero month or day has no Go value (sql_mode without NO_ZERO_IN_DATE)", s)
	}
	if mo > 12 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("%q: out of range", s)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, us*1000, time.UTC)
	if t.Day() != d {
		return time.Time{}, fmt.Errorf("%q: no such day (sql_mode ALLOW_INVALID_DATES?)", s)
	}
	return t, nil
}

// parseDuration parses a TIME: "[-]H...:MM:SS[.f]".
func parseTimeValue(s string, t Type) (time.Duration, error) {
	body := s
	neg := strings.HasPrefix(body, "-")
	if neg {
		body = body[1:]
	}
	c1 := strings.IndexByte(body, ':')
	if c1 < 1 || len(body) < c1+6 || body[c1+3] != ':' {
		return 0, fmt.Errorf("time %q: want [-]HH:MM:SS[.ffffff]", s)
	}
	h, ok1 := parseDigits(body[:c1])
	m, ok2 := parseDigits(body[c1+1 : c1+3])
	sec, ok3 := parseDigits(body[c1+4 : c1+6])
	if !ok1 || !ok2 || !ok3 || m > 59 || sec > 59 {
		return 0, fmt.Errorf("time %q: want [-]HH:MM:SS[.ffffff]", s)
	}
	if h > 838 {
		return 0, fmt.Errorf("time %q: outside TIME's range of ±838:59:59.999999", s)
	}
	us, err := parseFraction(body[c1+6:], t.FSP)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond
	if neg {
		d = -d
	}
	return d, nil
}

// parseUnixValue parses UNIX_TIMESTAMP's "seconds[.f]"; 0 is the zero
// TIMESTAMP, as 1970-01-01 00:00:00 UTC is outside TIMESTAMP's range.
func parseUnixValue(s string, t Type) (time.Time, error) {
	secPart, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secPart, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("unix time %q: want seconds[.ffffff]", s)
	}
	us := 0
	if frac != "" {
		if us, err = parseFraction("."+frac, t.FSP); err != nil {
			return time.Time{}, fmt.Errorf("unix time %q: %w", s, err)
		}
	}
	if sec == 0 && us == 0 {
		return time.Time{}, nil
	}
	return time.Unix(sec, int64(us)*1000).UTC(), nil
}

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
