package reporting

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"github.com/tidemark/tidemark/formats"
)

// MirrorLister is what listing a mirror needs of the store, beside
// ViewStore: a store without it answers mirror listings with 501.
type MirrorLister interface {
	// ListMirror returns every current row of the mirror, in no particular
	// order, all of one state of it (one generation, no half transaction),
	// and that state's freshness; a row holds the mirror's output columns
	// in BoundView.Columns() order. The caller does not modify the rows.
	ListMirror(ctx context.Context, mirror string) (MirrorRows, error)
}

// mirrorListing is a mirror's rows at one state, sorted by primary key;
// immutable once built and shared by concurrent requests.
type mirrorListing struct {
	fresh Freshness
	rows  []formats.Row
}

// listingCache keeps each mirror's latest sorted listing, so that the pages
// of a listing of a quiet mirror cost one Meta read each.
type listingCache struct {
	mu    sync.Mutex
	views map[string]*mirrorListing
}

func (c *listingCache) get(view string, f Freshness) *mirrorListing {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.views[view]; l != nil && sameState(l.fresh, f) {
		return l
	}
	return nil
}

func (c *listingCache) put(view string, l *mirrorListing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.views == nil {
		c.views = map[string]*mirrorListing{}
	}
	if cur := c.views[view]; cur == nil || newer(l.fresh, cur.fresh) {
		c.views[view] = l
	}
}

// mirrorMode decides how a query on a mirror reads it: by primary key when
// equality filters pin every PK column (checkMirrorLookup bounds the
// keys), else as a listing in primary-key order, paged by after= (the PK
// of the last row of the previous page: one value per PK column, in PK
// order, repeated for a composite key).
func (q *query) mirrorMode(params url.Values, cfg *Config) *apiError {
	pinned := true
	for _, k := range q.view.keys {
		if !slices.ContainsFunc(q.filters, func(f filter) bool { return !f.col.Mirror && f.col.Index == k && f.op == opIn }) {
			pinned = false
		}
	}
	after, hasAfter := params["after"]
	if pinned {
		if hasAfter {
			return badParam("after", "the request reads rows by primary key (%s); after= pages listings", q.view.keyNames())
		}
		return q.checkMirrorLookup(cfg)
	}
	q.list = true
	if !hasAfter {
		return nil
	}
	if !q.pkOrder() {
		return badParam("after", "after= pages in primary key order; drop order= or page with offset=")
	}
	if len(after) != len(q.view.keys) {
		return badParam("after", "mirror %q has a %d-column primary key (%s); give after= once per column, in that order (%d given)",
			q.view.name, len(q.view.keys), q.view.keyNames(), len(after))
	}
	q.after = make(formats.Row, len(after))
	for i, s := range after {
		col := q.view.cols[q.view.keys[i]]
		x, err := parseValue(col.Type, s)
		if err != nil {
			return badParam("after", "%s: %v", col.Name, err)
		}
		q.after[i] = x
	}
	return nil
}

// pkOrder reports whether the answer is in primary-key order: no order=,
// or order= by the PK columns ascending.
func (q *query) pkOrder() bool {
	if len(q.order) == 0 {
		return true
	}
	if len(q.order) > len(q.view.keys) {
		return false
	}
	for i, t := range q.order {
		if t.desc || t.col.Mirror || t.col.Index != q.view.keys[i] {
			return false
		}
	}
	return true
}

// comparePK orders two mirror rows by primary key.
func comparePK(v *viewDef, a, b formats.Row) int {
	for _, k := range v.keys {
		if c := compareValues(v.cols[k].Type, a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

// listing returns v's rows sorted by primary key at the state meta names
// (or a newer one), from the cache when it holds that state.
func (s *Server) listing(ctx context.Context, lister MirrorLister, v *viewDef, meta Freshness) (*mirrorListing, error) {
	if l := s.lists.get(v.name, meta); l != nil {
		return l, nil
	}
	ch := s.flight.DoChan("list\x00"+v.name+"\x00"+stateKey(meta), func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
		res, err := lister.ListMirror(rctx, v.name)
		if err != nil {
			return nil, err
		}
		rows := slices.Clone(res.Rows)
		slices.SortFunc(rows, func(a, b formats.Row) int { return comparePK(v, a, b) })
		l := &mirrorListing{fresh: res.Freshness, rows: rows}
		s.lists.put(v.name, l)
		return l, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*mirrorListing), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// serveMirrorList answers a listing of a mirror: its rows in primary-key
// order after q.after, filtered, at most q.limit of them, all of one state
// of the mirror; with a next link (a Link header, and "next" in JSON) when
// more rows follow. With order= other than by primary key the rows are
// sorted so and paged by offset= instead.
func (s *Server) serveMirrorList(w http.ResponseWriter, r *http.Request, q *query) {
	ctx := r.Context()
	v := q.view
	lister, ok := s.store.(MirrorLister)
	if !ok {
		writeError(w, &apiError{Status: http.StatusNotImplemented, Msg: fmt.Sprintf("this store cannot list mirrors; read %s by primary key (%s)", v.name, v.keyNames())})
		return
	}
	meta, err := s.store.Meta(ctx, v.name)
	if err != nil {
		writeError(w, storeError(ctx, "mirror "+v.name, err))
		return
	}
	etag := makeETag(q.format, meta, Freshness{}, false)
	if notModified(r, etag) {
		setCacheHeaders(w.Header(), etag)
		s.metrics.notMod.Inc()
		setFreshnessHeaders(w.Header(), meta, s.now())
		w.WriteHeader(http.StatusNotModified)
		return
	}
	l, err := s.listing(ctx, lister, v, meta)
	if err != nil {
		writeError(w, storeError(ctx, "mirror "+v.name, err))
		return
	}
	ans := &answer{kind: "view", name: v.name, cols: v.cols, fresh: l.fresh, generated: s.now()}
	rows := l.rows
	if q.after != nil {
		i, _ := slices.BinarySearchFunc(rows, q.after, func(row, pk formats.Row) int {
			for j, k := range v.keys {
				if c := compareValues(v.cols[k].Type, row[k], pk[j]); c != 0 {
					return c
				}
			}
			return 0
		})
		for i < len(rows) && keyEquals(v, rows[i], q.after) {
			i++
		}
		rows = rows[i:]
	}
	var next url.Values
	if q.pkOrder() {
		skip := q.offset
		for n, row := range rows {
			yieldAt(n)
			if !matches(q.filters, row, nil) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			if len(ans.rows) == q.limit {
				if q.limit > 0 {
					next = pageAfter(r.URL.Query(), v, ans.rows)
				}
				break
			}
			ans.rows = append(ans.rows, row)
		}
	} else {
		var kept []formats.Row
		for n, row := range rows {
			yieldAt(n)
			if matches(q.filters, row, nil) {
				kept = append(kept, row)
			}
		}
		ans.rows = orderAndPage(q, q.outputRefs(), kept, true)
		if q.offset+len(ans.rows) < len(kept) {
			next = r.URL.Query()
			next.Set("offset", strconv.Itoa(q.offset+len(ans.rows)))
		}
	}
	if next != nil {
		ans.next = r.URL.Path + "?" + next.Encode()
		w.Header().Set("Link", "<"+ans.next+`>; rel="next"`)
	}
	setCacheHeaders(w.Header(), makeETag(q.format, l.fresh, Freshness{}, false))
	s.write(w, r, ans, q.format)
}

// pageAfter is the query of the page after rows (not empty): the same
// parameters with after= set to the last row's primary key and no offset.
func pageAfter(params url.Values, v *viewDef, rows []formats.Row) url.Values {
	last := rows[len(rows)-1]
	params.Del("offset")
	params.Del("after")
	for _, k := range v.keys {
		params.Add("after", formats.FormatText(v.cols[k].Type, last[k]))
	}
	return params
}

func keyEquals(v *viewDef, row, pk formats.Row) bool {
	for j, k := range v.keys {
		if compareValues(v.cols[k].Type, row[k], pk[j]) != 0 {
			return false
		}
	}
	return true
}
