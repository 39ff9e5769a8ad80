package formats

import (
	"bytes"
	"cmp"
	"strings"
	"time"
)

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
