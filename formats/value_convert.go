package formats

import "reflect"

// Joinable reports whether values of types a and b can be matched as equal,
// as a join of a view key on a mirror's primary key does: their canonical Go
// types (the type map's) are the same, or both are integers (int64 and
// uint64, which ConvertValue converts between). DECIMALs of different scales
// are joinable; a DECIMAL and an integer, a DATE and a string are not.
func Joinable(a, b Type) bool {
	ga, gb := GoType(a), GoType(b)
	if ga == nil || gb == nil {
		return false
	}
	return ga == gb || (isIntegerGo(ga) && isIntegerGo(gb))
}

func isIntegerGo(g reflect.Type) bool { return g == goInt64 || g == goUint64 }

// ConvertValue returns v, a canonical value of a type Joinable with t, as
// t's canonical value: an integer as int64 or uint64, a Decimal at t's scale;
// any other value as it is. It reports false when t cannot hold v exactly
// (a negative number for an unsigned t, a uint64 beyond int64, a Decimal with
// more fraction digits than t's scale, a value of another Go type) and for
// NULL, which matches nothing.
func ConvertValue(t Type, v any) (any, bool) {
	if v == nil {
		return nil, false
	}
	switch GoType(t) {
	case goInt64:
		switch x := v.(type) {
		case int64:
			return x, true
		case uint64:
			if x <= 1<<63-1 {
				return int64(x), true
			}
		}
		return nil, false
	case goUint64:
		switch x := v.(type) {
		case uint64:
			return x, true
		case int64:
			if x >= 0 {
				return uint64(x), true
			}
		}
		return nil, false
	case goDecimal:
		d, ok := v.(Decimal)
		if !ok {
			return nil, false
		}
		d, err := ParseDecimal(string(d), t.Scale)
		return d, err == nil
	}
	if g := GoType(t); g == nil || reflect.TypeOf(v) != g {
		return nil, false
	}
	return v, true
}
