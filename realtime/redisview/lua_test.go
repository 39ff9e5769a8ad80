package redisview

import (
	"context"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// randBig returns a random signed integer of up to maxDigits digits, biased
// towards the edges where carries and sign changes happen: runs of 9s and
// 0s, exact limb boundaries, and small values.
func randBig(r *rand.Rand, maxDigits int) *big.Int {
	n := 1 + r.IntN(maxDigits)
	var sb strings.Builder
	switch r.IntN(4) {
	case 0: // 999...9 or 1000...0 shapes
		if r.IntN(2) == 0 {
			sb.WriteString(strings.Repeat("9", n))
		} else {
			sb.WriteString("1" + strings.Repeat("0", n-1))
		}
	case 1:
		sb.WriteString(strconv.Itoa(r.IntN(1000)))
	default:
		sb.WriteByte(byte('1' + r.IntN(9)))
		for i := 1; i < n; i++ {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
	}
	x, _ := new(big.Int).SetString(sb.String(), 10)
	if r.IntN(2) == 0 {
		x.Neg(x)
	}
	return x
}

func TestLuaBigAddMatchesMathBig(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	check := func(a, b *big.Int) {
		t.Helper()
		want := new(big.Int).Add(a, b)
		wantState := want.String() + " 1"
		if want.Sign() == 0 {
			wantState = "0 1"
		}
		got, err := s.scripts.bigAdd.Run(ctx, s.rdb, []string{"x"}, "ii", a.String()+" 0", b.String()+" 1").Text()
		if err != nil {
			t.Fatalf("%s + %s: %v", a, b, err)
		}
		if got != wantState {
			t.Fatalf("Lua %s + %s = %q, want %q", a, b, got, wantState)
		}
		goSum, _, err := addStates("ii", a.String()+" 0", b.String()+" 1")
		if err != nil || goSum != wantState {
			t.Fatalf("Go %s + %s = %q (%v), want %q", a, b, goSum, err, wantState)
		}
	}
	for _, c := range [][2]string{
		{"0", "0"}, {"-1", "1"}, {"9999999", "1"}, {"-10000000", "1"},
		{"99999999999999", "1"}, {"999999999999999", "1"}, {"-999999999999999", "-1"},
		{"9223372036854775807", "1"}, {"-9223372036854775808", "-1"},
		{"100000000000000000000", "-1"}, {"-100000000000000000000", "100000000000000000001"},
		{strings.Repeat("9", 80), "1"}, {"-" + strings.Repeat("9", 80), strings.Repeat("9", 80)},
		{"1" + strings.Repeat("0", 79), "-" + strings.Repeat("9", 79)},
	} {
		a, _ := new(big.Int).SetString(c[0], 10)
		b, _ := new(big.Int).SetString(c[1], 10)
		check(a, b)
		check(b, a)
	}
	for range 2000 {
		check(randBig(r, 80), randBig(r, 80))
	}
	for range 500 {
		check(randBig(r, 16), randBig(r, 16)) // around the fast path's edge
	}
}

func TestLuaStateAddFloatsAndZero(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	for _, c := range []struct{ layout, a, b, want string }{
		{"iif", "1 1 0.5", "-1 -1 -0.5", ""},                     // all zero: field deleted
		{"iif", "0 2 0.1", "0 1 0.2", "0 3 0.30000000000000004"}, // count 0, sums move
		{"iif", "3 3 1e300", "0 0 1e300", "3 3 2.0000000000000001e+300"},
		{"i", "5", "-5", ""},
		// Zero delta tokens leave the stored tokens as written.
		{"iiff", "7 3 0.1 1e300", "0 0 0 2", "7 3 0.1 1.0000000000000001e+300"},
		{"iif", "123456789012345678901234567890 0 0.5", "0 0 0", "123456789012345678901234567890 0 0.5"},
		{"iif", "0 0 -0", "0 0 0", ""},
	} {
		got, err := s.scripts.bigAdd.Run(ctx, s.rdb, []string{"x"}, c.layout, c.a, c.b).Text()
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Lua %q + %q (%s) = %q, want %q", c.a, c.b, c.layout, got, c.want)
		}
		goSum, zero, err := addStates(c.layout, c.a, c.b)
		if err != nil {
			t.Fatal(err)
		}
		if zero != (c.want == "") {
			t.Errorf("Go %q + %q: zero = %v", c.a, c.b, zero)
		}
		if !zero && !sameState(t, c.layout, goSum, c.want) {
			t.Errorf("Go %q + %q = %q, want %q", c.a, c.b, goSum, c.want)
		}
	}
}

// sameState compares two states token-wise, floats by value (Lua writes
// %.17g, Go the shortest form; both parse to the same double).
func sameState(t *testing.T, layout, a, b string) bool {
	t.Helper()
	ta, tb := strings.Fields(a), strings.Fields(b)
	if len(ta) != len(layout) || len(tb) != len(layout) {
		return false
	}
	for i := range layout {
		if layout[i] == 'f' {
			x, err1 := strconv.ParseFloat(ta[i], 64)
			y, err2 := strconv.ParseFloat(tb[i], 64)
			if err1 != nil || err2 != nil || x != y {
				return false
			}
		} else if ta[i] != tb[i] {
			return false
		}
	}
	return true
}
