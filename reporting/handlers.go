package reporting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidemark/tidemark/formats"
)

// handleViews lists the views: GET /v1/views.
func (s *Server) handleViews(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		for name := range r.URL.Query() {
			writeError(w, badParam(name, "GET /v1/views takes no parameters"))
			return
		}
	}
	b := []byte(`{"views":[`)
	for i, name := range s.catalog.names {
		v := s.catalog.views[name]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n"+`{"name":`...)
		b = appendJSONString(b, v.name)
		kind := "aggregate"
		if v.mirror {
			kind = "mirror"
		}
		b = append(b, `,"kind":"`+kind+`","from":`...)
		b = appendJSONString(b, v.table.String())
		b = append(b, `,"columns":`...)
		b = appendColumnsJSON(b, v.cols)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// handleView answers GET /v1/views/{name}.
func (s *Server) handleView(w http.ResponseWriter, r *http.Request) {
	v, ok := s.catalog.views[r.PathValue("name")]
	if !ok {
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("unknown view %q; GET /v1/views lists them", r.PathValue("name"))})
		return
	}
	// A recent answer to the same request needs neither parsing (it parsed
	// before: only answers to valid queries are cached) nor the store, nor
	// a deadline (nothing waits).
	if f, ok := quickFormat(r); ok && !v.mirror && f != formatArrow {
		key := answerKey(v.name, f, r.URL.RawQuery)
		if c := s.answers.get(key); c != nil && s.servable(r.Context(), key, c, s.now()) {
			s.metrics.answerRecent.Inc()
			s.serveAnswer(w, r, c)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	params, perr := url.ParseQuery(r.URL.RawQuery)
	if perr != nil {
		writeError(w, badParam("query", "malformed query string: %v", perr))
		return
	}
	f, err := negotiate(r, params["format"])
	if err != nil {
		writeError(w, err)
		return
	}
	key := answerKey(v.name, f, r.URL.RawQuery)
	if !v.mirror && f != formatArrow {
		if c := s.answers.get(key); c != nil && s.servable(ctx, key, c, s.now()) {
			s.metrics.answerRecent.Inc()
			s.serveAnswer(w, r, c)
			return
		}
	}
	q, err := parseQuery(s.catalog, v, params, &s.cfg, f)
	if err != nil {
		writeError(w, err)
		return
	}
	if v.mirror && q.list {
		s.serveMirrorList(w, r, q)
		return
	}
	if v.mirror {
		s.serveMirror(w, r, q)
		return
	}
	if f == formatArrow {
		s.serveArrow(w, r, q)
		return
	}
	c, aerr := s.answerFor(ctx, key, q, f)
	if aerr != nil {
		writeError(w, asAPIError(ctx, "view "+v.name, aerr))
		return
	}
	s.serveAnswer(w, r, c)
}

// serveArrow answers in Arrow IPC, whose freshness travels in the schema
// metadata (lag_ms included), so the encoded stream is not cached: it is
// computed from the current state for every request.
func (s *Server) serveArrow(w http.ResponseWriter, r *http.Request, q *query) {
	ctx := r.Context()
	v := q.view
	meta, merr := s.store.Meta(ctx, v.name)
	if merr != nil {
		writeError(w, storeError(ctx, "view "+v.name, merr))
		return
	}
	var mirrorMeta Freshness
	if q.join != nil {
		if mirrorMeta, merr = s.store.Meta(ctx, q.join.mirror.name); merr != nil {
			writeError(w, storeError(ctx, "mirror "+q.join.mirror.name, merr))
			return
		}
	}
	etag := makeETag(formatArrow, meta, mirrorMeta, q.join != nil)
	if notModified(r, etag) {
		setCacheHeaders(w.Header(), etag)
		s.metrics.notMod.Inc()
		setFreshnessHeaders(w.Header(), meta, s.now())
		w.WriteHeader(http.StatusNotModified)
		return
	}
	snap, serr := s.snapshot(ctx, v, meta)
	if serr != nil {
		writeError(w, storeError(ctx, "view "+v.name, serr))
		return
	}
	ans, aerr := s.runAgg(ctx, q, snap, mirrorMeta)
	if aerr != nil {
		writeError(w, asAPIError(ctx, "view "+v.name, aerr))
		return
	}
	// The snapshot (or the mirror read) may be newer than the meta read:
	// the ETag names what the body holds.
	setCacheHeaders(w.Header(), makeETag(formatArrow, ans.fresh, ans.mirrors[nameOf(q.join)], q.join != nil))
	s.write(w, r, ans, formatArrow)
}

// quickFormat is negotiate's answer for the common request that names no
// format= and sends no Accept (or */*), told without parsing the query
// string; ok is false when it takes parsing. A query string holding
// "format" or an escape (which may spell it) is left to negotiate.
func quickFormat(r *http.Request) (format, bool) {
	if strings.Contains(r.URL.RawQuery, "format") || strings.IndexByte(r.URL.RawQuery, '%') >= 0 {
		return "", false
	}
	switch r.Header.Get("Accept") {
	case "", "*/*", "application/json":
		return formatJSON, true
	}
	return "", false
}

// asAPIError is err as the client sees it: a refusal as it is, a store
// failure mapped by storeError.
func asAPIError(ctx context.Context, what string, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return storeError(ctx, what, err)
}

func nameOf(j *joinSpec) string {
	if j == nil {
		return ""
	}
	return j.mirror.name
}

// serveMirror answers a query on a mirror view: rows by primary key.
func (s *Server) serveMirror(w http.ResponseWriter, r *http.Request, q *query) {
	ctx := r.Context()
	v := q.view
	var pkFilters []filter
	var rest []filter
	for _, f := range q.filters {
		if f.op == opIn && !f.col.Mirror && v.cols[f.col.Index].Key {
			pkFilters = append(pkFilters, f)
		} else {
			rest = append(rest, f)
		}
	}
	// The cross product of the PK values, in PK order.
	pks := []formats.Row{{}}
	for _, k := range v.keys {
		var vals []any
		for _, f := range pkFilters {
			if f.col.Index == k {
				vals = f.values
			}
		}
		var next []formats.Row
		for _, pk := range pks {
			for _, x := range vals {
				next = append(next, append(append(formats.Row{}, pk...), x))
			}
		}
		pks = next
	}
	rows, fresh, err := s.readMirror(ctx, v, pks)
	if err != nil {
		writeError(w, err)
		return
	}
	ans := &answer{kind: "view", name: v.name, cols: v.cols, fresh: fresh, generated: s.now()}
	seen := map[string]bool{}
	for i, row := range rows {
		k := pkKey(v.cols, v.keys, pks[i])
		if row == nil || seen[k] || !matches(rest, row, nil) {
			continue
		}
		seen[k] = true
		ans.rows = append(ans.rows, row)
	}
	ans.rows = orderAndPage(q, q.outputRefs(), ans.rows, false)
	etag := makeETag(q.format, fresh, Freshness{}, false)
	setCacheHeaders(w.Header(), etag)
	if notModified(r, etag) {
		s.metrics.notMod.Inc()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.write(w, r, ans, q.format)
}

func (s *Server) readMirror(ctx context.Context, m *viewDef, pks []formats.Row) ([]formats.Row, Freshness, *apiError) {
	meta, err := s.store.Meta(ctx, m.name)
	if err != nil {
		return nil, Freshness{}, storeError(ctx, "mirror "+m.name, err)
	}
	rows, fresh, err := s.mirrorRows(ctx, m, meta, pks)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, Freshness{}, ae
		}
		return nil, Freshness{}, storeError(ctx, "mirror "+m.name, err)
	}
	return rows, fresh, nil
}

// handleRow answers GET /v1/tables/{db}.{table}/rows/{pk}: one mirrored
// row by primary key. A composite key is its values in key order separated
// by "," (a "," inside a value is written %2C).
func (s *Server) handleRow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tid, err := formats.ParseTableID(r.PathValue("table"))
	if err != nil {
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("%q is not db.table", r.PathValue("table"))})
		return
	}
	m, ok := s.catalog.byTable[tid]
	if !ok {
		names := map[string]bool{}
		for t := range s.catalog.byTable {
			names[t.String()] = true
		}
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("table %s is not mirrored; mirrored tables: %s", tid, strings.Join(sortedKeys(names), ", "))})
		return
	}
	params, perr := url.ParseQuery(r.URL.RawQuery)
	if perr != nil {
		writeError(w, badParam("query", "malformed query string: %v", perr))
		return
	}
	for name := range params {
		if name != "format" {
			writeError(w, badParam(name, "unknown parameter; row lookups take only format"))
			return
		}
	}
	f, aerr := negotiate(r, params["format"])
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	// Split the raw (still escaped) segment so an escaped "," stays inside
	// its value.
	raw := r.URL.EscapedPath()
	raw = raw[strings.LastIndexByte(raw, '/')+1:]
	parts := strings.Split(raw, ",")
	if len(parts) != len(m.keys) {
		writeError(w, badParam("pk", "table %s has a %d-column primary key (%s); %d values given", tid, len(m.keys), m.keyNames(), len(parts)))
		return
	}
	pk := make(formats.Row, len(parts))
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil {
			writeError(w, badParam("pk", "%q: %v", p, err))
			return
		}
		col := m.cols[m.keys[i]]
		if pk[i], err = parseValue(col.Type, s); err != nil {
			writeError(w, badParam("pk", "%s: %v", col.Name, err))
			return
		}
	}
	rows, fresh, rerr := s.readMirror(ctx, m, []formats.Row{pk})
	if rerr != nil {
		writeError(w, rerr)
		return
	}
	if rows[0] == nil {
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("no row of %s with %s = %s", tid, m.keyNames(), raw)})
		return
	}
	etag := makeETag(f, fresh, Freshness{}, false)
	setCacheHeaders(w.Header(), etag)
	if notModified(r, etag) {
		s.metrics.notMod.Inc()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.write(w, r, &answer{kind: "table", name: tid.String(), cols: m.cols, rows: rows, fresh: fresh, generated: s.now()}, f)
}

// write encodes ans into a buffer first, so an encoding failure is still a
// clean 500 and not a truncated 200.
func (s *Server) write(w http.ResponseWriter, r *http.Request, ans *answer, f format) {
	var buf bytes.Buffer
	if err := ans.encode(&buf, f); err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Msg: fmt.Sprintf("encoding %s answer: %v", f, err)})
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType())
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	setFreshnessHeaders(h, ans.fresh, ans.generated)
	if r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}

// makeETag derives a strong validator from the state the answer reflects
// (generation, cut and speed position of the view and of a joined mirror)
// and the wire format. The URL's query is not part of it: a validator is
// only ever compared for the same URL.
func makeETag(f format, fresh, mirror Freshness, joined bool) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s", f, stateKey(fresh))
	if joined {
		fmt.Fprintf(h, "\x00%s", stateKey(mirror))
	}
	return `"` + strconv.FormatUint(fresh.Generation, 10) + "-" + strconv.FormatUint(h.Sum64(), 16) + `"`
}

func setCacheHeaders(h http.Header, etag string) { setHeaders(h, cacheHeaders(etag)) }

// cacheHeaders are the validator and caching headers of an answer.
func cacheHeaders(etag string) []header {
	return []header{
		newHeader("ETag", etag),
		// Clients may keep the answer but must revalidate it every time:
		// it is only as fresh as the speed layer.
		newHeader("Cache-Control", "private, no-cache"),
		newHeader("Vary", "Accept, Authorization"),
	}
}

// notModified implements If-None-Match (RFC 9110 13.1.2) for GET and HEAD.
func notModified(r *http.Request, etag string) bool {
	for _, line := range r.Header.Values("If-None-Match") {
		for _, tag := range strings.Split(line, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
