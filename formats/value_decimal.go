package formats

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

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
	if exp == 0 { // the common case, without allocating: comparisons run per row
		intPart = strings.TrimLeft(intDigits, "0")
		if intPart == "" {
			intPart = "0"
		}
		return neg, intPart, strings.TrimRight(fracDigits, "0"), nil
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

// cmpDecimal orders two decimals by value, whatever their scales, and reads
// any decimal literal (ParseDecimal's forms: "+1.50", ".5", "1.5e3"): it is
// the one decimal comparison of the package (values, where literals, Arrow
// text columns). It does not allocate unless a text has an exponent.
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
