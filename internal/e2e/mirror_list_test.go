package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// TestQueryListsMirror: `tidemark query` lists a mirror in primary-key
// order, page by page with --after from each answer's next link, and the
// pages hold every row of the source table exactly once.
func TestQueryListsMirror(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(81, 1)
	if err := g.Seed(ctx, 45, 10); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	e.waitBootstrapped(t, "customers")
	if err := g.Run(ctx, 50, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	var want []int64
	rows, err := e.db.QueryContext(ctx, "SELECT id FROM shop.customers ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	rows.Close()

	var got []int64
	args := []string{"query", "-c", e.cfg, "customers", "--limit", "7"}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("paging does not end (%d pages)", pages)
		}
		out, code := e.tidemark(t, args...)
		if code != 0 {
			t.Fatalf("tidemark query exited %d:\n%s", code, out)
		}
		var ans struct {
			Rows []struct {
				ID int64 `json:"id"`
			} `json:"rows"`
			Next string `json:"next"`
		}
		if err := json.Unmarshal([]byte(out), &ans); err != nil {
			t.Fatalf("decoding %q: %v", out, err)
		}
		for _, r := range ans.Rows {
			got = append(got, r.ID)
		}
		if ans.Next == "" {
			break
		}
		u, err := url.Parse(ans.Next)
		if err != nil {
			t.Fatal(err)
		}
		args = []string{"query", "-c", e.cfg, "customers", "--limit", "7", "--after", u.Query().Get("after")}
	}
	if !slices.IsSorted(got) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the pages list %d ids, the source has %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	p.term(t)
}
