package enginetest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuietSourceDoesNotStallARebuild: the speed layer and the archive
// run as `tidemark run` wires them, without a heartbeat table; the source
// commits one last transaction and goes quiet. A rebuild from the source
// (the path of `tidemark batch` that must cut at a sealed boundary after
// its extract) publishes within a segment and a few seconds: the archive
// seals the quiet segment at the capture's first tick past its time. Its
// waiting is reported as a progress line every few seconds, not per poll.
func TestQuietSourceDoesNotStallARebuild(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := stack.MariaDB(t)
	src := m.DB(t, "")
	if err := workload.CreateSchema(ctx, src, "shop"); err != nil {
		t.Fatal(err)
	}
	g := workload.New(src, "shop", 5, 0)
	if err := g.Seed(ctx, 20, 100); err != nil {
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
	store, _ := lake.OpenDir(t.TempDir())
	var progress syncBuffer
	opts := batch.Options{
		SourceName: "shop",
		Tables: []batch.Table{
			{ID: formats.TableID{DB: "shop", Table: "customers"}},
			{ID: formats.TableID{DB: "shop", Table: "orders"}},
			{ID: formats.TableID{DB: "shop", Table: "alltypes"}},
		},
		Views: vs, Publisher: serving.Publisher{Store: views}, Codec: "zstd",
		Logger: slog.New(slog.NewTextHandler(&progress, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	gen0, err := batch.Rebuild(ctx, store, serving.BatchSource{C: capt}, opts)
	if err != nil {
		t.Fatal(err)
	}
	p0, _ := gen0.CutPosition()
	const segment = 5 * time.Second
	arch, err := changelog.NewArchiver(store, changelog.Options{Source: "shop", SegmentSeconds: int64(segment / time.Second), Start: p0, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := realtime.NewPipeline(capt, views, realtime.Options{
		Views: vs, SegmentWidth: segment, Archive: arch, Logger: log, Metrics: realtime.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pl.Run(pctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()
	// A quiet source and an empty archive: `tidemark batch` (which always
	// cuts at a sealed boundary) gets one from the capture's ticks.
	opts.FromSource, opts.SealedCut = true, true
	start := time.Now()
	genQ, err := batch.Rebuild(ctx, store, serving.BatchSource{C: capt}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > segment+10*time.Second || genQ.CutSegment == 0 {
		t.Errorf("on a quiet source with an empty archive, generation %d (cut segment %d) took %s; the segment is %s", genQ.Generation, genQ.CutSegment, took, segment)
	}
	opts.FromSource, opts.SealedCut = false, false
	// Some traffic, so that the archive has sealed segments (the rebuild
	// then needs one past its extract), then one last transaction.
	if err := g.Run(ctx, 100, 50); err != nil {
		t.Fatal(err)
	}
	time.Sleep(segment + 2*time.Second)
	m.Exec(t, "INSERT INTO shop.customers VALUES (999999, 'last', 'NZ', NOW(3))")
	r := changelog.NewReader(store, "shop")
	if last, err := r.Last(ctx); err != nil || last == nil {
		t.Fatalf("no segment sealed after %s of traffic and quiet (%v)", segment+2*time.Second, err)
	}

	lastWrite, err := capt.CurrentPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	progress.mu.Lock()
	progress.b.Reset()
	progress.mu.Unlock()
	opts.FromSource = true
	gen1, err := batch.Rebuild(ctx, store, serving.BatchSource{C: capt}, opts)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("generation %d from the source, cut %s, published %s after the last write; its log:\n%s", gen1.Generation, gen1.Cut, took.Round(100*time.Millisecond), progress.String())
	if took > segment+10*time.Second {
		t.Errorf("a rebuild on a quiet source took %s; the segment is %s", took, segment)
	}
	if cut, _ := gen1.CutPosition(); cut.Less(lastWrite) {
		t.Errorf("generation %d cut at %s, before the last write's %s", gen1.Generation, cut, lastWrite)
	}
	if gen1.CutSegment == 0 {
		t.Errorf("generation %d cut at segment 0: not a sealed boundary", gen1.Generation)
	}
	// One progress line per 5 s of waiting, at most.
	if n := strings.Count(progress.String(), "waiting for the changelog archive"); n > int(took/(5*time.Second))+1 {
		t.Errorf("%d waiting lines in %s:\n%s", n, took, progress.String())
	}
}
