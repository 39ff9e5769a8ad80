package scheduler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestWebhookSignedAndRetried: a local receiver answers 500 to the first
// delivery; the event arrives again, with a valid signature.
func TestWebhookSignedAndRetried(t *testing.T) {
	secret := []byte("s3cret-key")
	var mu sync.Mutex
	var got []Event
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("X-Tidemark-Timestamp")
		if r.Header.Get("X-Tidemark-Signature") != Sign(secret, ts, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			t.Errorf("bad signature %q", r.Header.Get("X-Tidemark-Signature"))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		var e Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Error(err)
		}
		if r.Header.Get("X-Tidemark-Event") != e.Name {
			t.Errorf("event header %q for %q", r.Header.Get("X-Tidemark-Event"), e.Name)
		}
		got = append(got, e)
	}))
	defer srv.Close()
	w := NewWebhook(srv.URL, secret, WebhookOptions{Backoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	g := uint64(9)
	w.Emit(ctx, Event{Name: "GenerationPublished", Job: "nightly", Run: "r1", Generation: &g, Cut: "binlog.000001:4", Counts: map[string]int64{"rows": 12}})
	w.Emit(ctx, Event{Name: "HaltError", Job: "nightly", Run: "r1", Error: "boom"})
	cancel()
	<-done
	if calls != 3 || len(got) != 2 {
		t.Fatalf("%d calls, %d events: %+v", calls, len(got), got)
	}
	if got[0].Name != "GenerationPublished" || *got[0].Generation != 9 || got[0].Counts["rows"] != 12 || got[1].Name != "HaltError" {
		t.Errorf("events %+v", got)
	}
	// A wrong secret does not verify.
	if Sign([]byte("other"), "1", []byte("{}")) == Sign(secret, "1", []byte("{}")) {
		t.Error("signature ignores the secret")
	}
}

func TestOpenLineageEvent(t *testing.T) {
	g := uint64(3)
	ev := openLineage(Event{Name: "RunSucceeded", Job: "nightly", Run: "r1", Time: time.Unix(0, 0), Generation: &g, Cut: "c"})
	if ev["eventType"] != "COMPLETE" {
		t.Errorf("eventType %v", ev["eventType"])
	}
	id := ev["run"].(map[string]any)["runId"].(string)
	if len(id) != 36 || id[14] != '5' {
		t.Errorf("runId %q is not a v5 UUID", id)
	}
	if _, ok := ev["outputs"]; !ok {
		t.Error("no outputs facet")
	}
}

// TestOpenLineageInputs: a run's source tables are the event's inputs,
// each with its row count in the inputStatistics facet.
func TestOpenLineageInputs(t *testing.T) {
	g := uint64(4)
	ev := openLineage(Event{Name: "RunSucceeded", Job: "nightly", Run: "r2", Time: time.Unix(0, 0), Generation: &g,
		Inputs: []Dataset{{Namespace: "mysql://db:3306", Name: "shop.orders", Rows: 120}, {Namespace: "mysql://db:3306", Name: "shop.items", Rows: 7}}})
	body, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Inputs []struct {
			Namespace, Name string
			InputFacets     struct {
				InputStatistics struct {
					RowCount int64 `json:"rowCount"`
				} `json:"inputStatistics"`
			} `json:"inputFacets"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Inputs) != 2 || got.Inputs[0].Name != "shop.orders" || got.Inputs[0].Namespace != "mysql://db:3306" ||
		got.Inputs[0].InputFacets.InputStatistics.RowCount != 120 || got.Inputs[1].InputFacets.InputStatistics.RowCount != 7 {
		t.Errorf("inputs %s", body)
	}
	if ev := openLineage(Event{Name: "RunStarted", Job: "nightly", Run: "r2"}); ev["inputs"] != nil {
		t.Errorf("inputs without datasets: %v", ev["inputs"])
	}
}
