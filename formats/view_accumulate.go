package formats

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// mval is one measure's input from one row.
type mval struct {
	null bool
	i    int64    // slotExact: the value scaled by 10^scale, when it fits
	big  *big.Int // slotExact: the scaled value when it does not fit i
	f    float64  // slotFloat
}

// maxInlineMeasures is how many measures Accumulate handles without
// allocating its scratch space.
const maxInlineMeasures = 8

// Accumulate adds one row change to d: it subtracts the Before row's
// contribution when it matched the where clause and adds the After row's.
// An update that moves a row between groups touches two keys; one that
// stays in its group leaves a count-0 delta with the sums' difference.
//
// ev.Table must be the view's table and ev's rows must follow b's schema.
// A value whose Go type is not canonical for its column is an error and d
// is left unchanged.
func (b *BoundView) Accumulate(ev Event, d Delta) error {
	if b.shape == nil {
		return fmt.Errorf("accumulating into view %s: a mirror has no aggregates", b.view.Name)
	}
	if ev.Table != b.view.From {
		return fmt.Errorf("accumulating %s event into view %s of %s", ev.Table, b.view.Name, b.view.From)
	}
	if ev.Schema != nil && ev.Schema != b.schema && !b.sameColumns(ev.Schema) {
		return fmt.Errorf("accumulating %s event at %s into view %s: the event's schema differs from the bound one; bind the view to the event's schema", ev.Table, ev.Pos, b.view.Name)
	}
	var kbOld, kbNew [128]byte
	var vOld, vNew [maxInlineMeasures]mval
	oldVals, newVals := vOld[:0], vNew[:0]
	if n := len(b.meas); n <= maxInlineMeasures {
		oldVals, newVals = vOld[:n], vNew[:n]
	} else {
		oldVals, newVals = make([]mval, n), make([]mval, n)
	}
	var (
		oldOK, newOK   bool
		oldKey, newKey []byte
		err            error
	)
	switch ev.Op {
	case OpInsert:
		if newOK, newKey, err = b.contrib(ev.After, kbNew[:0], newVals); err != nil {
			return fmt.Errorf("accumulating insert at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
	case OpDelete:
		if oldOK, oldKey, err = b.contrib(ev.Before, kbOld[:0], oldVals); err != nil {
			return fmt.Errorf("accumulating delete at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
	case OpUpdate:
		if oldOK, oldKey, err = b.contrib(ev.Before, kbOld[:0], oldVals); err != nil {
			return fmt.Errorf("accumulating update (before image) at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
		if newOK, newKey, err = b.contrib(ev.After, kbNew[:0], newVals); err != nil {
			return fmt.Errorf("accumulating update (after image) at %s into view %s: %w", ev.Pos, b.view.Name, err)
		}
	default:
		return fmt.Errorf("accumulating event at %s into view %s: unknown op %s", ev.Pos, b.view.Name, ev.Op)
	}
	if oldOK {
		b.apply(d, oldKey, oldVals, -1)
	}
	if newOK {
		b.apply(d, newKey, newVals, 1)
	}
	return nil
}

// AccumulateRow adds (sign +1) or subtracts (sign -1) one row's
// contribution to d: the batch layer and bootstrap feed table rows through
// it. A row that fails the where clause adds nothing.
func (b *BoundView) AccumulateRow(r Row, sign int, d Delta) error {
	if b.shape == nil {
		return fmt.Errorf("accumulating into view %s: a mirror has no aggregates", b.view.Name)
	}
	if sign != 1 && sign != -1 {
		return fmt.Errorf("accumulating into view %s: sign %d, want +1 or -1", b.view.Name, sign)
	}
	var kb [128]byte
	var vs [maxInlineMeasures]mval
	vals := vs[:0]
	if n := len(b.meas); n <= maxInlineMeasures {
		vals = vs[:n]
	} else {
		vals = make([]mval, n)
	}
	ok, key, err := b.contrib(r, kb[:0], vals)
	if err != nil {
		return fmt.Errorf("accumulating row into view %s: %w", b.view.Name, err)
	}
	if ok {
		b.apply(d, key, vals, int64(sign))
	}
	return nil
}

func (b *BoundView) sameColumns(s *TableSchema) bool {
	if len(s.Columns) != len(b.schema.Columns) {
		return false
	}
	for _, i := range b.used {
		x, y := s.Columns[i], b.schema.Columns[i]
		if !strings.EqualFold(x.Name, y.Name) || x.Type.Kind != y.Type.Kind || x.Type.Unsigned != y.Type.Unsigned || x.Type.Scale != y.Type.Scale {
			return false
		}
	}
	return true
}

// contrib evaluates one row: whether it passes the where clause, its group
// key (appended to kb) and its measure inputs (written to vals).
func (b *BoundView) contrib(r Row, kb []byte, vals []mval) (bool, []byte, error) {
	if len(r) != len(b.schema.Columns) {
		return false, nil, fmt.Errorf("row has %d values, schema of %s has %d columns", len(r), b.schema.Table, len(b.schema.Columns))
	}
	if b.where != nil {
		switch b.where(r) {
		case triTrue:
		case triErr:
			return false, nil, b.typeError(r)
		default:
			return false, nil, nil
		}
	}
	key := kb
	for i := range b.keys {
		if i > 0 {
			key = append(key, keySep)
		}
		var ok bool
		if key, ok = b.keys[i].appendPart(key, r[b.keys[i].col]); !ok {
			return false, nil, b.typeError(r)
		}
	}
	for i := range b.meas {
		m := &b.meas[i]
		if m.slot == slotCount {
			continue
		}
		if err := m.extract(r[m.col], &vals[i]); err != nil {
			return false, nil, err
		}
	}
	return true, key, nil
}

func (b *BoundView) typeError(r Row) error {
	for _, i := range b.used {
		c := b.schema.Columns[i]
		if v := r[i]; v != nil && !classHolds(classOf(c.Type), v) {
			return fmt.Errorf("column %s (%s) holds %T, want %s", c.Name, c.Type, v, classGoType[classOf(c.Type)])
		}
	}
	return errors.New("row values are not canonical for the schema")
}

// apply adds one row's contribution, multiplied by sign, to d.
func (b *BoundView) apply(d Delta, key []byte, vals []mval, sign int64) {
	a := d[GroupKey(key)]
	if a == nil {
		a = newAgg(b.shape)
		d[GroupKey(key)] = a
	}
	a.Count += sign
	for i := range b.meas {
		slot := b.meas[i].slot
		if slot == slotCount || vals[i].null {
			continue
		}
		m, v := &a.m[i], &vals[i]
		m.nn += sign
		switch slot {
		case slotExact:
			switch {
			case v.big != nil:
				m.sum.addBig(v.big, sign < 0)
			case sign > 0:
				m.sum.addInt64(v.i)
			case v.i == math.MinInt64:
				m.sum.addBig(big.NewInt(v.i), true)
			default:
				m.sum.addInt64(-v.i)
			}
		case slotFloat:
			if sign > 0 {
				m.f += v.f
			} else {
				m.f -= v.f
			}
		}
	}
}

// extract reads a measure's input value.
func (m *boundMeasure) extract(v any, out *mval) error {
	*out = mval{}
	if v == nil {
		out.null = true
		return nil
	}
	if m.slot == slotNN {
		return nil
	}
	switch x := v.(type) {
	case int64:
		if m.cls == clsInt {
			out.i = x
			return nil
		}
	case uint64:
		if m.cls == clsUint {
			if x <= math.MaxInt64 {
				out.i = int64(x)
			} else {
				out.big = new(big.Int).SetUint64(x)
			}
			return nil
		}
	case float64:
		if m.cls == clsFloat {
			out.f = x
			return nil
		}
	case Decimal:
		if m.cls == clsDec {
			return decimalInput(string(x), m.scale, out)
		}
	case string:
		if m.cls == clsDec {
			return decimalInput(x, m.scale, out)
		}
	}
	return fmt.Errorf("column %s (%s) holds %T, want %s", m.src.Name, m.src.Type, v, classGoType[m.cls])
}

// decimalInput scales a DECIMAL's text by 10^scale into out.i, or out.big
// when it has more than 18 digits.
func decimalInput(s string, scale int, out *mval) error {
	if n, ok := scaledInt64(s, scale); ok {
		out.i = n
		return nil
	}
	n, err := Decimal(s).Scaled(scale)
	if err != nil {
		return fmt.Errorf("decimal %q: %w", s, err)
	}
	out.big = n
	return nil
}

// scaledInt64 is the allocation-free path of decimalInput: canonical-looking
// text ("-12.50") with at most scale fraction digits and at most 18 digits
// in all.
func scaledInt64(s string, scale int) (int64, bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	var n int64
	nd, frac, seenPoint := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if nd++; nd > 18 {
				return 0, false
			}
			n = n*10 + int64(c-'0')
			if seenPoint {
				frac++
			}
		case c == '.' && !seenPoint:
			seenPoint = true
		default:
			return 0, false
		}
	}
	if nd == 0 || frac > scale {
		return 0, false
	}
	for ; frac < scale; frac++ {
		if nd++; nd > 18 {
			return 0, false
		}
		n *= 10
	}
	if neg {
		n = -n
	}
	return n, true
}
