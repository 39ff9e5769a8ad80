package reporting

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// benchOrders makes 2,000 orders in exactly 1,000 groups of revenue:
// 10 days × 4 statuses × 25 customers, two orders each.
func benchOrders() ([]formats.Row, []formats.Row) {
	var orders []formats.Row
	statuses := []string{"paid", "shipped", "pending", "refunded"}
	id := int64(0)
	for d := 0; d < 10; d++ {
		for _, st := range statuses {
			for c := int64(1); c <= 25; c++ {
				for k := 0; k < 2; k++ {
					id++
					amt := formats.Decimal(fmt.Sprintf("%d.%02d", id%500, id%100))
					ts := time.Date(2024, 3, 1+d, 8+k, int(id%60), 0, 0, time.UTC)
					orders = append(orders, formats.Row{id, c, st, amt, float64(id%7) / 4, ts})
				}
			}
		}
	}
	var customers []formats.Row
	for c := int64(1); c <= 25; c++ {
		customers = append(customers, formats.Row{c, fmt.Sprintf("customer %d", c), []string{"GB", "US", "FI", "FR", "DE"}[c%5]})
	}
	return orders, customers
}

var benchQueries = []struct{ name, query string }{
	{"groups=1000", "/v1/views/revenue"},
	{"groups=1000/filtered", "/v1/views/revenue?status=paid&day.from=2024-03-03&day.to=2024-03-05"},
	{"groups=1000/group_by", "/v1/views/revenue?group_by=day,status"},
	{"groups=1000/joined", "/v1/views/revenue?join=customers:customer_id"},
	{"groups=1000/joined/group_by", "/v1/views/revenue?join=customers:customer_id&group_by=customers.country&order=-revenue"},
}

// BenchmarkViewQuery serves a 1,000-group view over loopback HTTP, plain,
// filtered, re-aggregated and joined, from the in-memory double (the API's
// own cost) and from real Redis (one Meta round trip per request, groups
// and mirror rows cached per state). It reports latency percentiles and
// throughput with the benchmark's parallelism (GOMAXPROCS clients).
func BenchmarkViewQuery(b *testing.B) {
	orders, customers := benchOrders()
	views, list := bindViews(b, fixtureSpecs)
	fresh := Freshness{Generation: 1, Cut: pos(100), CutTime: time.Now(), SpeedPosition: pos(200), SpeedTime: time.Now()}
	mem := newMemStore()
	mem.setAgg(b, views["revenue"], fresh, orders)
	mem.setAgg(b, views["revenue_by_status"], fresh, orders)
	mem.setMirror(b, views["customers"], fresh, customers)
	stores := []struct {
		name  string
		store func(b *testing.B) ViewStore
	}{
		{"memory", func(*testing.B) ViewStore { return mem }},
		{"redis", func(b *testing.B) ViewStore {
			srv := stack.Redis(b)
			st := redisview.New(srv.Client(b), redisview.Options{})
			loadBench(b, st, views, orders, customers)
			return &redisStore{st: st, views: views}
		}},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			st := s.store(b)
			srv, err := New(Config{}, list, st, prometheus.NewRegistry(), nil)
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			for _, q := range benchQueries {
				b.Run(q.name, func(b *testing.B) { benchGet(b, ts, q.query) })
			}
		})
	}
}

func loadBench(b testing.TB, st *redisview.Store, views map[string]*formats.BoundView, orders, customers []formats.Row) {
	b.Helper()
	// Everything in generation 1 but the last 100 orders, which come
	// through the speed layer.
	loadRedis(b, st, views, 1, pos(100), orders[:len(orders)-100], orders[len(orders)-100:], pos(200))
	cb := views["customers"]
	rows := func(yield func(redisview.MirrorBatchRow, error) bool) {
		for _, r := range customers {
			k, err := cb.MirrorKey(r)
			if !yield(redisview.MirrorBatchRow{PK: string(k), Values: redisview.AppendMirrorRow(nil, cb, r)}, err) {
				return
			}
		}
	}
	ctx := b.Context()
	if err := st.LoadMirrorBatch(ctx, "customers", 2, rows); err != nil {
		b.Fatal(err)
	}
	if err := st.PublishMirror(ctx, "customers", redisview.MirrorFingerprint(cb), 2, pos(200), time.Now()); err != nil {
		b.Fatal(err)
	}
}

func benchGet(b *testing.B, ts *httptest.Server, path string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	get := func() (int, error) {
		res, err := client.Get(ts.URL + path)
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return 0, fmt.Errorf("status %d", res.StatusCode)
		}
		return int(n), err
	}
	n, err := get() // warm the caches
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(n))
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if _, err := get(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
}

func BenchmarkHandlerDirect(b *testing.B) {
	orders, customers := benchOrders()
	views, list := bindViews(b, fixtureSpecs)
	fresh := Freshness{Generation: 1, Cut: pos(100), CutTime: time.Now(), SpeedPosition: pos(200), SpeedTime: time.Now()}
	mem := newMemStore()
	mem.setAgg(b, views["revenue"], fresh, orders)
	mem.setAgg(b, views["revenue_by_status"], fresh, orders)
	mem.setMirror(b, views["customers"], fresh, customers)
	srv, err := New(Config{}, list, mem, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			h := srv.Handler()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", q.query, nil))
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkAnswerCompute is the cost of one answer computed from a state
// never seen before (what a refresh pays after every speed-layer
// transaction): the store reads, decoding, filter, join, re-aggregation and
// encoding, on real Redis, with nothing cached.
func BenchmarkAnswerCompute(b *testing.B) {
	orders, customers := benchOrders()
	views, list := bindViews(b, fixtureSpecs)
	srv := stack.Redis(b)
	st := redisview.New(srv.Client(b), redisview.Options{})
	loadBench(b, st, views, orders, customers)
	s, err := New(Config{}, list, &redisStore{st: st, views: views}, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			u, err := url.Parse(q.query)
			if err != nil {
				b.Fatal(err)
			}
			v := s.catalog.views[strings.TrimPrefix(u.Path, "/v1/views/")]
			pq, aerr := parseQuery(s.catalog, v, u.Query(), &s.cfg, formatJSON)
			if aerr != nil {
				b.Fatal(aerr)
			}
			for b.Loop() {
				s.snaps = newSnapshotCache()
				s.mirrors = newMirrorCache(s.cfg.MirrorCacheRows)
				s.answers = newAnswerCache(s.cfg.AnswerCacheBytes)
				if _, err := s.computeAnswer(b.Context(), answerKey("revenue", formatJSON, "k"), pq, formatJSON, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCachedAnswer is the server's own cost of a request answered
// from the answer cache (within api.max_staleness): routing, middleware,
// cache lookup, headers and the freshness tail, with the HTTP exchange
// itself left out (a reusable ResponseWriter, one parsed request). Its
// allocs/op is what every request of a polled dashboard adds to the
// garbage collector's work.
func BenchmarkCachedAnswer(b *testing.B) {
	orders, customers := benchOrders()
	views, list := bindViews(b, fixtureSpecs)
	fresh := Freshness{Generation: 1, Cut: pos(100), CutTime: time.Now(), SpeedPosition: pos(200), SpeedTime: time.Now()}
	mem := newMemStore()
	mem.setAgg(b, views["revenue"], fresh, orders)
	mem.setMirror(b, views["customers"], fresh, customers)
	srv, err := New(Config{}, list, mem, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	// A frozen clock keeps the cached answer within its staleness budget.
	t0 := time.Now()
	srv.now = func() time.Time { return t0 }
	h := srv.Handler()
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", q.query, nil)
			w := &reusedWriter{h: http.Header{}}
			h.ServeHTTP(w, r) // computes and caches the answer
			if w.code != 200 {
				b.Fatal(w.code)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code, w.n = 0, 0
				h.ServeHTTP(w, r)
				if w.code != 200 || w.n == 0 {
					b.Fatal(w.code, w.n)
				}
			}
		})
	}
	// Concurrent requests, as a server sees them: pooled buffers and
	// writers must not fall back to allocating.
	b.Run("parallel/"+benchQueries[0].name, func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest("GET", benchQueries[0].query, nil)
			w := &reusedWriter{h: http.Header{}}
			for pb.Next() {
				clear(w.h)
				w.code, w.n = 0, 0
				h.ServeHTTP(w, r)
				if w.code != 200 || w.n == 0 {
					b.Error(w.code, w.n)
					return
				}
			}
		})
	})
}

// reusedWriter is a ResponseWriter whose header map is cleared, not
// reallocated, between requests.
type reusedWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *reusedWriter) Header() http.Header { return w.h }

func (w *reusedWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *reusedWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	w.n += len(b)
	return len(b), nil
}
