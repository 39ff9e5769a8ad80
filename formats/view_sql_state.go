package formats

import (
	"fmt"
	"strconv"
	"strings"
)

// This file compiles a bound view to warehouse SQL that answers its
// aggregate states rather than its result rows: per group the row count
// and, per measure, the count of non-NULL inputs and their sum (exact for
// integers and DECIMAL, float64 for FLOAT/DOUBLE). The states are what the
// local engine accumulates (Delta) and what the serving store keeps, so a
// batch generation computed in the warehouse is written to the lake and
// published exactly as the local engine's: Result of a parsed state equals
// Result of the locally accumulated one (floats within RowsEqual's
// tolerance, their sums being added in another order). It shares the key,
// where and text rendering of WarehouseSQL and refuses the same things
// with ErrNotPushable.

// WarehouseStateSQL returns a SELECT over relation that answers the view's
// aggregate states: one row per group, the group keys in Columns() order,
// then COUNT(*), then per measure by its state: nothing for count(), the
// non-NULL count for count(col), the non-NULL count and the sum for sum
// and avg; every value as text. ParseWarehouseState reads a row.
func (b *BoundView) WarehouseStateSQL(d Dialect, relation string) (string, error) {
	if d != DialectPostgres && d != DialectRedshift {
		return "", fmt.Errorf("warehouse SQL: unknown dialect %v", d)
	}
	if b.view.Mirror || b.shape == nil {
		return "", fmt.Errorf("view %s is a mirror: it has no aggregate states: %w", b.view.Name, ErrNotPushable)
	}
	w := &whCompiler{b: b, d: d}
	var sel, groups []string
	for i := range b.keys {
		k := &b.keys[i]
		e := w.key(k)
		groups = append(groups, e)
		sel = append(sel, w.keyText(k, e))
	}
	sel = append(sel, "CAST(COUNT(*) AS VARCHAR)")
	for i := range b.meas {
		sel = append(sel, w.state(&b.meas[i])...)
	}
	var sb strings.Builder
	sb.WriteString("SELECT " + strings.Join(sel, ", ") + " FROM " + relation)
	if b.view.Where != nil {
		sb.WriteString(" WHERE " + w.expr(b.view.Where))
	}
	if len(groups) > 0 {
		sb.WriteString(" GROUP BY " + strings.Join(groups, ", "))
	}
	sb.WriteString(" HAVING COUNT(*) > 0")
	if w.err != nil {
		return "", w.err
	}
	return sb.String(), nil
}

// state is a measure's state columns.
func (w *whCompiler) state(m *boundMeasure) []string {
	if m.slot == slotCount || m.col < 0 {
		return nil
	}
	id := sqlIdent(m.src.Name)
	nn := "CAST(COUNT(" + id + ") AS VARCHAR)"
	switch m.slot {
	case slotNN:
		return []string{nn}
	case slotFloat:
		return []string{nn, "CAST(SUM(" + id + ") AS VARCHAR)"}
	}
	sum := "SUM(" + id + ")"
	if w.d == DialectRedshift {
		if typeClassOf(m.src.Type) == tcWideDecimal {
			return []string{nn, w.refuse("%s(%s): Redshift holds DECIMAL past 38 digits as text", m.spec.Func, m.src.Name)}
		}
		sum = fmt.Sprintf("SUM(CAST(%s AS DECIMAL(38,%d)))", id, m.scale)
	}
	return []string{nn, "CAST(" + sum + " AS VARCHAR)"}
}

// stateColumns is the number of columns of a WarehouseStateSQL row.
func (b *BoundView) stateColumns() int {
	n := len(b.keys) + 1
	for i := range b.meas {
		m := &b.meas[i]
		switch {
		case m.slot == slotCount || m.col < 0:
		case m.slot == slotNN:
			n++
		default:
			n += 2
		}
	}
	return n
}

// ParseWarehouseState reads one row of WarehouseStateSQL's answer (text,
// NULL as nil) into the group's key and its aggregate state.
func (b *BoundView) ParseWarehouseState(d Dialect, raw []*string) (GroupKey, *Agg, error) {
	if b.view.Mirror || b.shape == nil || len(raw) != b.stateColumns() {
		return "", nil, fmt.Errorf("parsing warehouse state of view %s: %d columns, want %d", b.view.Name, len(raw), b.stateColumns())
	}
	fail := func(what string, err error) (GroupKey, *Agg, error) {
		return "", nil, fmt.Errorf("parsing warehouse state of view %s: %s: %w", b.view.Name, what, err)
	}
	keys := make([]any, len(b.keys))
	for i := range b.keys {
		v, err := b.keys[i].parseWarehouse(raw[i])
		if err != nil {
			return fail("column "+b.cols[i].Name, err)
		}
		keys[i] = v
	}
	k, err := b.EncodeKey(keys)
	if err != nil {
		return fail("key", err)
	}
	text := func(i int) string {
		if raw[i] == nil {
			return ""
		}
		return *raw[i]
	}
	a := newAgg(b.shape)
	i := len(b.keys)
	if a.Count, err = strconv.ParseInt(text(i), 10, 64); err != nil {
		return fail("count(*)", err)
	}
	i++
	for j := range b.meas {
		m := &b.meas[j]
		if m.slot == slotCount || m.col < 0 {
			continue
		}
		st := &a.m[j]
		if st.nn, err = strconv.ParseInt(text(i), 10, 64); err != nil {
			return fail("count of "+m.src.Name, err)
		}
		i++
		if m.slot == slotNN {
			continue
		}
		s := raw[i]
		i++
		if s == nil { // no non-NULL input: SUM is NULL, the state's sum 0
			continue
		}
		if m.slot == slotFloat {
			if st.f, err = strconv.ParseFloat(*s, 64); err != nil {
				return fail("sum of "+m.src.Name, err)
			}
			continue
		}
		dec, err := ParseDecimal(*s, m.scale)
		if err != nil {
			return fail("sum of "+m.src.Name, err)
		}
		n, err := dec.Scaled(m.scale)
		if err != nil {
			return fail("sum of "+m.src.Name, err)
		}
		if n.IsInt64() {
			st.sum.lo = n.Int64()
		} else {
			st.sum.hi = n
		}
	}
	return k, a, nil
}
