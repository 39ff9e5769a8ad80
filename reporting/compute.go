package reporting

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/tidemark/tidemark/formats"
)

// snapshot is an aggregate view's groups at one state, decoded and sorted
// by the key columns. A snapshot is immutable once built and shared by
// concurrent requests.
type snapshot struct {
	fresh  Freshness
	groups []snapGroup
	index  map[formats.GroupKey]int // key → position in groups
}

// snapGroup is one group: its key, merged state and answer row (keys, then
// measures, in Columns order).
type snapGroup struct {
	key formats.GroupKey
	agg *formats.Agg
	row formats.Row
}

// sameState reports whether two freshness stamps name the same store state.
func sameState(a, b Freshness) bool {
	return a.Generation == b.Generation && a.SpeedPosition.Compare(b.SpeedPosition) == 0 &&
		a.SpeedPosition.GTID == b.SpeedPosition.GTID && a.Cut.Compare(b.Cut) == 0
}

func stateKey(f Freshness) string {
	return strconv.FormatUint(f.Generation, 10) + "|" + f.Cut.String() + "|" + f.SpeedPosition.String()
}

// snapshotCache keeps each view's latest decoded snapshot.
type snapshotCache struct {
	mu    sync.Mutex
	views map[string]*snapshot
}

func newSnapshotCache() *snapshotCache { return &snapshotCache{views: map[string]*snapshot{}} }

func (c *snapshotCache) get(view string, f Freshness) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.views[view]; s != nil && sameState(s.fresh, f) {
		return s
	}
	return nil
}

func (c *snapshotCache) put(view string, s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Keep the newest: a slow reader must not replace a newer snapshot.
	if cur := c.views[view]; cur == nil || newer(s.fresh, cur.fresh) {
		c.views[view] = s
	}
}

// latest returns view's newest snapshot, nil if none.
func (c *snapshotCache) latest(view string) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.views[view]
}

func newer(a, b Freshness) bool {
	if a.Generation != b.Generation {
		return a.Generation > b.Generation
	}
	return a.SpeedPosition.Compare(b.SpeedPosition) >= 0
}

// snapshot returns v's groups at the state meta names (or a newer one),
// from the cache when it holds that state, else read from the store once
// however many requests ask at the same time.
func (s *Server) snapshot(ctx context.Context, v *viewDef, meta Freshness) (*snapshot, error) {
	if snap := s.snaps.get(v.name, meta); snap != nil {
		s.metrics.snapshot.WithLabelValues("hit").Inc()
		return snap, nil
	}
	s.metrics.snapshot.WithLabelValues("miss").Inc()
	ch := s.flight.DoChan(v.name+"\x00"+stateKey(meta), func() (any, error) {
		// Detached from the first caller's cancellation: others share the
		// read. The store call still ends at the request timeout.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
		as, err := s.store.ReadAgg(rctx, v.name)
		if err != nil {
			return nil, err
		}
		snap, err := buildSnapshot(v, as, s.snaps.latest(v.name))
		if err != nil {
			return nil, err
		}
		s.snaps.put(v.name, snap)
		return snap, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*snapshot), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// buildSnapshot decodes and orders as. Groups of prev (the view's
// previous snapshot, or nil) with the same key and the very same state
// (the store hands back the same *formats.Agg for a state that did not
// change) keep their decoded row, and when the set of keys is prev's, so is
// the order: under a steady write load most groups of a large view are
// untouched between two snapshots.
func buildSnapshot(v *viewDef, as AggSnapshot, prev *snapshot) (*snapshot, error) {
	if prev != nil && len(prev.index) == len(as.Groups) && len(prev.groups) == len(as.Groups) {
		snap, ok, err := buildLike(v, as, prev)
		if ok || err != nil {
			return snap, err
		}
	}
	snap := &snapshot{fresh: as.Freshness, groups: make([]snapGroup, 0, len(as.Groups))}
	for n, g := range as.Groups {
		yieldAt(n)
		if prev != nil {
			if i, ok := prev.index[g.Key]; ok {
				if p := prev.groups[i]; p.agg == g.Agg {
					snap.groups = append(snap.groups, p)
					continue
				}
			}
		}
		row, ok, err := decodeGroup(v, g)
		if err != nil {
			return nil, err
		}
		if ok {
			snap.groups = append(snap.groups, snapGroup{key: g.Key, agg: g.Agg, row: row})
		}
	}
	order := make([]orderTerm, len(v.keys))
	for i, k := range v.keys {
		order[i] = orderTerm{col: colRef{Index: k, Type: v.cols[k].Type}}
	}
	slices.SortFunc(snap.groups, func(a, b snapGroup) int { return compareRows(order, a.row, nil, b.row, nil) })
	snap.index = make(map[formats.GroupKey]int, len(snap.groups))
	for i, g := range snap.groups {
		snap.index[g.key] = i
	}
	return snap, nil
}

// buildLike builds the snapshot of as in place of prev's groups when as has
// exactly prev's keys (the common case under updates): each group goes
// where prev had it, so nothing is sorted and prev's index is shared (a
// snapshot never modifies it). ok is false, with no error, when a key is
// new or a group has no result; the caller then builds from scratch.
func buildLike(v *viewDef, as AggSnapshot, prev *snapshot) (*snapshot, bool, error) {
	groups := make([]snapGroup, len(prev.groups))
	for n, g := range as.Groups {
		yieldAt(n)
		i, ok := prev.index[g.Key]
		if !ok {
			return nil, false, nil
		}
		if p := prev.groups[i]; p.agg == g.Agg {
			groups[i] = p
			continue
		}
		row, ok, err := decodeGroup(v, g)
		if err != nil || !ok {
			return nil, false, err
		}
		groups[i] = snapGroup{key: g.Key, agg: g.Agg, row: row}
	}
	// Every slot is filled: the keys are distinct (map keys of the store)
	// and as many as prev's.
	return &snapshot{fresh: as.Freshness, groups: groups, index: prev.index}, true, nil
}

// decodeGroup is g's answer row; ok is false for a group without one (an
// emptied group the store has not dropped yet).
func decodeGroup(v *viewDef, g Group) (formats.Row, bool, error) {
	row, ok := v.bound.Result(g.Key, g.Agg)
	if !ok {
		if g.Agg != nil && g.Agg.Count > 0 {
			_, err := v.bound.DecodeKey(g.Key)
			return nil, false, fmt.Errorf("decoding group of view %s: %w", v.name, err)
		}
		return nil, false, nil
	}
	return row, true, nil
}

// yieldEvery is how many groups or rows a computation goes through
// between two runtime.Gosched calls (a few tenths of a millisecond of
// work). Answers are mostly computed by background refreshes while
// requests queue for the same two Ps, and Go preempts a running goroutine
// only after 10 ms: without yielding, a request queued behind a 10 ms
// computation waits for its end whenever the other P is busy too (the
// speed layer, the garbage collector).
const yieldEvery = 128

// yieldAt yields the P at every yieldEvery-th step n of a loop.
func yieldAt(n int) {
	if n%yieldEvery == yieldEvery-1 {
		runtime.Gosched()
	}
}

// compareRows orders two working rows (a view row and its joined mirror
// row, nil when absent) by terms.
func compareRows(terms []orderTerm, a, am, b, bm formats.Row) int {
	for _, t := range terms {
		c := compareValues(t.col.Type, cell(t.col, a, am), cell(t.col, b, bm))
		if t.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func cell(c colRef, row, mrow formats.Row) any {
	if c.Mirror {
		if mrow == nil {
			return nil
		}
		return mrow[c.Index]
	}
	return row[c.Index]
}

// compareValues is formats.CompareValues with NaN-safe floats (never
// stored, but a total order must not depend on that).
func compareValues(t formats.Type, a, b any) int {
	if x, ok := a.(float64); ok && math.IsNaN(x) {
		a = nil
	}
	if y, ok := b.(float64); ok && math.IsNaN(y) {
		b = nil
	}
	return formats.CompareValues(t, a, b)
}

// matches reports whether the working row passes every filter.
func matches(fs []filter, row, mrow formats.Row) bool {
	for i := range fs {
		f := &fs[i]
		v := cell(f.col, row, mrow)
		switch f.op {
		case opNull:
			if (v == nil) != f.null {
				return false
			}
		case opIn:
			if v == nil {
				return false
			}
			ok := false
			for _, x := range f.values {
				if compareValues(f.col.Type, v, x) == 0 {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		case opRange:
			if v == nil {
				return false // SQL: NULL is in no range
			}
			if f.from != nil && compareValues(f.col.Type, v, f.from) < 0 {
				return false
			}
			if f.to != nil && compareValues(f.col.Type, v, f.to) > 0 {
				return false
			}
		}
	}
	return true
}

// run computes an aggregate view's answer for q.
func (s *Server) runAgg(ctx context.Context, q *query, snap *snapshot, mirrorMeta Freshness) (*answer, error) {
	v := q.view
	ans := &answer{kind: "view", name: v.name, fresh: snap.fresh, generated: s.now()}
	var viewFilters, mirrorFilters []filter
	for _, f := range q.filters {
		if f.col.Mirror {
			mirrorFilters = append(mirrorFilters, f)
		} else {
			viewFilters = append(viewFilters, f)
		}
	}
	// 1. Filters on the view's own keys, before anything is looked up.
	idx := make([]int, 0, len(snap.groups))
	for i, g := range snap.groups {
		if matches(viewFilters, g.row, nil) {
			idx = append(idx, i)
		}
	}
	// 2. Join: the current mirror row of each group's key.
	var mrows []formats.Row // parallel to idx
	if q.join != nil {
		pks := make([]formats.Row, len(idx))
		for n, i := range idx {
			yieldAt(n)
			pks[n] = joinKey(q.join, snap.groups[i].row)
		}
		rows, mfresh, err := s.mirrorRows(ctx, q.join.mirror, mirrorMeta, pks)
		if err != nil {
			return nil, err
		}
		ans.mirrors = map[string]Freshness{q.join.mirror.name: mfresh}
		mrows = rows
		if len(mirrorFilters) > 0 {
			kept, keptM := idx[:0], mrows[:0]
			for n, i := range idx {
				if matches(mirrorFilters, snap.groups[i].row, mrows[n]) {
					kept, keptM = append(kept, i), append(keptM, mrows[n])
				}
			}
			idx, mrows = kept, keptM
		}
	}
	mrow := func(n int) formats.Row {
		if mrows == nil {
			return nil
		}
		return mrows[n]
	}
	out := q.outputRefs()
	for _, c := range out {
		ans.cols = append(ans.cols, outColumn{Name: c.Name, Type: c.Type, Key: c.Mirror || v.cols[c.Index].Key})
	}
	if q.groupBy != nil {
		for i := len(q.groupBy); i < len(ans.cols); i++ {
			ans.cols[i].Key = false
		}
		for i := range q.groupBy {
			ans.cols[i].Key = true
		}
	}
	// 3. Re-aggregation: merge the Agg states of the groups that share the
	// group_by values, then compute measures from the merged state.
	var rows []formats.Row
	if q.groupBy != nil {
		type merged struct {
			first int // a member, whose key Result decodes
			agg   *formats.Agg
			vals  formats.Row
		}
		groups := map[string]*merged{}
		var order []*merged
		var kb []byte
		for n, i := range idx {
			yieldAt(n)
			kb = kb[:0]
			vals := make(formats.Row, len(q.groupBy))
			for j, c := range q.groupBy {
				vals[j] = cell(c, snap.groups[i].row, mrow(n))
				kb = appendKeyPart(kb, c.Type, vals[j])
			}
			g := groups[string(kb)]
			if g == nil {
				if len(groups) >= s.cfg.MaxGroups {
					return nil, &apiError{Status: 422, Param: "group_by", Msg: fmt.Sprintf("more than %d groups; filter the view first", s.cfg.MaxGroups)}
				}
				g = &merged{first: i, agg: snap.groups[i].agg.Clone(), vals: vals}
				groups[string(kb)] = g
				order = append(order, g)
				continue
			}
			g.agg.Add(snap.groups[i].agg)
		}
		measures := measureIndexes(v)
		rows = make([]formats.Row, 0, len(order))
		for _, g := range order {
			full, ok := v.bound.Result(snap.groups[g.first].key, g.agg)
			if !ok {
				continue
			}
			row := make(formats.Row, 0, len(out))
			row = append(row, g.vals...)
			for _, m := range measures {
				row = append(row, full[m])
			}
			rows = append(rows, row)
		}
	} else {
		if len(idx) > s.cfg.MaxGroups {
			return nil, &apiError{Status: 422, Msg: fmt.Sprintf("view %s has %d groups after filters, more than the %d one answer may compute; filter it", v.name, len(idx), s.cfg.MaxGroups)}
		}
		rows = make([]formats.Row, len(idx))
		for n, i := range idx {
			if q.join == nil {
				rows[n] = snap.groups[i].row // shared, never modified
				continue
			}
			row := make(formats.Row, 0, len(out))
			row = append(row, snap.groups[i].row...)
			if m := mrow(n); m != nil {
				row = append(row, m...)
			} else {
				row = append(row, make(formats.Row, len(q.join.mirror.cols))...)
			}
			rows[n] = row
		}
	}
	ans.rows = orderAndPage(q, out, rows, true)
	return ans, nil
}

// orderAndPage sorts rows (answer rows laid out as out) by q.order, then
// the answer's key columns (unless keySorted says rows already are in key
// order and no order= was given), then applies offset and limit.
func orderAndPage(q *query, out []colRef, rows []formats.Row, keySorted bool) []formats.Row {
	terms := make([]orderTerm, 0, len(q.order)+len(out))
	pos := map[string]int{}
	for i, c := range out {
		pos[c.Name] = i
	}
	for _, t := range q.order {
		terms = append(terms, orderTerm{col: colRef{Index: pos[t.col.Name], Type: t.col.Type}, desc: t.desc})
	}
	// Ties (and requests without order=) fall back to the key columns, so
	// paging is deterministic.
	for i, c := range out {
		if q.groupBy != nil && i >= len(q.groupBy) {
			break
		}
		if q.groupBy == nil && !c.Mirror && !q.view.cols[c.Index].Key {
			continue
		}
		terms = append(terms, orderTerm{col: colRef{Index: i, Type: c.Type}})
	}
	if len(q.order) > 0 || q.groupBy != nil || !keySorted {
		slices.SortStableFunc(rows, func(a, b formats.Row) int { return compareRows(terms, a, nil, b, nil) })
	}
	if q.offset >= len(rows) {
		return nil
	}
	rows = rows[q.offset:]
	if len(rows) > q.limit {
		rows = rows[:q.limit]
	}
	return rows
}

func measureIndexes(v *viewDef) []int {
	var out []int
	for i, c := range v.cols {
		if !c.Key {
			out = append(out, i)
		}
	}
	return out
}

// appendKeyPart appends an unambiguous encoding of one value to a map key:
// a tag, the length, the text. Values equal under CompareValues encode
// equally because canonical values have one text form.
func appendKeyPart(b []byte, t formats.Type, v any) []byte {
	if v == nil {
		return append(b, 'N')
	}
	s := formats.FormatText(t, v)
	b = append(b, 'V')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// joinKey builds the mirror primary key a view row points at, converted to
// the PK columns' canonical types; nil if no PK can match (a NULL key, or a
// value the PK type cannot hold).
func joinKey(j *joinSpec, row formats.Row) formats.Row {
	pk := make(formats.Row, len(j.keys))
	for i, k := range j.keys {
		x, ok := formats.ConvertValue(j.mirror.cols[j.mirror.keys[i]].Type, row[k])
		if !ok {
			return nil
		}
		pk[i] = x
	}
	return pk
}

func pkKey(cols []outColumn, keys []int, pk formats.Row) string {
	var b []byte
	for i, k := range keys {
		b = appendKeyPart(b, cols[k].Type, pk[i])
	}
	return string(b)
}

// mirrorCache keeps each mirror's rows at its latest state, filled lazily
// by the keys requests ask for. Rows of one answer always come from one
// state.
type mirrorCache struct {
	max     int
	mu      sync.Mutex
	mirrors map[string]*mirrorState
}

type mirrorState struct {
	fresh Freshness
	rows  map[string]formats.Row // pkKey → row; nil row: no such key
}

func newMirrorCache(maxRows int) *mirrorCache {
	return &mirrorCache{max: maxRows, mirrors: map[string]*mirrorState{}}
}

// mirrorRows returns the current mirror rows for pks (nil entries stay nil)
// and the state they come from.
func (s *Server) mirrorRows(ctx context.Context, m *viewDef, meta Freshness, pks []formats.Row) ([]formats.Row, Freshness, error) {
	keys := make([]string, len(pks))
	out := make([]formats.Row, len(pks))
	var missing []formats.Row
	var missingKeys []string
	at := map[string]int{} // key → its index in missing
	c := s.mirrors
	c.mu.Lock()
	st := c.mirrors[m.name]
	if st == nil || !sameState(st.fresh, meta) {
		st = nil
	}
	for i, pk := range pks {
		if pk == nil {
			continue
		}
		keys[i] = pkKey(m.cols, m.keys, pk)
		if st != nil {
			if row, ok := st.rows[keys[i]]; ok {
				out[i] = row
				continue
			}
		}
		if _, ok := at[keys[i]]; !ok {
			at[keys[i]] = len(missing)
			missing = append(missing, pk)
			missingKeys = append(missingKeys, keys[i])
		}
	}
	c.mu.Unlock()
	fresh := meta
	if st != nil {
		fresh = st.fresh
	}
	if len(missing) == 0 {
		return out, fresh, nil
	}
	if len(missing) > s.cfg.MaxJoinKeys {
		return nil, Freshness{}, &apiError{Status: 422, Param: "join", Msg: fmt.Sprintf("the join needs %d dimension rows, more than the %d allowed; filter the view first", len(missing), s.cfg.MaxJoinKeys)}
	}
	res, err := s.store.ReadMirror(ctx, m.name, missing)
	if err != nil {
		return nil, Freshness{}, err
	}
	if len(res.Rows) != len(missing) {
		return nil, Freshness{}, fmt.Errorf("reading mirror %s: %d rows for %d keys", m.name, len(res.Rows), len(missing))
	}
	if st != nil && !sameState(res.Freshness, st.fresh) {
		// The mirror moved between the cached rows and this read: read
		// every key again so the answer holds one state.
		return s.readMirrorAll(ctx, m, pks, keys)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.mirrors[m.name]
	if cur == nil || !sameState(cur.fresh, res.Freshness) {
		if cur != nil && !newer(res.Freshness, cur.fresh) {
			cur = nil // an older state than cached: answer from it, cache nothing
		} else {
			cur = &mirrorState{fresh: res.Freshness, rows: make(map[string]formats.Row, max(0, min(len(missing), c.max)))}
			if c.max > 0 {
				c.mirrors[m.name] = cur
			}
		}
	}
	for i, k := range missingKeys {
		if cur != nil && len(cur.rows) < c.max {
			cur.rows[k] = res.Rows[i]
		}
	}
	for i := range pks {
		if out[i] == nil && keys[i] != "" {
			if j, ok := at[keys[i]]; ok {
				out[i] = res.Rows[j]
			}
		}
	}
	return out, res.Freshness, nil
}

func (s *Server) readMirrorAll(ctx context.Context, m *viewDef, pks []formats.Row, keys []string) ([]formats.Row, Freshness, error) {
	var uniq []formats.Row
	pos := map[string]int{}
	for i, pk := range pks {
		if pk == nil {
			continue
		}
		if _, ok := pos[keys[i]]; !ok {
			pos[keys[i]] = len(uniq)
			uniq = append(uniq, pk)
		}
	}
	res, err := s.store.ReadMirror(ctx, m.name, uniq)
	if err != nil {
		return nil, Freshness{}, err
	}
	if len(res.Rows) != len(uniq) {
		return nil, Freshness{}, fmt.Errorf("reading mirror %s: %d rows for %d keys", m.name, len(res.Rows), len(uniq))
	}
	out := make([]formats.Row, len(pks))
	for i := range pks {
		if pks[i] != nil {
			out[i] = res.Rows[pos[keys[i]]]
		}
	}
	return out, res.Freshness, nil
}
