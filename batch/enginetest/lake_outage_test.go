package enginetest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/internal/workload"
	"github.com/tidemark/tidemark/realtime"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// s3Proxy stands between the lake and MinIO: it passes requests through,
// or, while throttling, answers each with S3's 503 SlowDown (its XML error
// body), as S3 does under request-rate pressure, or, while slow, answers
// each only after slowBy. While MinIO is stopped it drops the client's
// connection, as a dead endpoint does.
type s3Proxy struct {
	srv      *httptest.Server
	throttle atomic.Bool
	slow     atomic.Bool  // each request waits slowBy first
	hits     atomic.Int64 // requests answered 503
}

const slowBy = 1500 * time.Millisecond

func newS3Proxy(t *testing.T, target string) *s3Proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.slow.Load() {
			time.Sleep(slowBy)
		}
		if p.throttle.Load() {
			p.hits.Add(1)
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
				`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Resource>%s</Resource><RequestId>tm-%d</RequestId></Error>`,
				r.URL.Path, p.hits.Load())
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// metricValue is the value of the series name (summed over its labels).
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += value(m)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestSpeedLayerOutlivesTheLake: with the changelog archive on MinIO, the
// lake is taken away three times under a steady workload, each time for
// longer than the archive's shared buffer lasts: MinIO stopped, MinIO
// answering 503 SlowDown, and MinIO slow (the archive does not fail but
// falls behind the buffer, detaches, and catches up on its own connection
// within the same archive session). Throughout, the views keep moving and are exact
// (verified against the source while the lake is still down). When the
// lake is back, the archive catches up on its own: it holds every
// committed transaction exactly once, in order, without a gap (read back
// with the changelog reader and compared with the binlog read by an
// independent capture), and the next rebuild's lake equals the source.
func TestSpeedLayerOutlivesTheLake(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := stack.MariaDB(t)
	src := m.DB(t, "")
	if err := workload.CreateSchema(ctx, src, "shop"); err != nil {
		t.Fatal(err)
	}
	g := workload.New(src, "shop", 11, 0)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	capt, err := capture.New(capture.Config{Flavor: capture.FlavorMariaDB, Host: m.Host, Port: m.Port,
		User: m.User, Password: m.Password, ServerID: 4242, Databases: []string{"shop"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Close()
	rs := stack.Redis(t)
	views := redisview.New(rs.Client(t), redisview.Options{})
	var specs []formats.ViewSpec
	if err := yaml.Unmarshal([]byte(workload.Views("shop")), &specs); err != nil {
		t.Fatal(err)
	}
	var vs []*formats.View
	for _, s := range specs {
		v, err := formats.ParseView(s)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}

	mio := stack.MinIO(t)
	px := newS3Proxy(t, mio.Endpoint)
	store, err := lake.Open(ctx, "s3://"+mio.Bucket+"/tm", lake.S3Options{
		Endpoint: px.srv.URL, Region: mio.Region, PathStyle: true, AccessKeyID: mio.AccessKey, SecretAccessKey: mio.SecretKey,
		MaxAttempts: 3, MaxBackoff: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := batch.Options{
		SourceName: "shop",
		Tables: []batch.Table{
			{ID: formats.TableID{DB: "shop", Table: "customers"}, Partition: []string{"country"}},
			{ID: formats.TableID{DB: "shop", Table: "orders"}, Partition: []string{"month(created_at) AS m"}},
			{ID: formats.TableID{DB: "shop", Table: "alltypes"}},
		},
		Views: vs, Publisher: serving.Publisher{Store: views}, Codec: "zstd",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	gen0, err := batch.Rebuild(ctx, store, serving.BatchSource{C: capt}, opts)
	if err != nil {
		t.Fatal(err)
	}
	p0, _ := gen0.CutPosition()

	reg := prometheus.NewRegistry()
	met := realtime.NewMetrics(reg)
	arch, err := changelog.NewArchiver(store, changelog.Options{Source: "shop", SegmentSeconds: 1, Start: p0, Logger: log, Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	const buffer = 300 // row changes: a few seconds of the workload
	pl, err := realtime.NewPipeline(capt, views, realtime.Options{
		Views: vs, SegmentWidth: time.Second, Archive: arch, ArchiveBufferEvents: buffer,
		ArchiveRetryMin: 200 * time.Millisecond, ArchiveRetryMax: 2 * time.Second,
		Logger: log, Metrics: met,
	})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stopPipeline := context.WithCancel(ctx)
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- pl.Run(pctx) }()
	defer func() {
		stopPipeline()
		if err := <-pipeDone; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()

	// The workload runs in stretches, so that the views can be verified
	// while the lake is down.
	var wlDone chan error
	var stopWL context.CancelFunc
	startWL := func() {
		var wctx context.Context
		wctx, stopWL = context.WithCancel(ctx)
		wlDone = make(chan error, 1)
		go func() { wlDone <- g.Run(wctx, 0, 60) }()
	}
	pauseWL := func() {
		stopWL()
		if err := <-wlDone; err != nil {
			t.Fatalf("workload: %v", err)
		}
	}
	bound := map[string]*formats.BoundView{}
	verify := func(when string) {
		t.Helper()
		ids := []formats.TableID{}
		for _, v := range vs {
			ids = append(ids, v.From)
		}
		schemas, err := capt.Schemas(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if bound[v.Name] == nil {
				if bound[v.Name], err = v.Bind(schemas[v.From]); err != nil {
					t.Fatal(err)
				}
			}
			diffs, err := realtime.Verify(ctx, src, views, bound[v.Name], realtime.VerifyOptions{CatchUp: 30 * time.Second})
			if err != nil {
				t.Fatalf("%s: verifying %s: %v", when, v.Name, err)
			}
			for _, d := range diffs {
				t.Errorf("%s: view %s differs from the source: %s", when, v.Name, d)
			}
		}
	}
	waitAttached := func() {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for metricValue(t, reg, "tidemark_archive_attached") != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the archive never shared the speed layer's stream")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// watchViews reads the first view's checkpoint every 250ms for d and
	// returns how often it moved, and the longest it stood still.
	watchViews := func(d time.Duration) (moves int, still time.Duration) {
		var last formats.Position
		lastMove := time.Now()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			a, err := views.ReadAgg(ctx, vs[0])
			if err != nil {
				t.Fatalf("reading view %s: %v", vs[0].Name, err)
			}
			if last.Less(a.Checkpoint) {
				moves++
				last, lastMove = a.Checkpoint, time.Now()
			}
			still = max(still, time.Since(lastMove))
		}
		return moves, still
	}

	startWL()
	for _, phase := range []struct {
		name     string
		down, up func()
	}{
		{"MinIO stopped", func() { mio.Stop(t) }, func() { mio.Start(t) }},
		{"MinIO answering 503 SlowDown", func() { px.throttle.Store(true) }, func() { px.throttle.Store(false) }},
		{"MinIO slow", func() { px.slow.Store(true) }, func() { px.slow.Store(false) }},
	} {
		waitAttached()
		detaches := metricValue(t, reg, "tidemark_archive_detaches_total")
		lakeErrs := metricValue(t, reg, "tidemark_lake_errors_total")
		restarts := metricValue(t, reg, "tidemark_archive_restarts_total")
		phase.down()
		t.Logf("%s", phase.name)
		moves, still := watchViews(6 * time.Second)
		if moves < 6 || still > 5*time.Second {
			t.Errorf("%s: the views' checkpoint moved %d times in 6s, stood still up to %s", phase.name, moves, still)
		}
		pauseWL()
		verify(phase.name)
		startWL()
		moves, still = watchViews(4 * time.Second)
		if moves < 4 || still > 5*time.Second {
			t.Errorf("%s, after the check: the views' checkpoint moved %d times in 4s, stood still up to %s", phase.name, moves, still)
		}
		if n := metricValue(t, reg, "tidemark_archive_detaches_total"); n <= detaches {
			t.Errorf("%s: the archive never detached (the buffer of %d row changes outlasted the outage?)", phase.name, buffer)
		}
		slow := phase.name == "MinIO slow"
		if n := metricValue(t, reg, "tidemark_lake_errors_total"); n <= lakeErrs && !slow {
			t.Errorf("%s: no lake error counted", phase.name)
		}
		if n := metricValue(t, reg, "tidemark_archive_restarts_total"); slow && n != restarts {
			t.Errorf("%s: the archive session failed (%v restarts); a slow lake should only make it fall behind", phase.name, n-restarts)
		}
		phase.up()
		t.Logf("%s: lake back", phase.name)
	}
	if px.hits.Load() == 0 {
		t.Error("the proxy never answered 503")
	}
	pauseWL()
	end, err := capt.CurrentPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verify("after the outages")

	// The archive catches up and, the source now idle, seals past the end
	// (ticks: no heartbeat table here).
	r := changelog.NewReader(store, "shop")
	var last *changelog.Manifest
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if last, err = r.Last(ctx); err != nil {
			t.Fatal(err)
		}
		if last != nil {
			if lp, _ := last.LastPosition(); !lp.Less(end) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive did not seal past %s within 90s (last sealed %+v)", end, last)
		}
	}
	waitAttached() // and it shares the stream again

	// The archive equals the binlog, transaction for transaction.
	var archived []*formats.Txn
	for txn, err := range r.ReadSegments(ctx, 0, last.Segment) {
		if err != nil {
			t.Fatal(err)
		}
		if len(txn.Events) > 0 {
			archived = append(archived, txn)
		}
	}
	want := readBinlog(t, capt.Replica(4300), p0, last)
	if len(archived) != len(want) {
		t.Fatalf("the archive holds %d transactions with changes after %s, the binlog %d", len(archived), p0, len(want))
	}
	for i := range want {
		if a, b := txnText(archived[i]), txnText(want[i]); a != b {
			t.Fatalf("archived transaction %d:\n%s\nthe binlog has:\n%s", i, a, b)
		}
	}
	t.Logf("the archive holds the binlog's %d transactions after %s exactly once, in order, in segments up to %d", len(want), p0, last.Segment)

	// The next rebuild, rolled forward with the archive, equals the source.
	gen1, err := batch.Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	objs, err := store.List(ctx, "tables/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		rc, err := store.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, o.Key)), 0o755)
		f, err := os.Create(filepath.Join(dir, o.Key))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, rc); err != nil {
			t.Fatal(err)
		}
		f.Close()
		rc.Close()
	}
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	compareWithSource(t, duck, dir, gen1, src)
	verify("after generation 1")
}

// readBinlog returns the transactions with row changes after from up to
// the last position of the sealed segment m, read by c, a capture of its
// own.
func readBinlog(t *testing.T, c *capture.Capture, from formats.Position, m *changelog.Manifest) []*formats.Txn {
	t.Helper()
	end, err := m.LastPosition()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan *formats.Txn, 64)
	done := make(chan error, 1)
	go func() { done <- c.Stream(ctx, from, ch) }()
	var out []*formats.Txn
	for {
		select {
		case txn := <-ch:
			if end.Less(txn.Pos) {
				return out
			}
			if len(txn.Events) > 0 {
				out = append(out, txn)
			}
			if !txn.Pos.Less(end) {
				return out
			}
		case err := <-done:
			t.Fatalf("reading the binlog: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("reading the binlog: nothing for 30s (%d transactions, end %s)", len(out), end)
		}
	}
}

// txnText renders a transaction's position and changes for comparison.
func txnText(t *formats.Txn) string {
	s := t.Pos.String()
	for _, e := range t.Events {
		s += fmt.Sprintf("\n  %s %s %s before=%v after=%v", e.Pos, e.Table, e.Op, e.Before, e.After)
	}
	return s
}
