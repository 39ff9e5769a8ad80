package formats

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// aggSlot is how one measure's state is kept and encoded.
type aggSlot uint8

const (
	slotCount aggSlot = iota // count(): no state of its own, uses Agg.Count
	slotNN                   // count(col): one token, nn
	slotExact                // sum/avg of an integer or DECIMAL column: nn, exact scaled sum
	slotFloat                // sum/avg of a FLOAT/DOUBLE column: nn, float64 sum
)

// aggShape fixes the measure slots of a view's Agg and its token layout.
// Two shapes are equal when their layouts are equal; scales are carried so
// a schema change that would reinterpret stored sums is refused.
type aggShape struct {
	slots  []aggSlot
	scales []int // per measure: the DECIMAL scale of an exact sum (0 for integers)
	layout string
}

func newAggShape(slots []aggSlot, scales []int) *aggShape {
	s := &aggShape{slots: slots, scales: scales}
	b := []byte{'i'}
	for _, sl := range slots {
		switch sl {
		case slotNN:
			b = append(b, 'i')
		case slotExact:
			b = append(b, 'i', 'i')
		case slotFloat:
			b = append(b, 'i', 'f')
		}
	}
	s.layout = string(b)
	return s
}

func (s *aggShape) equal(o *aggShape) bool {
	if s.layout != o.layout || len(s.scales) != len(o.scales) {
		return false
	}
	for i := range s.scales {
		if s.scales[i] != o.scales[i] {
			return false
		}
	}
	return true
}

// exactSum is an exact integer: lo + hi. Sums stay in lo (no allocation)
// until they overflow int64; the overflow moves into hi.
type exactSum struct {
	lo int64
	hi *big.Int // nil until needed
}

func (s *exactSum) addInt64(v int64) {
	r := s.lo + v
	if (v > 0 && r < s.lo) || (v < 0 && r > s.lo) {
		s.spill()
		r = v
	}
	s.lo = r
}

// spill moves lo into hi.
func (s *exactSum) spill() {
	if s.hi == nil {
		s.hi = new(big.Int)
	}
	var t big.Int
	t.SetInt64(s.lo)
	s.hi.Add(s.hi, &t)
	s.lo = 0
}

func (s *exactSum) addBig(v *big.Int, neg bool) {
	if s.hi == nil {
		s.hi = new(big.Int)
	}
	if neg {
		s.hi.Sub(s.hi, v)
	} else {
		s.hi.Add(s.hi, v)
	}
}

func (s *exactSum) add(o *exactSum) {
	s.addInt64(o.lo)
	if o.hi != nil && o.hi.Sign() != 0 {
		s.addBig(o.hi, false)
	}
}

func (s *exactSum) isZero() bool {
	if s.hi == nil || s.hi.Sign() == 0 {
		return s.lo == 0
	}
	// lo + hi == 0 only when hi == -lo, which fits in an int64 unless lo is MinInt64.
	if !s.hi.IsInt64() {
		return s.lo == math.MinInt64 && s.hi.IsUint64() && s.hi.Uint64() == 1<<63
	}
	h := s.hi.Int64()
	return h != math.MinInt64 && h == -s.lo
}

// value returns lo + hi as a new big.Int.
func (s *exactSum) value() *big.Int {
	v := big.NewInt(s.lo)
	if s.hi != nil {
		v.Add(v, s.hi)
	}
	return v
}

func (s *exactSum) appendText(dst []byte) []byte {
	if s.hi == nil || s.hi.Sign() == 0 {
		return strconv.AppendInt(dst, s.lo, 10)
	}
	return s.value().Append(dst, 10)
}

func (s *exactSum) clone() exactSum {
	c := exactSum{lo: s.lo}
	if s.hi != nil {
		c.hi = new(big.Int).Set(s.hi)
	}
	return c
}

// aggMeasure is one measure's mergeable state.
type aggMeasure struct {
	nn  int64    // non-NULL inputs
	sum exactSum // slotExact: the sum scaled by 10^scale
	f   float64  // slotFloat: the sum
}

// Agg is the mergeable aggregate state of one group: the row count and,
// per measure, the count of non-NULL inputs and their exact (integer,
// DECIMAL) or float64 sum. States add token-wise; a delta may hold negative
// counts. The zero Agg is an empty state that Add fills.
//
// An Agg is not safe for concurrent mutation.
type Agg struct {
	// Count is the number of rows in the group (token 0). A group whose
	// merged Count is <= 0 is absent.
	Count int64
	shape *aggShape
	m     []aggMeasure
}

func newAgg(shape *aggShape) *Agg {
	return &Agg{shape: shape, m: make([]aggMeasure, len(shape.slots))}
}

// Add adds o into a. Both must belong to the same view.
func (a *Agg) Add(o *Agg) {
	if o == nil {
		return
	}
	a.Count += o.Count
	if a.shape == nil {
		a.shape = o.shape
	}
	if len(a.m) < len(o.m) {
		a.m = append(a.m, make([]aggMeasure, len(o.m)-len(a.m))...)
	}
	for i := range o.m {
		a.m[i].nn += o.m[i].nn
		a.m[i].sum.add(&o.m[i].sum)
		a.m[i].f += o.m[i].f
	}
}

// IsZero reports whether every token of a is zero: the state adds nothing
// and its stored field can be deleted.
func (a *Agg) IsZero() bool {
	if a.Count != 0 {
		return false
	}
	for i := range a.m {
		if a.m[i].nn != 0 || a.m[i].f != 0 || !a.m[i].sum.isZero() {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of a.
func (a *Agg) Clone() *Agg {
	c := &Agg{Count: a.Count, shape: a.shape, m: make([]aggMeasure, len(a.m))}
	for i := range a.m {
		c.m[i] = aggMeasure{nn: a.m[i].nn, sum: a.m[i].sum.clone(), f: a.m[i].f}
	}
	return c
}

// AppendEncode appends a's Redis encoding to dst: ASCII tokens separated by
// one space — the count, then per measure nothing (count()), nn
// (count(col)), or nn and the sum (sum, avg). Exact sums are base-10
// integers of the sum scaled by 10^scale; float sums are
// strconv.FormatFloat(f, 'g', -1, 64). View.AggLayout describes the tokens.
func (a *Agg) AppendEncode(dst []byte) []byte {
	dst = strconv.AppendInt(dst, a.Count, 10)
	if a.shape == nil {
		return dst
	}
	for i, sl := range a.shape.slots {
		var m aggMeasure
		if i < len(a.m) {
			m = a.m[i]
		}
		switch sl {
		case slotNN:
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, m.nn, 10)
		case slotExact:
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, m.nn, 10)
			dst = append(dst, ' ')
			dst = m.sum.appendText(dst)
		case slotFloat:
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, m.nn, 10)
			dst = append(dst, ' ')
			dst = strconv.AppendFloat(dst, m.f, 'g', -1, 64)
		}
	}
	return dst
}

// String returns a's encoding.
func (a *Agg) String() string { return string(a.AppendEncode(nil)) }

// decodeAgg parses an encoding made by AppendEncode for shape.
func decodeAgg(shape *aggShape, b []byte) (*Agg, error) {
	a := newAgg(shape)
	rest := b
	tok := func() ([]byte, bool) {
		if len(rest) == 0 {
			return nil, false
		}
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			t := rest
			rest = nil
			return t, true
		}
		t := rest[:i]
		rest = rest[i+1:]
		if len(rest) == 0 {
			return nil, false // trailing space
		}
		return t, true
	}
	bad := func(what string, t []byte) error {
		return fmt.Errorf("decoding aggregate %q (layout %s): %s %q", b, shape.layout, what, t)
	}
	readInt := func(what string) (int64, error) {
		t, ok := tok()
		if !ok {
			return 0, fmt.Errorf("decoding aggregate %q (layout %s): missing %s", b, shape.layout, what)
		}
		n, err := strconv.ParseInt(string(t), 10, 64)
		if err != nil {
			return 0, bad("bad "+what, t)
		}
		return n, nil
	}
	var err error
	if a.Count, err = readInt("count"); err != nil {
		return nil, err
	}
	for i, sl := range shape.slots {
		m := &a.m[i]
		if sl == slotCount {
			continue
		}
		if m.nn, err = readInt("non-null count"); err != nil {
			return nil, err
		}
		switch sl {
		case slotExact:
			t, ok := tok()
			if !ok {
				return nil, fmt.Errorf("decoding aggregate %q (layout %s): missing sum", b, shape.layout)
			}
			if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
				m.sum.lo = n
				break
			}
			h, ok := new(big.Int).SetString(string(t), 10)
			if !ok {
				return nil, bad("bad exact sum", t)
			}
			m.sum.hi = h
		case slotFloat:
			t, ok := tok()
			if !ok {
				return nil, fmt.Errorf("decoding aggregate %q (layout %s): missing sum", b, shape.layout)
			}
			f, err := strconv.ParseFloat(string(t), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, bad("bad float sum", t)
			}
			m.f = f
		}
	}
	if len(rest) != 0 {
		return nil, bad("extra tokens", rest)
	}
	return a, nil
}

// AggLayout returns one character per token of the view's aggregate
// encoding: 'i' an exact integer, 'f' a float. It is fixed by the view's
// first Bind (float-ness depends on column types) and is "" before it.
func (v *View) AggLayout() string {
	if s := v.shape.Load(); s != nil {
		return s.layout
	}
	return ""
}

// DecodeAgg parses a stored aggregate state of v. v must have been bound
// (see AggLayout).
func (v *View) DecodeAgg(b []byte) (*Agg, error) {
	s := v.shape.Load()
	if s == nil {
		return nil, fmt.Errorf("decoding aggregate of view %s: view not bound to a schema yet", v.Name)
	}
	return decodeAgg(s, b)
}

// Delta is a set of group state changes: what a transaction, a segment or a
// batch adds to a view.
type Delta map[GroupKey]*Agg

// Merge adds every state of o into d. States of o that d does not have are
// cloned, so d never aliases o.
func (d Delta) Merge(o Delta) {
	for k, a := range o {
		if cur := d[k]; cur != nil {
			cur.Add(a)
		} else {
			d[k] = a.Clone()
		}
	}
}

// Prune deletes the states whose tokens are all zero (an update that left
// its group unchanged, an insert deleted again).
func (d Delta) Prune() {
	for k, a := range d {
		if a.IsZero() {
			delete(d, k)
		}
	}
}
