package reporting

import (
	"context"
	"net/http"
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
//   - older, or with MaxStaleness < 0, the request reads the current state
//     and waits for an answer computed from it. Identical concurrent
//     requests share one computation (single flight per key and state).
//
// Either way an answer never mixes states: it is computed from one
// snapshot of the view (and one read of a joined mirror), and its
// freshness, lag_ms and ETag describe exactly that snapshot.

// answerKey names a request in the answer cache: the query string is taken
// as sent, so the cache is consulted before the query is parsed.
func answerKey(view string, f format, rawQuery string) string {
	return view + "\x00" + string(f) + "\x00" + rawQuery
}

// servable reports whether c may answer a request now (see above); when it
// is past half its staleness budget, a background refresh starts.
func (s *Server) servable(ctx context.Context, key string, c *cachedAnswer, now time.Time) bool {
	if s.cfg.MaxStaleness <= 0 {
		return false
	}
	age := now.Sub(c.checkedAt())
	if age > s.cfg.MaxStaleness {
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
// advances), else a new one computed once however many requests wait for
// it.
func (s *Server) answerFor(ctx context.Context, key string, q *query, f format) (*cachedAnswer, error) {
	v := q.view
	t0 := s.now()
	meta, err := s.store.Meta(ctx, v.name)
	if err != nil {
		return nil, storeError(ctx, "view "+v.name, err)
	}
	var mirrorMeta Freshness
	if q.join != nil {
		if mirrorMeta, err = s.store.Meta(ctx, q.join.mirror.name); err != nil {
			return nil, storeError(ctx, "mirror "+q.join.mirror.name, err)
		}
	}
	state := answerState(meta, mirrorMeta, q.join != nil)
	if c := s.answers.get(key); c != nil && c.state == state {
		s.metrics.answer.WithLabelValues("hit").Inc()
		c.touch(t0)
		return c, nil
	}
	ch := s.flight.DoChan("answer\x00"+key+"\x00"+state, func() (any, error) {
		// Detached from the first caller's cancellation: others share the
		// computation. It still ends at the request timeout.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout)
		defer cancel()
		s.metrics.answer.WithLabelValues("miss").Inc()
		snap, err := s.snapshot(cctx, v, meta)
		if err != nil {
			return nil, storeError(cctx, "view "+v.name, err)
		}
		ans, err := s.runAgg(cctx, q, snap, mirrorMeta)
		if err != nil {
			return nil, asAPIError(cctx, "view "+v.name, err)
		}
		body, err := ans.body(f)
		if err != nil {
			return nil, &apiError{Status: http.StatusInternalServerError, Msg: "encoding " + string(f) + " answer: " + err.Error()}
		}
		// The snapshot (or the mirror read) may be newer than the meta
		// read: the entry names what the body holds.
		mf := ans.mirrors[nameOf(q.join)]
		c := &cachedAnswer{
			q: q, f: f, body: body,
			ans:   &answer{fresh: ans.fresh, mirrors: ans.mirrors},
			etag:  makeETag(f, ans.fresh, mf, q.join != nil),
			state: answerState(ans.fresh, mf, q.join != nil),
		}
		c.checked.Store(t0.UnixNano())
		s.answers.put(key, c)
		return c, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*cachedAnswer), nil
	case <-ctx.Done():
		return nil, storeError(ctx, "view "+v.name, ctx.Err())
	}
}

// answerState names the state an answer is computed from.
func answerState(view, mirror Freshness, joined bool) string {
	if !joined {
		return stateKey(view)
	}
	return stateKey(view) + "\x00" + stateKey(mirror)
}

// serveAnswer writes c: 304 when the client holds its ETag, else its body
// completed by a freshness tail as of now.
func (s *Server) serveAnswer(w http.ResponseWriter, r *http.Request, c *cachedAnswer) {
	setCacheHeaders(w.Header(), c.etag)
	if notModified(r, c.etag) {
		s.metrics.notMod.Inc()
		setFreshnessHeaders(w.Header(), c.ans.fresh, s.now())
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeBody(w, r, c.ans, c.f, c.body)
}
