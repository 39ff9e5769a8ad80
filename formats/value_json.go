package formats

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

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
