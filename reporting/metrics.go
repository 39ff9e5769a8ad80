package reporting

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus series, registered on the registry New
// was given (never the global one).
type metrics struct {
	duration *prometheus.HistogramVec // route, code
	snapshot *prometheus.CounterVec   // result: hit, miss
	answer   *prometheus.CounterVec   // result: recent, hit, miss
	notMod   prometheus.Counter
	compute  prometheus.Histogram // one answer computed: store reads, compute, encode

	// The answer counter's three series, looked up once.
	answerRecent, answerHit, answerMiss prometheus.Counter

	// observers caches duration's series by route and code: looking one
	// up in the vector hashes and allocates, on every request.
	obsMu     sync.RWMutex
	observers map[routeCode]prometheus.Observer
	writers   sync.Pool // *statusWriter
}

type routeCode struct {
	route string
	code  int
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tidemark_api_request_duration_seconds",
			Help:    "Reporting API request duration by route pattern and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
		snapshot: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_api_snapshot_cache_total",
			Help: "View snapshot lookups: hit (served from memory at the current generation and speed position) or miss (read from the store).",
		}, []string{"result"}),
		answer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_api_answer_cache_total",
			Help: "Encoded answer lookups by request: recent (served within api.max_staleness without reading the store), hit (the store state had not moved: body reused, freshness tail rendered now) or miss (computed).",
		}, []string{"result"}),
		compute: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tidemark_api_answer_compute_seconds",
			Help:    "Time to compute one cached answer of an aggregate view (snapshot and mirror reads, filter, join, re-aggregation, encoding).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		notMod: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_api_not_modified_total",
			Help: "Requests answered 304 Not Modified from If-None-Match.",
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.snapshot, m.answer, m.notMod, m.compute} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.answerRecent = m.answer.WithLabelValues("recent")
	m.answerHit = m.answer.WithLabelValues("hit")
	m.answerMiss = m.answer.WithLabelValues("miss")
	m.observers = map[routeCode]prometheus.Observer{}
	m.writers.New = func() any { return new(statusWriter) }
	return m, nil
}

// instrument observes every request's duration under its route pattern
// (never the raw path, so label cardinality stays bounded).
func (m *metrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Pooled: nothing keeps the writer after ServeHTTP returns.
		sw := m.writers.Get().(*statusWriter)
		*sw = statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		code := sw.code
		*sw = statusWriter{}
		m.writers.Put(sw)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		m.observer(route, code).Observe(time.Since(start).Seconds())
	})
}

// observer returns duration's series for route and code.
func (m *metrics) observer(route string, code int) prometheus.Observer {
	k := routeCode{route, code}
	m.obsMu.RLock()
	o, ok := m.observers[k]
	m.obsMu.RUnlock()
	if ok {
		return o
	}
	o = m.duration.WithLabelValues(route, strconv.Itoa(code))
	m.obsMu.Lock()
	m.observers[k] = o
	m.obsMu.Unlock()
	return o
}

type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
