package reporting

import (
	"strings"
	"testing"
)

// TestMirrorListing: a mirror without primary-key filters is listed in
// primary-key order, filtered, bounded by limit, with a next link that
// pages through every row once.
func TestMirrorListing(t *testing.T) {
	f := newFixture(t, Config{MaxRows: 1000})
	r := f.get(t, "/v1/views/customers")
	if r.code != 200 {
		t.Fatalf("listing: %d %s", r.code, r.body)
	}
	rows := r.rows(t)
	if len(rows) != 3 || rows[0]["id"] != "1" || rows[1]["id"] != "2" || rows[2]["id"] != "3" {
		t.Fatalf("listing rows %v", rows)
	}
	if _, ok := r.json(t)["next"]; ok || r.hdr.Get("Link") != "" {
		t.Errorf("a listing that fits one page has a next link: %s", r.body)
	}

	// Paging: limit=1 and the next links visit every row once.
	var ids []string
	path := "/v1/views/customers?limit=1"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatalf("paging does not end: %v", ids)
		}
		r := f.get(t, path)
		if r.code != 200 {
			t.Fatalf("%s: %d %s", path, r.code, r.body)
		}
		for _, row := range r.rows(t) {
			ids = append(ids, row["id"])
		}
		next, _ := r.json(t)["next"].(string)
		if link := r.hdr.Get("Link"); next != "" && link != "<"+next+`>; rel="next"` {
			t.Errorf("Link %q, next %q", link, next)
		}
		path = next
	}
	if strings.Join(ids, ",") != "1,2,3" {
		t.Errorf("paged ids %v, want 1,2,3", ids)
	}

	// after=, filters, order and formats.
	if rows := f.get(t, "/v1/views/customers?after=1").rows(t); len(rows) != 2 || rows[0]["id"] != "2" {
		t.Errorf("after=1: %v", rows)
	}
	if rows := f.get(t, "/v1/views/customers?country=US&country=FI").rows(t); len(rows) != 2 || rows[0]["name"] != `"Grace"` {
		t.Errorf("filtered listing: %v", rows)
	}
	if rows := f.get(t, "/v1/views/customers?order=-name&limit=2").rows(t); len(rows) != 2 || rows[0]["name"] != `"Linus"` || rows[1]["name"] != `"Grace"` {
		t.Errorf("ordered listing: %v", rows)
	}
	r = f.get(t, "/v1/views/customers?order=-name&limit=2")
	if next, _ := r.json(t)["next"].(string); !strings.Contains(next, "offset=2") {
		t.Errorf("ordered listing's next %q, want an offset", next)
	}
	if r := f.get(t, "/v1/views/customers?format=csv&limit=2"); r.code != 200 || !strings.HasPrefix(string(r.body), "id,name,country\n1,Ada,GB\n2,Grace,US\n") ||
		!strings.Contains(r.hdr.Get("Link"), "after=2") {
		t.Errorf("CSV listing: %d %q Link %q", r.code, r.body, r.hdr.Get("Link"))
	}
	if r := f.get(t, "/v1/views/customers?format=arrow"); r.code != 200 || len(r.body) == 0 {
		t.Errorf("Arrow listing: %d", r.code)
	}
	for path, want := range map[string]string{
		"/v1/views/customers?after=x":            "after",
		"/v1/views/customers?after=1&after=2":    "once per column",
		"/v1/views/customers?after=1&order=name": "primary key order",
		"/v1/views/customers?id=1&after=1":       "by primary key",
		"/v1/views/revenue?after=1":              "mirror listings",
		"/v1/views/customers?limit=1001":         "limit",
	} {
		r := f.get(t, path)
		if r.code != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s, want 400 naming %q", path, r.code, r.body, want)
		}
	}
}
