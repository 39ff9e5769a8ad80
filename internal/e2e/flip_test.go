package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestAnswersNeverMixGenerations queries the API continuously while a batch
// generation is published. The source is quiet except for a heartbeat table
// that no view reads, so every answer must be exactly the answer before the
// flip: an answer mixing generation g+1's batch with speed segments it
// already covers would count them twice, and one mixing generation g with a
// half-dropped speed total would lose them.
func TestAnswersNeverMixGenerations(t *testing.T) {
	e := newEnv(t, envOptions{sourceYAML: "    heartbeat: shop.heartbeat\n    heartbeat_interval: 200ms\n"})
	ctx := context.Background()
	g := e.workload(101, 1)
	if err := g.Seed(ctx, 50, 800); err != nil {
		t.Fatal(err)
	}
	p, base := e.startAPI(t)
	if err := g.Run(ctx, 300, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)

	views := []string{"revenue_by_day", "orders_by_customer", "qty_buckets", "types_by_color"}
	type answer struct {
		Rows      []map[string]any `json:"rows"`
		Freshness struct {
			Generation uint64 `json:"generation"`
		} `json:"freshness"`
	}
	get := func(view string) (answer, error) {
		var a answer
		resp, err := http.Get(base + "/v1/views/" + view + "?limit=100000")
		if err != nil {
			return a, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return a, fmt.Errorf("%s: %d %s", view, resp.StatusCode, body)
		}
		return a, json.Unmarshal(body, &a)
	}
	want := map[string]answer{}
	for _, v := range views {
		a, err := get(v)
		if err != nil {
			t.Fatal(err)
		}
		want[v] = a
	}

	qctx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	seen := map[uint64]int{}
	var problems []string
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; qctx.Err() == nil; i++ {
				v := views[(i+w)%len(views)]
				a, err := get(v)
				mu.Lock()
				switch {
				case err != nil:
					problems = append(problems, err.Error())
				case !sameAnswer(a.Rows, want[v].Rows):
					problems = append(problems, fmt.Sprintf("%s at generation %d differs from the answer before the flip", v, a.Freshness.Generation))
				default:
					seen[a.Freshness.Generation]++
				}
				mu.Unlock()
			}
		}()
	}
	out, code := e.tidemark(t, "batch", "-c", e.cfg)
	if code != 0 {
		stop()
		wg.Wait()
		t.Fatalf("tidemark batch exited %d:\n%s", code, tail(out, 3000))
	}
	// Keep querying the new generation a little.
	for n := 0; n < 200; {
		mu.Lock()
		n = seen[1]
		bad := len(problems)
		mu.Unlock()
		if bad > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = problems[:10]
		}
		t.Fatalf("answers during the flip:\n%v", problems)
	}
	if seen[0] == 0 || seen[1] == 0 {
		t.Fatalf("the queries did not span the flip: answers per generation %v", seen)
	}
	t.Logf("answers per generation across the flip: %v", seen)
	p.term(t)
}

// sameAnswer compares two answers' rows in order: exactly, except FLOAT and
// DOUBLE measures, which a batch sums in another order than the speed layer
// (within 1e-9 relative, the invariant's tolerance).
func sameAnswer(a, b []map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		keys := make([]string, 0, len(a[i]))
		for k := range a[i] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ra, rb := make([]string, len(keys)), make([]string, len(keys))
		for j, k := range keys {
			ra[j], rb[j] = valueText(a[i][k]), valueText(b[i][k])
		}
		if !sameRow(ra, rb) {
			return false
		}
	}
	return true
}
