package reporting

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Answers of aggregate views under load.
//
// A view's state moves with every transaction the speed layer applies, so
// under a steady write load an answer cached per exact state is rarely
// asked for twice. Instead each request (view, format, query string) keeps
// its latest computed answer, exact for the state it names (its ETag and
// freshness say which), and Config.MaxStaleness says how long after that
// state was last seen current it may still be served:
//
//   - within MaxStaleness/2 it is served as is, without touching the store;
//   - within MaxStaleness it is served as is and one background refresh
//     (per request key) reads the state and recomputes if it moved, so a
//     polled answer is recomputed at most about once per MaxStaleness/2
//     however many clients ask;
//   - older, the request waits for a read of the current state (one per
//     key at a time, shared by every request that arrives meanwhile);
//   - with MaxStaleness < 0, every request reads the current state and
//     waits for the answer computed from it; identical concurrent requests
//     share one computation per state.
//
// Either way an answer never mixes states: it is computed from one
// snapshot of the view (and one read of a joined mirror), and its
// freshness, lag_ms and ETag describe exactly that snapshot.

// servable reports whether c may answer a request now (see above); when it
// is past half its staleness budget, a background refresh starts.
func (s *Server) servable(ctx context.Context, key requestKey, c *cachedAnswer, now time.Time) bool {
	if s.cfg.MaxStaleness <= 0 {
		return false
	}
	age := now.Sub(c.checkedAt())
	if age < 0 || age > s.cfg.MaxStaleness {
		return false
	}
	if age > s.cfg.MaxStaleness/2 && c.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer c.refreshing.Store(false)
			// Detached from the request that noticed: it is answered
			// already. The refresh ends within RequestTimeout; a failure
			// is left for the next synchronous request to report.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
			defer cancel()
			_, _ = s.answerFor(rctx, key, c.q, c.f)
		}()
	}
	return true
}

// answerFor returns key's answer at the store's current state: the cached
// one when the state has not moved since it was computed (its check time
// advances), else a new one. Requests share the work: with a staleness
// budget, everyone asking for key while a read of it runs waits for that
// read (which began before they asked, so its answer may be older than
// their arrival by the read's duration); strict (MaxStaleness < 0), each
// request reads the state first and shares only a computation of that
// very state.
func (s *Server) answerFor(ctx context.Context, key requestKey, q *query, f format) (*cachedAnswer, error) {
	flightKey := key.flight()
	var st *answerStates
	if s.cfg.MaxStaleness <= 0 {
		var err error
		if st, err = s.readStates(ctx, q); err != nil {
			return nil, err
		}
		if c := s.cachedAt(key, st); c != nil {
			return c, nil
		}
		flightKey += "\x00" + st.state
	}
	ch := s.flight.DoChan(flightKey, func() (any, error) {
		// Detached from the first caller's cancellation: others share the
		// work. It still ends at the request timeout.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
		return s.computeAnswer(cctx, key, q, f, st)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*cachedAnswer), nil
	case <-ctx.Done():
		return nil, storeError(ctx, "view "+q.view.name, ctx.Err())
	}
}

// cachedAt returns key's cached answer if it was computed at state st (a
// hit, counted, and the answer marked current as of st), else nil.
func (s *Server) cachedAt(key requestKey, st *answerStates) *cachedAnswer {
	c := s.answers.get(key)
	if c == nil || c.state != st.state {
		return nil
	}
	s.metrics.answerHit.Inc()
	c.touch(st.at)
	return c
}

// answerStates is the store state an answer is asked for.
type answerStates struct {
	at           time.Time // when the reads began
	view, mirror Freshness
	state        string // answerState of view and mirror
}

// readStates reads the current state of q's view (and joined mirror).
func (s *Server) readStates(ctx context.Context, q *query) (*answerStates, error) {
	st := &answerStates{at: s.now()}
	var err error
	if st.view, err = s.store.Meta(ctx, q.view.name); err != nil {
		return nil, storeError(ctx, "view "+q.view.name, err)
	}
	if q.join != nil {
		if st.mirror, err = s.store.Meta(ctx, q.join.mirror.name); err != nil {
			return nil, storeError(ctx, "mirror "+q.join.mirror.name, err)
		}
	}
	st.state = answerState(st.view, st.mirror, q.join != nil)
	return st, nil
}

// computeAnswer computes key's answer at state st (nil: read it now, and
// reuse the cached answer if the state has not moved) and caches it.
func (s *Server) computeAnswer(ctx context.Context, key requestKey, q *query, f format, st *answerStates) (*cachedAnswer, error) {
	v := q.view
	if st == nil {
		var err error
		if st, err = s.readStates(ctx, q); err != nil {
			return nil, err
		}
		if c := s.cachedAt(key, st); c != nil {
			return c, nil
		}
	}
	s.metrics.answerMiss.Inc()
	start := time.Now()
	defer func() { s.metrics.compute.Observe(time.Since(start).Seconds()) }()
	snap, err := s.snapshot(ctx, v, st.view)
	if err != nil {
		return nil, storeError(ctx, "view "+v.name, err)
	}
	ans, err := s.runAgg(ctx, q, snap, st.mirror)
	if err != nil {
		return nil, asAPIError(ctx, "view "+v.name, err)
	}
	body, err := ans.body(f)
	if err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Msg: "encoding " + string(f) + " answer: " + err.Error()}
	}
	// The snapshot (or the mirror read) may be newer than the meta read:
	// the entry names what the body holds.
	mf := ans.mirrors[nameOf(q.join)]
	c := &cachedAnswer{
		q: q, f: f, body: body,
		ans:   &answer{fresh: ans.fresh, mirrors: ans.mirrors},
		etag:  makeETag(f, ans.fresh, mf, q.join != nil),
		state: answerState(ans.fresh, mf, q.join != nil),
		tail:  ans.tail(f),
	}
	c.notModHdr = append(cacheHeaders(c.etag), freshnessHeaders(ans.fresh)...)
	c.headers = append([]header{newHeader("Content-Type", f.contentType())}, c.notModHdr...)
	c.touch(st.at)
	s.answers.put(key, c)
	return c, nil
}

// answerState names the state an answer is computed from.
func answerState(view, mirror Freshness, joined bool) string {
	if !joined {
		return stateKey(view)
	}
	return stateKey(view) + "\x00" + stateKey(mirror)
}

// serveAnswer writes c: 304 when the client holds its ETag, else its body
// completed by a freshness tail as of now. Everything but the lag and the
// length was rendered with c, so a request costs a few small allocations.
func (s *Server) serveAnswer(w http.ResponseWriter, r *http.Request, c *cachedAnswer) {
	now := s.now()
	h := w.Header()
	if notModified(r, c.etag) {
		s.metrics.notMod.Inc()
		setHeaders(h, c.notModHdr)
		if lag, _, ok := c.ans.fresh.lag(now); ok {
			h["X-Tidemark-Lag-Ms"] = []string{strconv.FormatInt(lag.Milliseconds(), 10)}
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	if need := c.tail.size + 64; cap(*bp) < need {
		// Room for the lags too: appending to a short buffer would
		// allocate at every doubling.
		*bp = make([]byte, 0, max(need, 512))
	}
	tail := c.tail.append((*bp)[:0], now)
	*bp = tail
	setHeaders(h, c.headers)
	// Content-Length and the lag share one string and one slice.
	var nb [48]byte
	b := strconv.AppendInt(nb[:0], int64(len(c.body)+len(tail)), 10)
	n := len(b)
	lag, _, lagOK := c.ans.fresh.lag(now)
	if lagOK {
		b = strconv.AppendInt(b, lag.Milliseconds(), 10)
	}
	str, vals := string(b), make([]string, 2)
	vals[0], vals[1] = str[:n], str[n:]
	h["Content-Length"] = vals[0:1:1]
	if lagOK {
		h["X-Tidemark-Lag-Ms"] = vals[1:2:2]
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(c.body)
	w.Write(tail)
}
