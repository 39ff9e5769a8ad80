package redisview

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// addStates adds two encoded aggregate states token-wise under layout (one
// char per token: 'i' exact integer, 'f' float), exactly as the Lua scripts
// do, and reports whether every token of the sum is zero.
func addStates(layout, a, b string) (string, bool, error) {
	ta := strings.Fields(a)
	tb := strings.Fields(b)
	if len(ta) != len(layout) || len(tb) != len(layout) {
		return "", false, fmt.Errorf("adding states %q and %q: want %d tokens (layout %q)", a, b, len(layout), layout)
	}
	var sb strings.Builder
	zero := true
	for i := 0; i < len(layout); i++ {
		if i > 0 {
			sb.WriteByte(' ')
		}
		var tok string
		var err error
		switch layout[i] {
		case 'i':
			tok, err = addIntTokens(ta[i], tb[i])
			if tok != "0" {
				zero = false
			}
		case 'f':
			var x, y float64
			if x, err = strconv.ParseFloat(ta[i], 64); err == nil {
				y, err = strconv.ParseFloat(tb[i], 64)
			}
			if x+y != 0 {
				zero = false
			}
			tok = strconv.FormatFloat(x+y, 'g', -1, 64)
		default:
			err = fmt.Errorf("layout %q: unknown token kind %q", layout, layout[i])
		}
		if err != nil {
			return "", false, fmt.Errorf("adding states %q and %q: token %d: %w", a, b, i, err)
		}
		sb.WriteString(tok)
	}
	return sb.String(), zero, nil
}

// addIntTokens adds two signed decimal integers of any length exactly.
func addIntTokens(a, b string) (string, error) {
	x, errx := strconv.ParseInt(a, 10, 64)
	y, erry := strconv.ParseInt(b, 10, 64)
	if errx == nil && erry == nil {
		if s := x + y; (s > x) == (y > 0) {
			return strconv.FormatInt(s, 10), nil
		}
	}
	bx, ok := new(big.Int).SetString(a, 10)
	if !ok {
		return "", fmt.Errorf("not an integer: %q", a)
	}
	by, ok := new(big.Int).SetString(b, 10)
	if !ok {
		return "", fmt.Errorf("not an integer: %q", b)
	}
	return bx.Add(bx, by).String(), nil
}

// positiveCount reports whether the count token (token 0) of an encoded
// state is > 0: a merged group with count <= 0 is absent from an answer.
func positiveCount(state string) bool {
	tok, _, _ := strings.Cut(state, " ")
	return tok != "" && tok[0] != '-' && strings.Trim(tok, "0") != ""
}
