package reporting

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// TestDashboardFixtureServer serves the API and dashboard on
// $TIDEMARK_DASHBOARD_ADDR over a throwaway Redis holding the benchmark's
// 1,000-group view, and applies one new order through the speed layer every
// two seconds, until SIGTERM/SIGINT or $TIDEMARK_DASHBOARD_SECONDS (default
// 300). scripts/dashboard-check.sh runs it when no server URL is given;
// without the variable it is skipped.
func TestDashboardFixtureServer(t *testing.T) {
	addr := os.Getenv("TIDEMARK_DASHBOARD_ADDR")
	if addr == "" {
		t.Skip("TIDEMARK_DASHBOARD_ADDR not set: this is the dashboard check's server, not a test")
	}
	secs, _ := strconv.Atoi(os.Getenv("TIDEMARK_DASHBOARD_SECONDS"))
	if secs <= 0 {
		secs = 300
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second)
	defer cancel()

	srv := stack.Redis(t)
	st := redisview.New(srv.Client(t), redisview.Options{})
	views, list := bindViews(t, fixtureSpecs)
	orders, customers := benchOrders()
	loadBench(t, st, views, orders, customers)
	store := &timedStore{redisStore: redisStore{st: st, views: views}}
	store.setTime(pos(200), time.Now())
	var tokens []Token
	if tok := os.Getenv("TIDEMARK_DASHBOARD_TOKEN"); tok != "" {
		tokens = []Token{{Name: "dashboard-check", Secret: tok, Scope: ScopeRead}}
	}
	s, err := New(Config{Listen: addr, Tokens: tokens}, list, store, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SetWarehouse(fixtureWarehouse{})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Logf("serving on http://%s", ln.Addr())

	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"paid", "shipped", "pending", "refunded"}
	from := pos(200)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for i := uint32(1); ; i++ {
		select {
		case <-ctx.Done():
			if err := <-done; err != nil {
				t.Error(err)
			}
			return
		case <-tick.C:
		}
		id := int64(len(orders)) + int64(i)
		o := formats.Row{id, rng.Int64N(25) + 1, statuses[rng.IntN(4)], formats.Decimal(fmt.Sprintf("%d.%02d", rng.IntN(300), rng.IntN(100))),
			float64(rng.IntN(8)) / 4, time.Date(2024, 3, 1+rng.IntN(10), 12, 0, 0, 0, time.UTC)}
		to := pos(200 + i)
		for _, name := range []string{"revenue", "revenue_by_status"} {
			d := formats.Delta{}
			if err := views[name].AccumulateRow(o, 1, d); err != nil {
				t.Fatal(err)
			}
			if err := st.ApplyAgg(ctx, views[name].View(), from, to, 11, []redisview.SegDelta{{Seg: 11, Delta: d}}); err != nil && ctx.Err() == nil {
				t.Fatal(err)
			}
		}
		store.setTime(to, time.Now())
		from = to
	}
}

// timedStore adds the speed checkpoint's commit time, which this fixture
// knows (it writes the transactions) and redisview does not store yet.
type timedStore struct {
	redisStore
	mu    sync.Mutex
	times map[formats.Position]time.Time
}

func (s *timedStore) setTime(p formats.Position, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.times == nil {
		s.times = map[formats.Position]time.Time{}
	}
	s.times[p] = t
}

func (s *timedStore) stamp(f Freshness) Freshness {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.SpeedTime = s.times[f.SpeedPosition]
	return f
}

func (s *timedStore) Meta(ctx context.Context, view string) (Freshness, error) {
	f, err := s.redisStore.Meta(ctx, view)
	return s.stamp(f), err
}

func (s *timedStore) ReadAgg(ctx context.Context, view string) (AggSnapshot, error) {
	a, err := s.redisStore.ReadAgg(ctx, view)
	a.Freshness = s.stamp(a.Freshness)
	return a, err
}
