package formats

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"time"
)

// Result returns the answer row of group k with merged state a: the key
// values, then per measure count() and count(col) as int64, sum as Decimal
// (integer and DECIMAL columns) or float64, avg as Decimal (scale S+4,
// rounded half away from zero, as MySQL's AVG) or float64; sum and avg are
// nil when the group has no non-NULL input. It returns false when the group
// is absent (a.Count <= 0) or k does not decode (DecodeKey reports why).
func (b *BoundView) Result(k GroupKey, a *Agg) (Row, bool) {
	if b.shape == nil || a == nil || a.Count <= 0 {
		return nil, false
	}
	keys, err := b.DecodeKey(k)
	if err != nil {
		return nil, false
	}
	row := make(Row, 0, len(b.cols))
	row = append(row, keys...)
	for i := range b.meas {
		m := &b.meas[i]
		var st aggMeasure
		if i < len(a.m) {
			st = a.m[i]
		}
		switch {
		case m.spec.Func == MeasureCount && m.col < 0:
			row = append(row, a.Count)
		case m.spec.Func == MeasureCount:
			row = append(row, st.nn)
		case st.nn <= 0:
			row = append(row, nil)
		case m.slot == slotFloat && m.spec.Func == MeasureSum:
			row = append(row, st.f)
		case m.slot == slotFloat:
			row = append(row, st.f/float64(st.nn))
		case m.spec.Func == MeasureSum:
			row = append(row, DecimalFromScaled(st.sum.value(), m.scale))
		default:
			row = append(row, avgDecimal(st.sum.value(), st.nn, m.scale, m.avgScale))
		}
	}
	return row, true
}

// avgDecimal is sum/nn at scale outScale, sum being scaled by 10^scale,
// rounded half away from zero.
func avgDecimal(sum *big.Int, nn int64, scale, outScale int) Decimal {
	num := new(big.Int).Mul(sum, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(outScale-scale)), nil))
	den := big.NewInt(nn)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	r.Abs(r).Lsh(r, 1)
	if r.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return DecimalFromScaled(q, outScale)
}

// MirrorKey returns the GroupKey of a mirror row: its primary key values.
func (b *BoundView) MirrorKey(r Row) (GroupKey, error) {
	if !b.view.Mirror {
		return "", fmt.Errorf("view %s is not a mirror", b.view.Name)
	}
	if len(r) != len(b.schema.Columns) {
		return "", fmt.Errorf("mirror %s: row has %d values, schema of %s has %d columns", b.view.Name, len(r), b.schema.Table, len(b.schema.Columns))
	}
	var k []byte
	for i, p := range b.pk {
		if i > 0 {
			k = append(k, keySep)
		}
		c := b.schema.Columns[p]
		if v := r[p]; v != nil && !classHolds(classOf(c.Type), v) {
			return "", fmt.Errorf("mirror %s: column %s (%s) holds %T, want %s", b.view.Name, c.Name, c.Type, v, classGoType[classOf(c.Type)])
		}
		k = appendKeyValue(k, c.Type, r[p])
	}
	return GroupKey(k), nil
}

// Project returns a mirror row's output columns (Columns order) from a
// table row. The values are shared with r, not copied.
func (b *BoundView) Project(r Row) Row {
	return b.ProjectTo(make(Row, 0, len(b.mirror)), r)
}

// ProjectTo is Project appending to dst[:0], so that a caller projecting
// row after row reuses one slice.
func (b *BoundView) ProjectTo(dst, r Row) Row {
	dst = dst[:0]
	for _, c := range b.mirror {
		var v any
		if c < len(r) {
			v = r[c]
		}
		dst = append(dst, v)
	}
	return dst
}

// RowsEqual reports whether two answer rows of b (Result, ParseVerifyRow)
// are equal: exactly, except float measures, which may differ by 1e-9
// relative (summation order changes the last bits).
func (b *BoundView) RowsEqual(x, y Row) bool {
	if len(x) != len(b.cols) || len(y) != len(b.cols) {
		return false
	}
	for i, c := range b.cols {
		p, q := x[i], y[i]
		if p == nil || q == nil {
			if p != nil || q != nil {
				return false
			}
			continue
		}
		if !c.Key && c.Type.Kind == KindDouble {
			f, ok1 := p.(float64)
			g, ok2 := q.(float64)
			if !ok1 || !ok2 || !floatClose(f, g) {
				return false
			}
			continue
		}
		if pb, ok := p.([]byte); ok {
			qb, ok := q.([]byte)
			if !ok || !bytes.Equal(pb, qb) {
				return false
			}
			continue
		}
		if p != q {
			if pt, ok := p.(time.Time); ok {
				if qt, ok := q.(time.Time); ok && pt.Equal(qt) {
					continue
				}
			}
			return false
		}
	}
	return true
}

func floatClose(a, b float64) bool {
	if a == b {
		return true
	}
	scale := math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
	return math.Abs(a-b) <= 1e-9*scale
}
