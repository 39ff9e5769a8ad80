package formats

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// keySep separates key parts; keyEsc escapes it, itself and marks NULL.
const (
	keySep = '|'
	keyEsc = '\\'
)

// timeKeyLayout is the text each time transform renders, by keyKind.
var timeKeyLayout = map[keyKind]string{kkYear: "YYYY", kkMonth: "YYYY-MM", kkDay: "YYYY-MM-DD", kkHour: "YYYY-MM-DD HH"}

// appendPart appends the key part of v, reporting false when v has the
// wrong Go type.
func (k *boundKey) appendPart(dst []byte, v any) ([]byte, bool) {
	if v == nil {
		return append(dst, keyEsc, 'N'), true
	}
	switch k.kind {
	case kkValue:
		if !classHolds(k.cls, v) {
			return dst, false
		}
		return appendKeyValue(dst, k.out, v), true
	case kkYear, kkMonth, kkDay, kkHour:
		t, ok := v.(time.Time)
		if !ok {
			return dst, false
		}
		return appendTimeKey(dst, t, k.kind), true
	case kkTruncInt:
		x, ok := v.(int64)
		if !ok {
			return dst, false
		}
		return strconv.AppendInt(dst, truncInt(x, k.width), 10), true
	case kkTruncUint:
		x, ok := v.(uint64)
		if !ok {
			return dst, false
		}
		return strconv.AppendUint(dst, x-x%uint64(k.width), 10), true
	case kkTruncStr:
		s, ok := v.(string)
		if !ok {
			return dst, false
		}
		return appendEscaped(dst, truncRunes(s, k.width)), true
	case kkTruncBytes:
		p, ok := v.([]byte)
		if !ok {
			return dst, false
		}
		if int64(len(p)) > k.width {
			p = p[:k.width]
		}
		return appendEscaped(dst, FormatText(k.out, p)), true
	}
	return dst, false
}

// truncInt is floor(x/w)*w. At the bottom of the int64 range, where the
// result does not exist, it saturates at the lowest multiple of w
// (MySQL reports an out-of-range error there).
func truncInt(x, w int64) int64 {
	q := x / w
	if x%w < 0 {
		q--
	}
	if q < math.MinInt64/w {
		q++
	}
	return q * w
}

// truncRunes returns the first w characters of s (MySQL LEFT on a
// character column).
func truncRunes(s string, w int64) string {
	if int64(len(s)) <= w {
		return s
	}
	n := int64(0)
	for i := range s {
		if n == w {
			return s[:i]
		}
		n++
	}
	return s
}

// appendTimeKey renders year/month/day/hour of t as DATE_FORMAT does; the
// zero date renders as zeros ("0000-00-00").
func appendTimeKey(dst []byte, t time.Time, k keyKind) []byte {
	var y, mo, d, h int
	if !t.IsZero() {
		var m time.Month
		y, m, d = t.Date()
		mo, h = int(m), t.Hour()
	}
	dst = append(dst, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
	if k == kkYear {
		return dst
	}
	dst = append(dst, '-', byte('0'+mo/10), byte('0'+mo%10))
	if k == kkMonth {
		return dst
	}
	dst = append(dst, '-', byte('0'+d/10), byte('0'+d%10))
	if k == kkDay {
		return dst
	}
	return append(dst, ' ', byte('0'+h/10), byte('0'+h%10))
}

// appendKeyValue appends the key text of v, a canonical value of type t:
// FormatText's form, escaped. A float's negative zero is written as zero,
// because SQL groups them together.
func appendKeyValue(dst []byte, t Type, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, keyEsc, 'N')
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case Decimal:
		return appendEscaped(dst, string(x))
	case string:
		return appendEscaped(dst, x)
	case float64:
		if x == 0 {
			x = 0
		}
		return appendEscaped(dst, FormatText(t, x))
	}
	return appendEscaped(dst, FormatText(t, v))
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == keySep || c == keyEsc {
			dst = append(dst, keyEsc)
		}
		dst = append(dst, s[i])
	}
	return dst
}

// keyTypes returns the types of the key columns: a view's group keys, a
// mirror's primary key columns in key order.
func (b *BoundView) keyTypes() []Type {
	var ts []Type
	if b.view.Mirror {
		for _, p := range b.pk {
			ts = append(ts, b.schema.Columns[p].Type)
		}
		return ts
	}
	for _, k := range b.keys {
		ts = append(ts, k.out)
	}
	return ts
}

// EncodeKey returns the GroupKey of the key values vals (canonical values
// of the key columns' output types, in order): what Accumulate files a row
// under, or a mirror row's primary key values in primary key order.
func (b *BoundView) EncodeKey(vals []any) (GroupKey, error) {
	ts := b.keyTypes()
	if len(vals) != len(ts) {
		return "", fmt.Errorf("encoding key of view %s: %d values, want %d", b.view.Name, len(vals), len(ts))
	}
	var k []byte
	for i, v := range vals {
		if i > 0 {
			k = append(k, keySep)
		}
		if v != nil && !classHolds(classOf(ts[i]), v) {
			return "", fmt.Errorf("encoding key of view %s: value %d is %T, want %s for %s", b.view.Name, i, v, classGoType[classOf(ts[i])], ts[i])
		}
		k = appendKeyValue(k, ts[i], v)
	}
	return GroupKey(k), nil
}

// DecodeKey returns the key values k encodes, typed as the key columns'
// output types.
func (b *BoundView) DecodeKey(k GroupKey) ([]any, error) {
	ts := b.keyTypes()
	vals := make([]any, 0, len(ts))
	if len(ts) == 0 {
		if k != "" {
			return nil, fmt.Errorf("decoding key %q of view %s: the view has no group keys", k, b.view.Name)
		}
		return vals, nil
	}
	s := string(k)
	var part []byte
	for i := 0; ; i++ {
		if i >= len(ts) {
			return nil, fmt.Errorf("decoding key %q of view %s: more than %d parts", k, b.view.Name, len(ts))
		}
		end, null := 0, false
		part = part[:0]
		for end < len(s) && s[end] != keySep {
			if s[end] == keyEsc {
				if end+1 >= len(s) {
					return nil, fmt.Errorf("decoding key %q of view %s: dangling escape", k, b.view.Name)
				}
				switch c := s[end+1]; c {
				case keySep, keyEsc:
					part = append(part, c)
				case 'N':
					null = true
				default:
					return nil, fmt.Errorf("decoding key %q of view %s: bad escape \\%c", k, b.view.Name, c)
				}
				end += 2
				continue
			}
			part = append(part, s[end])
			end++
		}
		if null {
			if end != 2 || s[:2] != `\N` {
				return nil, fmt.Errorf(`decoding key %q of view %s: \N inside a value`, k, b.view.Name)
			}
			vals = append(vals, nil)
		} else {
			v, err := ParseText(ts[i], string(part))
			if err != nil {
				return nil, fmt.Errorf("decoding key %q of view %s: %w", k, b.view.Name, err)
			}
			vals = append(vals, v)
		}
		if end == len(s) {
			break
		}
		s = s[end+1:]
	}
	if len(vals) != len(ts) {
		return nil, fmt.Errorf("decoding key %q of view %s: %d parts, want %d", k, b.view.Name, len(vals), len(ts))
	}
	return vals, nil
}
