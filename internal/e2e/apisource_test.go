package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// apiCase is one API query and the SQL that must give the same rows on the
// source (columns in the API's order).
type apiCase struct {
	name  string
	view  string
	query string
	sql   string
}

// TestAPIEqualsSource: for filter, range, group_by and join combinations,
// the API's answer equals the same query run on the source after catch-up,
// and a dimension change shows in the joined answer at once.
func TestAPIEqualsSource(t *testing.T) {
	// Strict answers (no api.max_staleness): right after a change the
	// test expects the current state, not one up to 200ms old.
	e := newEnv(t, envOptions{apiYAML: "  max_staleness: -1ns\n"})
	ctx := context.Background()
	g := e.workload(81, 1)
	if err := g.Seed(ctx, 60, 1500); err != nil {
		t.Fatal(err)
	}
	p, base := e.startAPI(t)
	if err := g.Run(ctx, 300, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t) // caught up

	where := "status <> 'cancelled' AND amount > 0"
	cases := []apiCase{
		{"filter", "revenue_by_day", "status=paid",
			"SELECT DATE_FORMAT(created_at, '%Y-%m-%d'), status, COUNT(*), SUM(amount), AVG(amount) FROM shop.orders WHERE " + where + " AND status = 'paid' GROUP BY 1, 2"},
		{"in", "revenue_by_day", "status=paid&status=shipped&group_by=status",
			"SELECT status, COUNT(*), SUM(amount), AVG(amount) FROM shop.orders WHERE " + where + " AND status IN ('paid', 'shipped') GROUP BY 1"},
		{"range", "revenue_by_day", "day.from=2026-03-01&day.to=2026-03-31&group_by=day",
			"SELECT DATE_FORMAT(created_at, '%Y-%m-%d'), COUNT(*), SUM(amount), AVG(amount) FROM shop.orders WHERE " + where + " AND created_at >= '2026-03-01' AND created_at < '2026-04-01' GROUP BY 1"},
		{"total", "revenue_by_day", "group_by=",
			"SELECT COUNT(*), SUM(amount), AVG(amount) FROM shop.orders WHERE " + where},
		{"join", "orders_by_customer", "join=customers:customer_id&group_by=customers.country",
			"SELECT c.country, COUNT(*), SUM(o.qty), COUNT(o.amount), SUM(o.amount), SUM(o.discount), AVG(o.qty) FROM shop.orders o LEFT JOIN shop.customers c ON c.id = o.customer_id GROUP BY 1"},
	}
	check := func() {
		for _, c := range cases {
			api := apiRows(t, base, c.view, c.query)
			src := sqlRows(t, e.db, c.sql)
			if d := diffRows(api, src); d != "" {
				t.Errorf("%s (%s?%s): API differs from the source:\n%s", c.name, c.view, c.query, d)
			}
		}
	}
	check()

	// A customer moves country: the joined answer follows at once.
	var id int64
	if err := e.db.QueryRowContext(ctx, "SELECT customer_id FROM shop.orders GROUP BY customer_id ORDER BY COUNT(*) DESC LIMIT 1").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.ExecContext(ctx, "UPDATE shop.customers SET country = 'ZZ' WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := apiRows(t, base, "orders_by_customer", "join=customers:customer_id&group_by=customers.country&customers.country=ZZ")
		if len(rows) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the moved customer's country ZZ did not show in the joined answer within 10s: %v", rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
	check()
	p.term(t)
}

func apiRows(t testing.TB, base, view, query string) [][]string {
	t.Helper()
	resp, err := http.Get(base + "/v1/views/" + url.PathEscape(view) + "?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Columns []struct{ Name string } `json:"columns"`
		Rows    []map[string]any        `json:"rows"`
		Error   string                  `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&ans); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("%s?%s: %d %s", view, query, resp.StatusCode, ans.Error)
	}
	out := make([][]string, len(ans.Rows))
	for i, r := range ans.Rows {
		for _, c := range ans.Columns {
			out[i] = append(out[i], valueText(r[c.Name]))
		}
	}
	return out
}

func valueText(v any) string {
	if v == nil {
		return "NULL"
	}
	return fmt.Sprint(v)
}

// sqlRows runs q with args on the source and returns its rows as text,
// NULL as "NULL".
func sqlRows(t testing.TB, db *sql.DB, q string, args ...any) [][]string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s %v: %v", q, args, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		raw := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := make([]string, len(cols))
		for i, v := range raw {
			r[i] = "NULL"
			if v.Valid {
				r[i] = v.String
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffRows compares row sets as multisets; numbers compare by value
// (exactly, as rationals; floats within 1e-9 relative), text exactly.
func diffRows(a, b [][]string) string {
	key := func(r []string) string { return strings.Join(r, "\x00") }
	sort.Slice(a, func(i, j int) bool { return key(a[i]) < key(a[j]) })
	sort.Slice(b, func(i, j int) bool { return key(b[i]) < key(b[j]) })
	var d []string
	if len(a) != len(b) {
		d = append(d, fmt.Sprintf("%d rows from the API, %d from the source", len(a), len(b)))
	}
	used := make([]bool, len(b))
	for _, ra := range a {
		found := false
		for j, rb := range b {
			if !used[j] && sameRow(ra, rb) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			d = append(d, fmt.Sprintf("API row %v not in the source", ra))
		}
	}
	for j, rb := range b {
		if !used[j] {
			d = append(d, fmt.Sprintf("source row %v not in the API", rb))
		}
	}
	if len(d) > 10 {
		d = append(d[:10], "...")
	}
	return strings.Join(d, "\n")
}

func sameRow(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		x, ok1 := new(big.Rat).SetString(a[i])
		y, ok2 := new(big.Rat).SetString(b[i])
		if !ok1 || !ok2 {
			return false
		}
		if x.Cmp(y) == 0 {
			continue
		}
		xf, _ := x.Float64()
		yf, _ := y.Float64()
		scale := max(1, abs(xf), abs(yf))
		if abs(xf-yf) > 1e-9*scale || strings.Count(a[i]+b[i], ".") == 0 {
			return false
		}
	}
	return true
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
