package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

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
