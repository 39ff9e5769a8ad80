package formats

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
)

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
