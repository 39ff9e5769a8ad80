package reporting

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/singleflight"

	"github.com/tidemark/tidemark/formats"
)

//go:embed web
var webFS embed.FS

// ReadyFunc reports whether the service is ready to answer (bootstrapped and
// streaming); a non-nil error says why not and is shown on /readyz.
type ReadyFunc func(ctx context.Context) error

// Server is the reporting HTTP API and dashboard. It is safe for concurrent
// use; build it with New.
type Server struct {
	cfg     Config
	store   ViewStore
	catalog *catalog
	ready   ReadyFunc
	metrics *metrics
	reg     *prometheus.Registry
	handler http.Handler
	snaps   *snapshotCache
	mirrors *mirrorCache
	lists   listingCache
	answers *answerCache
	flight  singleflight.Group
	now     func() time.Time
	bufs    sync.Pool // *[]byte: freshness tails being written
}

// New validates cfg (after applying its defaults) and the views, and builds
// a Server reading from store. Metrics are registered on reg and served on
// /metrics from it; ready backs /readyz (nil means always ready). views are
// every configured view, aggregates and mirrors, bound to their source
// schemas.
func New(cfg Config, views []*formats.BoundView, store ViewStore, reg *prometheus.Registry, ready ReadyFunc) (*Server, error) {
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating reporting config: %w", err)
	}
	if store == nil {
		return nil, errors.New("reporting: nil store")
	}
	if reg == nil {
		return nil, errors.New("reporting: nil prometheus registry")
	}
	cat, err := newCatalog(views)
	if err != nil {
		return nil, fmt.Errorf("loading views: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("registering reporting metrics: %w", err)
	}
	if ready == nil {
		ready = func(context.Context) error { return nil }
	}
	s := &Server{
		cfg:     cfg,
		store:   store,
		catalog: cat,
		ready:   ready,
		metrics: m,
		reg:     reg,
		snaps:   newSnapshotCache(),
		mirrors: newMirrorCache(cfg.MirrorCacheRows),
		answers: newAnswerCache(cfg.AnswerCacheBytes),
		now:     time.Now,
	}
	s.bufs.New = func() any { return new([]byte) }
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's routes, for tests and for embedding in
// another http.Server. Request timeouts and limits are applied by it;
// connection-level timeouts only by Run and Serve.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Config.Listen and serves until ctx ends, then stops
// accepting, drains in-flight requests for up to Config.ShutdownTimeout and
// returns. It returns nil after a clean drain.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (and Serve closes).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       s.cfg.RequestTimeout + 5*time.Second,
		WriteTimeout:      s.cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s.cfg.MaxQueryBytes + 32<<10,
		// Requests must not outlive the server's own context's values, but
		// a cancelled Run context must not abort requests mid-answer: the
		// drain below lets them finish.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving reporting API on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("draining reporting API requests: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving reporting API on %s: %w", ln.Addr(), err)
	}
	return nil
}

// routes wires every route; the table in openapi.go documents the same set.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	read := func(h http.HandlerFunc) http.Handler { return s.limit(s.auth(ScopeRead, s.deadline(h))) }
	mux.Handle("GET /v1/views", read(s.handleViews))
	// A view's answer is often served from memory without waiting for
	// anything: handleView sets the request deadline itself, only when it
	// has to wait.
	mux.Handle("GET /v1/views/{name}", s.limit(s.auth(ScopeRead, http.HandlerFunc(s.handleView))))
	mux.Handle("GET /v1/tables/{table}/rows/{pk}", read(s.handleRow))
	mux.Handle("GET /openapi.json", read(s.handleOpenAPI))
	mux.Handle("GET /metrics", s.auth(ScopeAdmin, promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	static, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded directory is fixed at compile time
	}
	files := http.FileServerFS(static)
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", files))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Every route is read-only.
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf("method %s: the API is read-only (GET, HEAD)", r.Method)})
			return
		}
		writeError(w, &apiError{Status: http.StatusNotFound, Msg: fmt.Sprintf("no route %s %s; GET /openapi.json lists the routes", r.Method, r.URL.Path)})
	})
	return s.metrics.instrument(mux)
}

// limit bounds a request's query string and body.
func (s *Server) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > s.cfg.MaxQueryBytes {
			writeError(w, &apiError{Status: http.StatusRequestURITooLong,
				Msg: fmt.Sprintf("query string is %d bytes, the limit is %d", len(r.URL.RawQuery), s.cfg.MaxQueryBytes)})
			return
		}
		if r.ContentLength > 0 {
			writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Msg: "GET requests take no body"})
			return
		}
		if r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, 0)
		}
		h.ServeHTTP(w, r)
	})
}

// deadline bounds a request's duration by Config.RequestTimeout.
func (s *Server) deadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// auth admits a request whose bearer token has scope (admin implies read).
// With no tokens configured everything is open.
func (s *Server) auth(scope Scope, h http.Handler) http.Handler {
	if len(s.cfg.Tokens) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tidemark"`)
			writeError(w, &apiError{Status: http.StatusUnauthorized, Param: "Authorization",
				Msg: "missing bearer token: send \"Authorization: Bearer <token>\""})
			return
		}
		var tok *Token
		for i := range s.cfg.Tokens {
			// Compare every token in constant time so timing does not
			// reveal how much of a guess matched.
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Tokens[i].Secret)) == 1 {
				tok = &s.cfg.Tokens[i]
			}
		}
		if tok == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tidemark", error="invalid_token"`)
			writeError(w, &apiError{Status: http.StatusUnauthorized, Param: "Authorization", Msg: "unknown bearer token"})
			return
		}
		if scope == ScopeAdmin && tok.Scope != ScopeAdmin {
			writeError(w, &apiError{Status: http.StatusForbidden, Param: "Authorization",
				Msg: fmt.Sprintf("token %q has scope %q; this route needs %q", tok.Name, tok.Scope, scope)})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.ready(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

// apiError is a request's failure as the client sees it.
type apiError struct {
	Status int
	Param  string // the offending query parameter or header, if any
	Msg    string
}

func (e *apiError) Error() string {
	if e.Param != "" {
		return e.Param + ": " + e.Msg
	}
	return e.Msg
}

func badParam(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Param: param, Msg: fmt.Sprintf(format, args...)}
}

// writeError answers {"error": message, "param": name, "status": code}.
func writeError(w http.ResponseWriter, e *apiError) {
	b := []byte(`{"error":`)
	b = appendJSONString(b, e.Error())
	if e.Param != "" {
		b = append(b, `,"param":`...)
		b = appendJSONString(b, e.Param)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	w.WriteHeader(e.Status)
	w.Write(b)
}

// storeError maps a store failure to what the client sees.
func storeError(ctx context.Context, what string, err error) *apiError {
	switch {
	case errors.Is(err, ErrNotReady):
		return &apiError{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("%s: %v; retry shortly", what, err)}
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return &apiError{Status: http.StatusGatewayTimeout, Msg: fmt.Sprintf("%s: timed out reading the store", what)}
	}
	return &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("%s: reading the store: %v", what, err)}
}
