package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// lagSample is one probe: a marker row committed on the source and the
// API polled until it shows it.
type lagSample struct {
	probe  time.Duration // COMMIT returned → the API's answer showed the row
	lagMS  int64         // that answer's freshness.lag_ms
	source string        // and its lag_source
}

// probeLag inserts customer id and polls its row lookup until the API
// answers it (row lookups are strict: no answer cache between the store
// and the answer).
func probeLag(t *testing.T, e *env, base string, id int64) lagSample {
	t.Helper()
	if _, err := e.db.Exec("INSERT INTO shop.customers (id, name, country, created_at) VALUES (?, 'probe', 'FI', UTC_TIMESTAMP(3))", id); err != nil {
		t.Fatal(err)
	}
	committed := time.Now()
	url := fmt.Sprintf("%s/v1/tables/shop.customers/rows/%d", base, id)
	for time.Since(committed) < 30*time.Second {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			continue
		}
		var ans struct {
			Freshness struct {
				LagMS     *int64  `json:"lag_ms"`
				LagSource *string `json:"lag_source"`
			} `json:"freshness"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		seen := time.Now()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("row %d: status %d, %v", id, resp.StatusCode, err)
		}
		if ans.Freshness.LagMS == nil || ans.Freshness.LagSource == nil {
			t.Fatalf("row %d: no lag_ms or lag_source in the freshness", id)
		}
		return lagSample{probe: seen.Sub(committed), lagMS: *ans.Freshness.LagMS, source: *ans.Freshness.LagSource}
	}
	t.Fatalf("row %d not visible through the API within 30s", id)
	return lagSample{}
}

// checkLag asserts that the probes agree with lag_ms: the median
// difference under 50 ms and the median lag under 200 ms (the binlog's
// whole-second commit times made it ~500 ms), loose enough for a busy
// machine; and that most answers say their lag was measured on the
// receive (or heartbeat) clock, not the commit second.
func checkLag(t *testing.T, label string, samples []lagSample) {
	t.Helper()
	var diffs, lags []int64
	precise := 0
	for _, s := range samples {
		d := s.lagMS - s.probe.Milliseconds()
		diffs = append(diffs, max(d, -d))
		lags = append(lags, s.lagMS)
		if s.source == "receive" || s.source == "heartbeat_us" {
			precise++
		}
	}
	slices.Sort(diffs)
	slices.Sort(lags)
	medDiff, medLag := diffs[len(diffs)/2], lags[len(lags)/2]
	t.Logf("%s: %d probes; |lag_ms - probe| median %d ms, max %d ms; lag_ms median %d ms, max %d ms; %d on a precise clock",
		label, len(samples), medDiff, diffs[len(diffs)-1], medLag, lags[len(lags)-1], precise)
	if medDiff >= 50 {
		t.Errorf("%s: lag_ms and the probe differ by %d ms at the median (samples %+v)", label, medDiff, samples)
	}
	if medLag >= 200 {
		t.Errorf("%s: lag_ms median %d ms, want < 200 (samples %+v)", label, medLag, samples)
	}
	if precise*2 <= len(samples) {
		t.Errorf("%s: only %d of %d answers on a precise clock (samples %+v)", label, precise, len(samples), samples)
	}
}

// TestLagAgreesWithProbe: the API's lag_ms is the delay a client sees
// between a commit and its visibility, to the millisecond, on an idle
// source and under a steady 200 transactions/s.
func TestLagAgreesWithProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB, Redis and tidemark")
	}
	e := newEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := e.workload(12, 1)
	if err := g.Seed(ctx, 50, 500); err != nil {
		t.Fatal(err)
	}
	p, base := e.startAPI(t)

	var idle []lagSample
	for i := range 20 {
		idle = append(idle, probeLag(t, e, base, 8_000_000_000+int64(i)))
		time.Sleep(50 * time.Millisecond)
	}
	checkLag(t, "idle source", idle)

	wctx, wcancel := context.WithCancel(ctx)
	werr := make(chan error, 1)
	go func() { werr <- g.Run(wctx, 0, 200) }()
	time.Sleep(time.Second)
	var loaded []lagSample
	for i := range 40 {
		loaded = append(loaded, probeLag(t, e, base, 8_000_001_000+int64(i)))
		time.Sleep(20 * time.Millisecond)
	}
	wcancel()
	if err := <-werr; err != nil && wctx.Err() == nil {
		t.Fatal(err)
	}
	checkLag(t, "200 transactions/s", loaded)
	p.term(t)
}

// TestLagFromHeartbeat: with a heartbeat table the checkpoint carries the
// heartbeat row's microsecond time, and an idle source's lag stays within
// the heartbeat interval (plus the apply) instead of rounding to seconds.
func TestLagFromHeartbeat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB, Redis and tidemark")
	}
	e := newEnv(t, envOptions{sourceYAML: "    heartbeat: shop.tm_heartbeat\n    heartbeat_interval: 300ms\n"})
	p, base := e.startAPI(t)
	deadline := time.Now().Add(60 * time.Second)
	beats := 0
	for beats < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d answers with lag_source heartbeat_us within 60s", beats)
		}
		resp, err := http.Get(base + "/v1/views/revenue_by_day?limit=1")
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Freshness struct {
				LagMS     *int64  `json:"lag_ms"`
				LagSource *string `json:"lag_source"`
			} `json:"freshness"`
		}
		err = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f := ans.Freshness; f.LagSource != nil && *f.LagSource == "heartbeat_us" {
			beats++
			// One interval between beats, the API's answer cache
			// (max_staleness 200ms) and a margin for a busy machine.
			if *f.LagMS > 300+200+300 {
				t.Errorf("idle source with a 300ms heartbeat: lag_ms %d", *f.LagMS)
			}
		}
		time.Sleep(70 * time.Millisecond)
	}
	p.term(t)
}
