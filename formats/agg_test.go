package formats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// testShape has every slot kind: count(), count(col), an exact and a float sum.
var testShape = newAggShape([]aggSlot{slotCount, slotNN, slotExact, slotFloat}, []int{0, 0, 2, 0})

func TestAggEncodeRoundTrip(t *testing.T) {
	if testShape.layout != "iiiiif" {
		t.Fatalf("layout %q", testShape.layout)
	}
	for _, enc := range []string{
		"0 0 0 0 0 0",
		"-3 -1 -2 -1234 1 0.1",
		"5 5 4 123456789012345678901234567890 4 1e-300",
		"1 1 1 -99999999999999999999999999999999999999 1 -1.7976931348623157e+308",
		"2 2 2 9223372036854775807 2 5",
		"2 2 2 -9223372036854775808 2 -0",
	} {
		a, err := decodeAgg(testShape, []byte(enc))
		if err != nil {
			t.Fatalf("decode %q: %v", enc, err)
		}
		want := enc
		if strings.HasSuffix(enc, " -0") {
			want = strings.TrimSuffix(enc, "0") + "0" // -0 stays -0: a float's sign survives
		}
		if got := string(a.AppendEncode(nil)); got != want {
			t.Errorf("round trip %q -> %q", enc, got)
		}
	}
	for _, bad := range []string{"", " ", "1", "1 2 3 4 5", "1 2 3 4 5 6 7", "1 2 3 4 5 6 ", "1  2 3 4 5 6", "x 2 3 4 5 6",
		"1 2 3 1.5 5 6", "1 2 3 4 5 NaN", "1 2 3 4 5 +Inf", "1 2 3 4 5 1e999", "99999999999999999999 2 3 4 5 6", "1 2 3 12a 5 6"} {
		if a, err := decodeAgg(testShape, []byte(bad)); err == nil {
			t.Errorf("decode %q: no error, got %s", bad, a)
		}
	}
	// A zero Agg encodes as just its count.
	if got := (&Agg{}).String(); got != "0" {
		t.Errorf("zero Agg = %q", got)
	}
}

func randomAgg(r *rand.Rand) *Agg {
	a := newAgg(testShape)
	a.Count = r.Int64N(2000) - 1000
	for i, slot := range testShape.slots {
		if slot == slotCount {
			continue
		}
		a.m[i].nn = r.Int64N(2000) - 1000
		switch slot {
		case slotExact:
			if r.IntN(3) == 0 {
				a.m[i].sum.addBig(new(big.Int).Lsh(big.NewInt(r.Int64N(1000)-500), 70), false)
			}
			a.m[i].sum.addInt64(r.Int64() - math.MaxInt64/2)
		case slotFloat:
			a.m[i].f = float64(r.IntN(1<<20)-1<<19) / 64 // exact in binary: float addition is associative here
		}
	}
	return a
}

func TestAggMergeAssociativeAndCommutative(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		x, y, z := randomAgg(r), randomAgg(r), randomAgg(r)
		left := x.Clone()
		left.Add(y)
		left.Add(z)
		yz := y.Clone()
		yz.Add(z)
		right := x.Clone()
		right.Add(yz)
		if left.String() != right.String() {
			t.Fatalf("(x+y)+z = %s, x+(y+z) = %s", left, right)
		}
		zyx := (&Agg{}).Clone()
		zyx.Add(z)
		zyx.Add(y)
		zyx.Add(x)
		if zyx.String() != left.String() {
			t.Fatalf("z+y+x = %s, x+y+z = %s", zyx, left)
		}
		// Encoded states merge like the states: decode(enc(x)) + decode(enc(y)).
		dx, _ := decodeAgg(testShape, x.AppendEncode(nil))
		dy, _ := decodeAgg(testShape, y.AppendEncode(nil))
		dx.Add(dy)
		xy := x.Clone()
		xy.Add(y)
		if dx.String() != xy.String() {
			t.Fatalf("decoded merge %s, want %s", dx, xy)
		}
		// x + (-x) is zero.
		neg, _ := decodeAgg(testShape, []byte(negateTokens(x.String())))
		neg.Add(x)
		if !neg.IsZero() {
			t.Fatalf("x + -x = %s", neg)
		}
	}
}

func negateTokens(enc string) string {
	toks := strings.Split(enc, " ")
	for i, tok := range toks {
		switch {
		case tok == "0":
		case strings.HasPrefix(tok, "-"):
			toks[i] = tok[1:]
		default:
			toks[i] = "-" + tok
		}
	}
	return strings.Join(toks, " ")
}

func TestAggCloneIsDeep(t *testing.T) {
	a := newAgg(testShape)
	a.m[2].sum.addBig(new(big.Int).Lsh(big.NewInt(1), 100), false)
	c := a.Clone()
	c.Add(a)
	if a.String() == c.String() {
		t.Fatal("clone shares state")
	}
	d := Delta{"k": a}
	e := Delta{}
	e.Merge(d)
	e["k"].Add(a)
	if d["k"].String() != a.String() || e["k"].String() == a.String() {
		t.Fatal("Merge aliases the other delta's states")
	}
}

func TestExactSumEdges(t *testing.T) {
	var s exactSum
	s.addInt64(math.MaxInt64)
	s.addInt64(1) // spills
	if got := string(s.appendText(nil)); got != "9223372036854775808" {
		t.Errorf("MaxInt64+1 = %s", got)
	}
	s.addInt64(-1)
	if got := string(s.appendText(nil)); got != "9223372036854775807" {
		t.Errorf("back = %s", got)
	}
	s.addInt64(-math.MaxInt64)
	if !s.isZero() {
		t.Errorf("should be zero: lo %d hi %v", s.lo, s.hi)
	}
	// lo = MinInt64, hi = 2^63 is zero too.
	s = exactSum{lo: math.MinInt64, hi: new(big.Int).Lsh(big.NewInt(1), 63)}
	if !s.isZero() {
		t.Error("MinInt64 + 2^63 should be zero")
	}
	s = exactSum{lo: 5, hi: big.NewInt(-4)}
	if s.isZero() || string(s.appendText(nil)) != "1" {
		t.Errorf("5 + -4 = %s", s.appendText(nil))
	}
}
