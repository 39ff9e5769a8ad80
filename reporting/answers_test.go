package reporting

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// fakeClock is a Server.now that tests move by hand; safe for the
// background refresh goroutines to read.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func speedPos(t testing.TB, r response) string {
	t.Helper()
	return fmt.Sprint(r.json(t)["freshness"].(map[string]any)["speed_position"])
}

// Within api.max_staleness an answer may lag the store, but it is always
// exact for the state its freshness and ETag name; past half the budget a
// background refresh brings it to the current state; past the budget the
// request waits for the current state.
func TestBoundedStaleness(t *testing.T) {
	f := newFixture(t, Config{MaxStaleness: time.Second})
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano())
	f.srv.now = clk.now
	const q = "/v1/views/revenue?group_by=status"
	paidAt := func(r response) string {
		t.Helper()
		for _, row := range r.rows(t) {
			if row["status"] == `"paid"` {
				return row["orders"] + " " + row["revenue"]
			}
		}
		return ""
	}
	// State 200: the fixture. paid: 5 orders, 67.02.
	a := f.get(t, q)
	if speedPos(t, a) != pos(200).String() || paidAt(a) != `5 "67.02"` {
		t.Fatalf("first answer %s: %s", speedPos(t, a), paidAt(a))
	}
	// The store moves to 250 (one more paid order of 1.00).
	fresh250 := Freshness{Generation: 3, Cut: pos(100), SpeedPosition: pos(250), SpeedTime: clk.now()}
	f.store.setAgg(t, f.views["revenue"], fresh250, append(fixtureOrders(), formats.Row{int64(9), int64(1), "paid", dec("1.00"), nil, day("2024-03-01 13:00:00")}))

	// Within half the budget: the answer of 200, as it was, without a
	// store read; its freshness still says 200.
	clk.advance(300 * time.Millisecond)
	calls := f.store.metaCalls.Load() + f.store.aggCalls.Load()
	b := f.get(t, q)
	if speedPos(t, b) != pos(200).String() || paidAt(b) != `5 "67.02"` || b.hdr.Get("ETag") != a.hdr.Get("ETag") {
		t.Fatalf("recent answer %s %s %s", speedPos(t, b), paidAt(b), b.hdr.Get("ETag"))
	}
	if n := f.store.metaCalls.Load() + f.store.aggCalls.Load() - calls; n != 0 {
		t.Errorf("a recent answer read the store %d times", n)
	}
	if r := f.get(t, q, "If-None-Match", a.hdr.Get("ETag")); r.code != 304 {
		t.Errorf("If-None-Match of the recent answer: %d", r.code)
	}

	// Past half the budget: still the answer of 200, and a refresh starts.
	clk.advance(400 * time.Millisecond)
	if c := f.get(t, q); speedPos(t, c) != pos(200).String() || paidAt(c) != `5 "67.02"` {
		t.Fatalf("answer past half the budget %s %s", speedPos(t, c), paidAt(c))
	}
	key := answerKey("revenue", formatJSON, "group_by=status")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if e := f.srv.answers.get(key); e != nil && e.state == stateKey(fresh250) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never stored the answer of 250")
		}
		time.Sleep(time.Millisecond)
	}
	d := f.get(t, q)
	if speedPos(t, d) != pos(250).String() || paidAt(d) != `6 "68.02"` || d.hdr.Get("ETag") == a.hdr.Get("ETag") {
		t.Fatalf("refreshed answer %s %s", speedPos(t, d), paidAt(d))
	}

	// Past the whole budget the request reads the current state itself.
	fresh300 := Freshness{Generation: 4, Cut: pos(300), SpeedPosition: pos(300), SpeedTime: clk.now()}
	f.store.setAgg(t, f.views["revenue"], fresh300, fixtureOrders())
	clk.advance(1500 * time.Millisecond)
	e := f.get(t, q)
	if speedPos(t, e) != pos(300).String() || paidAt(e) != `5 "67.02"` {
		t.Fatalf("answer past the budget %s %s", speedPos(t, e), paidAt(e))
	}
	if g := e.json(t)["freshness"].(map[string]any)["generation"]; fmt.Sprint(g) != "4" {
		t.Errorf("generation %v", g)
	}
}

// Strict mode (max_staleness < 0) never serves an answer of a past state.
func TestStrictStaleness(t *testing.T) {
	f := newFixture(t, Config{MaxStaleness: -1})
	const q = "/v1/views/revenue?group_by=status"
	f.get(t, q)
	fresh := Freshness{Generation: 3, Cut: pos(100), SpeedPosition: pos(250), SpeedTime: time.Now()}
	f.store.setAgg(t, f.views["revenue"], fresh, fixtureOrders())
	if r := f.get(t, q); speedPos(t, r) != pos(250).String() {
		t.Errorf("strict answer at %s, store at 250", speedPos(t, r))
	}
}

// Identical concurrent requests share one computation and get one body.
func TestConcurrentAnswersComputeOnce(t *testing.T) {
	f := newFixture(t, Config{MaxStaleness: -1})
	now := time.Now()
	f.srv.now = func() time.Time { return now } // lag_ms is part of the body
	gate := make(chan struct{})
	f.store.mu.Lock()
	f.store.aggGate = gate
	f.store.mu.Unlock()
	const n = 16
	const q = "/v1/views/revenue?group_by=day&order=-revenue"
	metas := f.store.metaCalls.Load()
	out := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = f.get(t, q)
		}()
	}
	// Let every request reach the store before the one read completes.
	for deadline := time.Now().Add(30 * time.Second); f.store.metaCalls.Load()-metas < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, r := range out {
		if r.code != 200 || string(r.body) != string(out[0].body) {
			t.Fatalf("request %d: %d %s", i, r.code, r.body)
		}
	}
	if n := f.store.aggCalls.Load(); n != 1 {
		t.Errorf("%d store reads for one state", n)
	}
	r := f.get(t, "/metrics")
	if want := `tidemark_api_answer_cache_total{result="miss"} 1`; !containsLine(string(r.body), want) {
		t.Errorf("metrics lack %s", want)
	}
}

func containsLine(s, line string) bool {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if s[:i] == line {
			return true
		}
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return false
}

// A snapshot built on its predecessor (reusing the rows of groups whose
// state is the very same) equals one built from scratch, whether the key
// set is the same or not.
func TestSnapshotReuseEqualsFresh(t *testing.T) {
	f := newFixture(t, Config{})
	v := f.srv.catalog.views["revenue"]
	a, err := f.store.ReadAgg(t.Context(), "revenue")
	if err != nil {
		t.Fatal(err)
	}
	prev, err := buildSnapshot(v, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	changed := AggSnapshot{Freshness: a.Freshness, Groups: slices.Clone(a.Groups)}
	g := changed.Groups[1].Agg.Clone()
	g.Add(changed.Groups[1].Agg) // a different state of the same group
	changed.Groups[1].Agg = g
	dropped := AggSnapshot{Freshness: a.Freshness, Groups: slices.Clone(changed.Groups[1:])}
	// As many groups as dropped, but one key is new and one is gone.
	swapped := AggSnapshot{Freshness: a.Freshness, Groups: slices.Clone(a.Groups[:len(a.Groups)-1])}
	prevDropped, err := buildSnapshot(v, dropped, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		as   AggSnapshot
		prev *snapshot
	}{
		"same": {a, prev}, "one changed": {changed, prev}, "one dropped": {dropped, prev},
		"one added": {a, prevDropped}, "one key swapped": {swapped, prevDropped},
	}
	for name, c := range cases {
		as := c.as
		got, err := buildSnapshot(v, as, c.prev)
		if err != nil {
			t.Fatal(err)
		}
		want, err := buildSnapshot(v, as, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.groups) != len(want.groups) || len(got.index) != len(got.groups) {
			t.Fatalf("%s: %d groups (%d indexed), from scratch %d", name, len(got.groups), len(got.index), len(want.groups))
		}
		for i := range got.groups {
			if got.groups[i].key != want.groups[i].key || fmt.Sprint(got.groups[i].row) != fmt.Sprint(want.groups[i].row) {
				t.Errorf("%s: group %d is %v, from scratch %v", name, i, got.groups[i].row, want.groups[i].row)
			}
			if got.index[got.groups[i].key] != i {
				t.Errorf("%s: index of group %d says %d", name, i, got.index[got.groups[i].key])
			}
		}
	}
}
