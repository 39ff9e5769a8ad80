package reporting

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/formats"
)

func TestListViews(t *testing.T) {
	f := newFixture(t, Config{})
	r := f.get(t, "/v1/views")
	if r.code != 200 {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	var body struct {
		Views []struct {
			Name, Kind, From string
			Columns          []struct {
				Name, Type string
				Key        bool
			}
		}
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range body.Views {
		names = append(names, v.Name+":"+v.Kind)
	}
	if want := []string{"customers:mirror", "revenue:aggregate", "revenue_by_status:aggregate"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("views %v, want %v", names, want)
	}
	rev := body.Views[1]
	got := map[string]string{}
	for _, c := range rev.Columns {
		k := c.Type
		if c.Key {
			k += " key"
		}
		got[c.Name] = k
	}
	if got["orders"] != "bigint" || got["revenue"] != "decimal(65,2)" || got["avg_amount"] != "decimal(65,6)" ||
		got["customer_id"] != "int key" || got["status"] != "varchar(20) key" || got["avg_weight"] != "double" {
		t.Errorf("revenue columns: %v", got)
	}
}

func TestViewAnswerShape(t *testing.T) {
	f := newFixture(t, Config{})
	r := f.get(t, "/v1/views/revenue")
	if r.code != 200 {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	if ct := r.hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	m := r.json(t)
	if m["view"] != "revenue" {
		t.Errorf("view %v", m["view"])
	}
	fr := m["freshness"].(map[string]any)
	if fr["generation"].(json.Number).String() != "3" || fr["cut"] != pos(100).String() || fr["speed_position"] != pos(200).String() {
		t.Errorf("freshness %v", fr)
	}
	if lag, _ := fr["lag_ms"].(json.Number).Int64(); lag < 1500 || lag > 60000 {
		t.Errorf("lag_ms %v, want ~1500", fr["lag_ms"])
	}
	// The fixture's time has no clock: a binlog commit second.
	if fr["lag_source"] != "commit_time_s" || r.hdr.Get("X-Tidemark-Lag-Source") != "commit_time_s" {
		t.Errorf("lag_source %v, header %q, want commit_time_s", fr["lag_source"], r.hdr.Get("X-Tidemark-Lag-Source"))
	}
	if _, err := time.Parse(time.RFC3339Nano, fr["cut_time"].(string)); err != nil {
		t.Errorf("cut_time: %v", err)
	}
	rows := r.rows(t)
	// 8 orders, one cancelled; (03-01, paid, 1) holds two.
	if len(rows) != 6 {
		t.Fatalf("%d rows: %s", len(rows), r.body)
	}
	// Ordered by the keys: day, status, customer_id (NULL first).
	first := rows[0]
	want := map[string]string{"day": `"2024-03-01"`, "status": `"paid"`, "customer_id": "1", "orders": "2",
		"revenue": `"30.00"`, "avg_amount": `"15.000000"`, "weight": "4", "avg_weight": "2"}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first row %v, want %v", first, want)
	}
	// Order 5 has a NULL amount: its group's sum and avg are null.
	var nullRow map[string]string
	for _, row := range rows {
		if row["customer_id"] == "3" {
			nullRow = row
		}
	}
	if nullRow["revenue"] != "null" || nullRow["avg_amount"] != "null" || nullRow["orders"] != "1" {
		t.Errorf("NULL-amount group %v", nullRow)
	}
	if rows[4]["customer_id"] != "null" {
		t.Errorf("row 4 should be the NULL customer group of 2024-03-03: %v", rows[3])
	}
	if r.hdr.Get("ETag") == "" || r.hdr.Get("X-Tidemark-Generation") != "3" {
		t.Errorf("headers %v", r.hdr)
	}
}

func TestFilters(t *testing.T) {
	f := newFixture(t, Config{})
	cases := []struct {
		query string
		want  []string // customer_id of each row, in order
	}{
		{"status=paid", []string{"1", "2", "null", "4"}},
		{"status=paid&status=shipped", []string{"1", "2", "2", "3", "null", "4"}},
		{"status.eq=shipped", []string{"2", "3"}},
		{"customer_id=2", []string{"2", "2"}},
		{"customer_id.from=2&customer_id.to=3", []string{"2", "2", "3"}},
		{"customer_id.from=3", []string{"3", "4"}},
		{"customer_id.null=true", []string{"null"}},
		{"customer_id.null=false&day=2024-03-01", []string{"1", "2"}},
		{"day.from=2024-03-02&day.to=2024-03-03", []string{"2", "3", "null"}},
		{"status=x%27%20OR%201%3D1", nil},
		{"status=", nil},
	}
	for _, c := range cases {
		r := f.get(t, "/v1/views/revenue?"+c.query)
		if r.code != 200 {
			t.Errorf("%s: status %d: %s", c.query, r.code, r.body)
			continue
		}
		var got []string
		for _, row := range r.rows(t) {
			got = append(got, row["customer_id"])
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: customer_ids %v, want %v", c.query, got, c.want)
		}
	}
}

// Re-aggregating to a subset of the keys merges the Agg states: the answer
// equals the view declared with those keys alone, computed independently
// by the evaluator, to the last digit. An average of averages would not.
func TestGroupByReaggregationIsExact(t *testing.T) {
	f := newFixture(t, Config{})
	got := f.get(t, "/v1/views/revenue?group_by=status")
	want := f.get(t, "/v1/views/revenue_by_status")
	if got.code != 200 || want.code != 200 {
		t.Fatalf("status %d %d: %s %s", got.code, want.code, got.body, want.body)
	}
	if g, w := got.rows(t), want.rows(t); !reflect.DeepEqual(g, w) {
		t.Fatalf("group_by=status\n got %v\nwant %v", g, w)
	}
	paid := got.rows(t)[0]
	// paid: 10 + 20 + 30 + 7.01 + 0.01 = 67.02 over 5 → 13.404; the
	// average of the four group averages would be 13.005.
	if paid["status"] != `"paid"` || paid["revenue"] != `"67.02"` || paid["avg_amount"] != `"13.404000"` || paid["orders"] != "5" {
		t.Errorf("paid %v", paid)
	}
	// weight: 1.5+2.5+3+0.125 over 4 non-NULL (order 3 has NULL weight).
	if paid["weight"] != "7.125" || paid["avg_weight"] != "1.78125" {
		t.Errorf("paid weights %v", paid)
	}
	m := got.json(t)
	cols := m["columns"].([]any)
	if len(cols) != 6 || cols[0].(map[string]any)["name"] != "status" || cols[0].(map[string]any)["key"] != true {
		t.Errorf("columns %v", cols)
	}

	// Empty group_by: one total row.
	tot := f.get(t, "/v1/views/revenue?group_by=").rows(t)
	if len(tot) != 1 || tot[0]["orders"] != "7" || tot[0]["revenue"] != `"72.57"` || tot[0]["avg_amount"] != `"12.095000"` {
		t.Errorf("total %v", tot)
	}
	// Filters apply before re-aggregation; order by a measure.
	r := f.get(t, "/v1/views/revenue?group_by=day&status=paid&order=-revenue").rows(t)
	var days []string
	for _, row := range r {
		days = append(days, row["day"]+"="+row["revenue"])
	}
	if want := []string{`"2024-03-01"="60.00"`, `"2024-03-03"="7.01"`, `"2024-03-04"="0.01"`}; !reflect.DeepEqual(days, want) {
		t.Errorf("by day: %v, want %v", days, want)
	}
	// Repeated group_by parameters are the same as a list.
	a := f.get(t, "/v1/views/revenue?group_by=day&group_by=status").rows(t)
	b := f.get(t, "/v1/views/revenue?group_by=day,status").rows(t)
	if !reflect.DeepEqual(a, b) || len(a) != 4 {
		t.Errorf("repeated group_by %v vs %v", a, b)
	}
}

func TestOrderLimitOffset(t *testing.T) {
	f := newFixture(t, Config{DefaultRows: 4, MaxRows: 5})
	ids := func(q string) []string {
		t.Helper()
		r := f.get(t, "/v1/views/revenue?"+q)
		if r.code != 200 {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
		var out []string
		for _, row := range r.rows(t) {
			out = append(out, row["revenue"])
		}
		return out
	}
	if got := ids(""); len(got) != 4 {
		t.Errorf("default limit: %d rows", len(got))
	}
	if got, want := ids("order=-revenue&limit=3"), []string{`"30.00"`, `"30.00"`, `"7.01"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("order=-revenue: %v, want %v", got, want)
	}
	// NULL sorts first ascending, as in MySQL.
	if got, want := ids("order=revenue&limit=2&offset=0"), []string{"null", `"0.01"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("order=revenue: %v, want %v", got, want)
	}
	if got, want := ids("order=revenue&limit=2&offset=2"), []string{`"5.55"`, `"7.01"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("offset: %v, want %v", got, want)
	}
	if got := ids("offset=100"); len(got) != 0 {
		t.Errorf("offset past end: %v", got)
	}
	if got := ids("limit=0"); len(got) != 0 {
		t.Errorf("limit=0: %v", got)
	}
	// Ties on order= fall back to the keys: (03-01,paid,1) before (03-01,paid,2).
	r := f.get(t, "/v1/views/revenue?order=-revenue&limit=2").rows(t)
	if r[0]["customer_id"] != "1" || r[1]["customer_id"] != "2" {
		t.Errorf("tie order %v", r)
	}
}

func TestJoin(t *testing.T) {
	f := newFixture(t, Config{})
	r := f.get(t, "/v1/views/revenue?join=customers:customer_id&status=paid")
	if r.code != 200 {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	rows := r.rows(t)
	var got []string
	for _, row := range rows {
		got = append(got, row["customer_id"]+"/"+row["customers.name"]+"/"+row["customers.country"])
	}
	want := []string{`1/"Ada"/"GB"`, `2/"Grace"/"US"`, "null/null/null", "4/null/null"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("joined %v, want %v", got, want)
	}
	m := r.json(t)
	if _, ok := m["freshness"].(map[string]any)["mirrors"].(map[string]any)["customers"]; !ok {
		t.Errorf("no mirror freshness: %v", m["freshness"])
	}
	// Re-aggregate over a dimension column; filter on another.
	r = f.get(t, "/v1/views/revenue?join=customers:customer_id&group_by=customers.country&order=customers.country")
	var by []string
	for _, row := range r.rows(t) {
		by = append(by, row["customers.country"]+"="+row["orders"]+"/"+row["revenue"])
	}
	// NULL country: order 6 (no customer) and order 8 (customer 4 not mirrored).
	want = []string{`null=2/"7.02"`, `"FI"=1/null`, `"GB"=2/"30.00"`, `"US"=2/"35.55"`}
	if !reflect.DeepEqual(by, want) {
		t.Errorf("group_by country %v, want %v", by, want)
	}
	r = f.get(t, "/v1/views/revenue?join=customers:customer_id&customers.country=US&group_by=customers.name")
	if rows := r.rows(t); len(rows) != 1 || rows[0]["customers.name"] != `"Grace"` || rows[0]["avg_amount"] != `"17.775000"` {
		t.Errorf("US by name %v", rows)
	}
	// The mirror is read once per state: a second join is served from memory.
	before := f.store.mirrorCalls.Load()
	f.get(t, "/v1/views/revenue?join=customers:customer_id")
	if n := f.store.mirrorCalls.Load() - before; n != 0 {
		t.Errorf("second join read the mirror %d times", n)
	}
	// A dimension change is seen at once: the join uses the current row.
	fr, _ := f.store.Meta(context.Background(), "customers")
	fr.SpeedPosition = pos(300)
	f.store.setMirror(t, f.views["customers"], fr, []formats.Row{{int64(1), "Ada", "FR"}, {int64(2), "Grace", "US"}, {int64(3), "Linus", "FI"}})
	r = f.get(t, "/v1/views/revenue?join=customers:customer_id&customer_id=1")
	if rows := r.rows(t); rows[0]["customers.country"] != `"FR"` {
		t.Errorf("after the dimension changed: %v", rows)
	}
}

func TestMirrorAndRowLookup(t *testing.T) {
	f := newFixture(t, Config{})
	r := f.get(t, "/v1/tables/shop.customers/rows/2")
	if r.code != 200 {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	m := r.json(t)
	if m["table"] != "shop.customers" {
		t.Errorf("table %v", m["table"])
	}
	if rows := r.rows(t); len(rows) != 1 || rows[0]["name"] != `"Grace"` || rows[0]["id"] != "2" {
		t.Errorf("row %v", rows)
	}
	for path, code := range map[string]int{
		"/v1/tables/shop.customers/rows/99":  404,
		"/v1/tables/shop.orders/rows/1":      404,
		"/v1/tables/nodot/rows/1":            404,
		"/v1/tables/shop.customers/rows/abc": 400,
		"/v1/tables/shop.customers/rows/1,2": 400,
		"/v1/tables/shop.customers/rows/1?x": 400,
	} {
		if r := f.get(t, path); r.code != code {
			t.Errorf("%s: %d, want %d: %s", path, r.code, code, r.body)
		} else if !strings.Contains(string(r.body), `"error"`) {
			t.Errorf("%s: no error message: %s", path, r.body)
		}
	}
	r = f.get(t, "/v1/views/customers?id=3&id=1&id=77")
	if rows := r.rows(t); len(rows) != 2 || rows[0]["name"] != `"Ada"` || rows[1]["name"] != `"Linus"` {
		t.Errorf("mirror view rows %v (%s)", rows, r.body)
	}
	r = f.get(t, "/v1/views/customers?id=1&id=2&id=3&country=US")
	if rows := r.rows(t); len(rows) != 1 || rows[0]["name"] != `"Grace"` {
		t.Errorf("mirror rows filtered by a column %v (%s)", rows, r.body)
	}
	if r := f.get(t, "/v1/views/customers"); r.code != 200 || len(r.rows(t)) != 3 {
		t.Errorf("mirror without key (a listing): %d %s", r.code, r.body)
	}
}

// Every bad request is a 4xx with a message naming the parameter, and none
// reaches the store.
func TestBadRequests(t *testing.T) {
	f := newFixture(t, Config{MaxRows: 1000})
	cases := []struct {
		path  string
		code  int
		param string
		msg   string
	}{
		{"/v1/views/nope", 404, "", "unknown view"},
		{"/v1/views/revenue?colour=red", 400, "colour", `no column "colour"`},
		{"/v1/views/revenue?customer_id.from=abc", 400, "customer_id.from", "not a int value"},
		{"/v1/views/revenue?customer_id.from=5&customer_id.to=2", 400, "customer_id.from", "range is empty"},
		{"/v1/views/revenue?customer_id.null=maybe", 400, "customer_id.null", "true or false"},
		{"/v1/views/revenue?customer_id=1%20OR%201%3D1", 400, "customer_id", "not a int value"},
		{"/v1/views/revenue?customer_id=1%27%3B%20DROP%20TABLE%20orders%3B--", 400, "customer_id", "not a int value"},
		{"/v1/views/revenue?limit=1000000000", 400, "limit", "out of range"},
		{"/v1/views/revenue?limit=-1", 400, "limit", "out of range"},
		{"/v1/views/revenue?limit=ten", 400, "limit", "not an integer"},
		{"/v1/views/revenue?limit=1&limit=2", 400, "limit", "given 2 times"},
		{"/v1/views/revenue?offset=-5", 400, "offset", "out of range"},
		{"/v1/views/revenue?revenue=1", 400, "revenue", "is a measure"},
		{"/v1/views/revenue?group_by=revenue", 400, "group_by", "is a measure"},
		{"/v1/views/revenue?group_by=nope", 400, "group_by", `no column "nope"`},
		{"/v1/views/revenue?group_by=status,status", 400, "group_by", "listed twice"},
		{"/v1/views/revenue?order=nope", 400, "order", `no column "nope"`},
		{"/v1/views/revenue?group_by=day&order=status", 400, "order", "not a column of this answer"},
		{"/v1/views/revenue?join=nope:customer_id", 400, "join", "not a mirror"},
		{"/v1/views/revenue?join=customers", 400, "join", "want <mirror>:<key column>"},
		{"/v1/views/revenue?join=customers:status", 400, "join", "cannot match"},
		{"/v1/views/revenue?join=customers:orders", 400, "join", "is a measure"},
		{"/v1/views/revenue?join=revenue_by_status:status", 400, "join", "not a mirror"},
		{"/v1/views/revenue?customers.name=Ada", 400, "customers.name", "no join=customers"},
		{"/v1/views/revenue?join=customers:customer_id&customers.nope=1", 400, "customers.nope", `no column "nope"`},
		{"/v1/views/revenue?format=xml", 400, "format", "not a format"},
		{"/v1/views/revenue?status=%ff", 400, "status", "UTF-8"},
		{"/v1/views/revenue?status=%zz", 400, "query", "malformed"},
		{"/v1/views/revenue?" + strings.Repeat("a", 9000) + "=1", 414, "", "query string is"},
		{"/v1/views/customers?id=1&group_by=name", 400, "group_by", "mirror"},
		{"/v1/nothing", 404, "", "no route"},
	}
	before := f.store.metaCalls.Load() + f.store.aggCalls.Load() + f.store.mirrorCalls.Load()
	for _, c := range cases {
		r := f.get(t, c.path)
		if r.code != c.code {
			t.Errorf("%s: status %d, want %d: %s", c.path, r.code, c.code, r.body)
			continue
		}
		var e struct {
			Error  string
			Param  string
			Status int
		}
		if err := json.Unmarshal(r.body, &e); err != nil {
			t.Errorf("%s: error body %q is not JSON: %v", c.path, r.body, err)
			continue
		}
		if e.Param != c.param || !strings.Contains(e.Error, c.msg) || e.Status != c.code {
			t.Errorf("%s: error %+v, want param %q and message containing %q", c.path, e, c.param, c.msg)
		}
	}
	if after := f.store.metaCalls.Load() + f.store.aggCalls.Load() + f.store.mirrorCalls.Load(); after != before {
		t.Errorf("bad requests reached the store %d times", after-before)
	}
	// Wrong method.
	req, _ := http.NewRequest("POST", f.ts.URL+"/v1/views/revenue", strings.NewReader("x"))
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 {
		t.Errorf("POST: %d", res.StatusCode)
	}
}

func TestAuth(t *testing.T) {
	read := Token{Name: "dash", Secret: "read-secret-0123456789", Scope: ScopeRead}
	admin := Token{Name: "ops", Secret: "admin-secret-0123456789", Scope: ScopeAdmin}
	f := newFixture(t, Config{Tokens: []Token{read, admin}})
	cases := []struct {
		path, auth string
		code       int
	}{
		{"/v1/views", "", 401},
		{"/v1/views/revenue", "Bearer wrong-token", 401},
		{"/v1/views/revenue", "Basic " + read.Secret, 401},
		{"/v1/views/revenue", "Bearer " + read.Secret, 200},
		{"/v1/views/revenue", "bearer " + admin.Secret, 200},
		{"/openapi.json", "", 401},
		{"/openapi.json", "Bearer " + read.Secret, 200},
		{"/metrics", "Bearer " + read.Secret, 403},
		{"/metrics", "Bearer " + admin.Secret, 200},
		{"/metrics", "", 401},
		{"/livez", "", 200},
		{"/readyz", "", 200},
		{"/", "", 200},
		{"/assets/app.js", "", 200},
	}
	for _, c := range cases {
		var r response
		if c.auth != "" {
			r = f.get(t, c.path, "Authorization", c.auth)
		} else {
			r = f.get(t, c.path)
		}
		if r.code != c.code {
			t.Errorf("%s with %q: %d, want %d: %s", c.path, c.auth, r.code, c.code, r.body)
		}
		if c.code == 401 && !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without WWW-Authenticate", c.path)
		}
		if c.code >= 400 && !strings.Contains(string(r.body), `"param":"Authorization"`) {
			t.Errorf("%s: %s", c.path, r.body)
		}
	}
	if strings.Contains(read.String(), read.Secret) {
		t.Errorf("Token.String leaks the secret")
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Listen: "nope", Tokens: []Token{{Name: "a", Secret: "short", Scope: "write"}, {Name: "a", Secret: "short"}}}
	c.ApplyDefaults()
	err := c.Validate()
	for _, want := range []string{"api.listen", "api.tokens[0].secret", "api.tokens[0].scope", "api.tokens[1].name", "api.tokens[1].scope"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want mention of %s", err, want)
		}
	}
	c = Config{MaxRows: 500}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil || c.DefaultRows != 500 {
		t.Errorf("MaxRows 500: default %d, %v", c.DefaultRows, err)
	}
	if _, err := New(Config{Listen: "x"}, nil, newMemStore(), nil, nil); err == nil {
		t.Error("New accepted a bad config")
	}
}

func TestETagAndSnapshotCache(t *testing.T) {
	// Strict: every request reads the current state (TestBoundedStaleness
	// covers the default).
	f := newFixture(t, Config{MaxStaleness: -1})
	r := f.get(t, "/v1/views/revenue?status=paid")
	etag := r.hdr.Get("ETag")
	if r.code != 200 || etag == "" || r.hdr.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("%d %v", r.code, r.hdr)
	}
	reads := f.store.aggCalls.Load()
	for range 20 {
		if r := f.get(t, "/v1/views/revenue?status=shipped"); r.code != 200 {
			t.Fatal(r.code)
		}
	}
	if n := f.store.aggCalls.Load() - reads; n != 0 {
		t.Errorf("unchanged view read %d more times", n)
	}
	r = f.get(t, "/v1/views/revenue?status=paid", "If-None-Match", etag)
	if r.code != 304 || len(r.body) != 0 || r.hdr.Get("ETag") != etag {
		t.Errorf("If-None-Match: %d %q %v", r.code, r.body, r.hdr)
	}
	r = f.get(t, "/v1/views/revenue?status=paid", "If-None-Match", `"other", `+etag)
	if r.code != 304 {
		t.Errorf("If-None-Match list: %d", r.code)
	}
	// Another format is another representation.
	if r := f.get(t, "/v1/views/revenue?status=paid&format=csv", "If-None-Match", etag); r.code != 200 {
		t.Errorf("csv with the json ETag: %d", r.code)
	}
	// The speed layer moves: new ETag, new data, freshness says so.
	fresh := Freshness{Generation: 3, Cut: pos(100), SpeedPosition: pos(250), SpeedTime: time.Now()}
	f.store.setAgg(t, f.views["revenue"], fresh, append(f.orders, formats.Row{int64(9), int64(1), "paid", dec("1.00"), nil, day("2024-03-01 13:00:00")}))
	r = f.get(t, "/v1/views/revenue?status=paid", "If-None-Match", etag)
	if r.code != 200 || r.hdr.Get("ETag") == etag {
		t.Fatalf("after a change: %d, etag %s", r.code, r.hdr.Get("ETag"))
	}
	if rows := r.rows(t); rows[0]["orders"] != "3" || rows[0]["revenue"] != `"31.00"` {
		t.Errorf("after a change: %v", rows[0])
	}
	if sp := r.json(t)["freshness"].(map[string]any)["speed_position"]; sp != pos(250).String() {
		t.Errorf("speed_position %v", sp)
	}
	if n := f.store.aggCalls.Load() - reads; n != 1 {
		t.Errorf("one change, %d reads", n)
	}
}

func TestCSV(t *testing.T) {
	f := newFixture(t, Config{})
	for _, r := range []response{
		f.get(t, "/v1/views/revenue?format=csv&customer_id.null=true"),
		f.get(t, "/v1/views/revenue?customer_id.null=true", "Accept", "text/csv"),
	} {
		if r.code != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/csv") {
			t.Fatalf("%d %v", r.code, r.hdr)
		}
		recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"day", "status", "customer_id", "orders", "revenue", "avg_amount", "weight", "avg_weight"},
			{"2024-03-03", "paid", "", "1", "7.01", "7.010000", "3", "3"},
		}
		if !reflect.DeepEqual(recs, want) {
			t.Errorf("csv %q, want %q", recs, want)
		}
		if r.hdr.Get("X-Tidemark-Generation") != "3" || r.hdr.Get("X-Tidemark-Speed-Position") != pos(200).String() {
			t.Errorf("freshness headers %v", r.hdr)
		}
	}
}

func TestHealthAndErrors(t *testing.T) {
	f := newFixture(t, Config{})
	if r := f.get(t, "/livez"); r.code != 200 {
		t.Errorf("livez %d", r.code)
	}
	notReady := errors.New("bootstrap running (2 of 5 tables)")
	ready := error(nil)
	srv, err := New(Config{}, f.list, f.store, nil2reg(), func(context.Context) error { return ready })
	if err != nil {
		t.Fatal(err)
	}
	ready = notReady
	rec := serve(srv, "/readyz")
	if rec.code != 503 || !strings.Contains(string(rec.body), "2 of 5") {
		t.Errorf("readyz %d %s", rec.code, rec.body)
	}
	ready = nil
	if rec := serve(srv, "/readyz"); rec.code != 200 {
		t.Errorf("readyz %d", rec.code)
	}
	// A view without published state is a 503; a store failure a 502.
	f.store.mu.Lock()
	delete(f.store.aggs, "revenue_by_status")
	f.store.mu.Unlock()
	if r := f.get(t, "/v1/views/revenue_by_status"); r.code != 503 || !strings.Contains(string(r.body), "not ready") {
		t.Errorf("not ready view: %d %s", r.code, r.body)
	}
	f.store.mu.Lock()
	f.store.fail = errors.New("connection refused")
	f.store.mu.Unlock()
	if r := f.get(t, "/v1/views/revenue"); r.code != 502 || !strings.Contains(string(r.body), "connection refused") {
		t.Errorf("store down: %d %s", r.code, r.body)
	}
}

// slowStore blocks ReadAgg until release is closed.
type slowStore struct {
	*memStore
	entered chan struct{}
	release chan struct{}
}

func (s *slowStore) ReadAgg(ctx context.Context, view string) (AggSnapshot, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return AggSnapshot{}, ctx.Err()
	}
	return s.memStore.ReadAgg(ctx, view)
}

func TestGracefulShutdownDrains(t *testing.T) {
	f := newFixture(t, Config{})
	slow := &slowStore{memStore: f.store, entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv, err := New(Config{ShutdownTimeout: 5 * time.Second}, f.list, slow, nil2reg(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	type result struct {
		code int
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/v1/views/revenue")
		if err != nil {
			resc <- result{err: err}
			return
		}
		res.Body.Close()
		resc <- result{code: res.StatusCode}
	}()
	<-slow.entered // the request is in flight
	cancel()
	// New connections are refused while draining (Shutdown closes the
	// listener first; give a loaded machine time to get there).
	refused := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Error("still accepting connections 5s after shutdown began")
	}
	close(slow.release)
	if r := <-resc; r.err != nil || r.code != 200 {
		t.Errorf("in-flight request: %+v", r)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	f := newFixture(t, Config{})
	slow := &slowStore{memStore: f.store, entered: make(chan struct{}, 10), release: make(chan struct{})}
	defer close(slow.release)
	srv, err := New(Config{RequestTimeout: 100 * time.Millisecond}, f.list, slow, nil2reg(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec := serve(srv, "/v1/views/revenue")
	if rec.code != 504 || time.Since(start) > 5*time.Second {
		t.Errorf("%d after %s: %s", rec.code, time.Since(start), rec.body)
	}
}

func TestMetricsAndOpenAPI(t *testing.T) {
	f := newFixture(t, Config{})
	first := f.get(t, "/v1/views/revenue")
	again := f.get(t, "/v1/views/revenue")
	if !reflect.DeepEqual(first.rows(t), again.rows(t)) {
		t.Errorf("cached answer differs")
	}
	f.get(t, "/v1/views/nope")
	r := f.get(t, "/metrics")
	for _, want := range []string{
		`tidemark_api_request_duration_seconds_count{code="200",route="GET /v1/views/{name}"} 2`,
		`tidemark_api_answer_cache_total{result="recent"} 1`,
		`tidemark_api_request_duration_seconds_count{code="404",route="GET /v1/views/{name}"} 1`,
		`tidemark_api_snapshot_cache_total{result="miss"} 1`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	r = f.get(t, "/openapi.json")
	var doc struct {
		Paths map[string]map[string]any
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range openAPIPaths {
		if _, ok := doc.Paths[p]["get"]; !ok {
			t.Errorf("openapi lacks GET %s", p)
		}
	}
	// Every path the API serves is documented: probe the mux with each.
	for p := range doc.Paths {
		probe := strings.NewReplacer("{name}", "revenue", "{table}", "shop.customers", "{pk}", "1").Replace(p)
		if r := f.get(t, probe); r.code == 404 && strings.Contains(string(r.body), "no route") {
			t.Errorf("documented %s is not routed", p)
		}
	}
	if len(doc.Paths) != len(openAPIPaths)+len(adminOpenAPIPaths) {
		t.Errorf("%d documented paths, %d known", len(doc.Paths), len(openAPIPaths)+len(adminOpenAPIPaths))
	}
}

func TestHeadAndDashboard(t *testing.T) {
	f := newFixture(t, Config{})
	res, err := f.ts.Client().Head(f.ts.URL + "/v1/views/revenue")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("ETag") == "" {
		t.Errorf("HEAD %d %v", res.StatusCode, res.Header)
	}
	r := f.get(t, "/")
	if r.code != 200 || !strings.Contains(string(r.body), "/assets/app.js") {
		t.Errorf("dashboard %d", r.code)
	}
	for _, asset := range []string{"/assets/app.js", "/assets/style.css"} {
		if r := f.get(t, asset); r.code != 200 || strings.Contains(string(r.body), "http://") && asset == "/assets/style.css" {
			t.Errorf("%s: %d", asset, r.code)
		}
	}
	// No external resources: the machine serving dashboards may be offline.
	for _, asset := range []string{"/", "/assets/app.js", "/assets/style.css"} {
		body := string(f.get(t, asset).body)
		for _, bad := range []string{"https://", "//cdn", "googleapis"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s references %q", asset, bad)
			}
		}
	}
}

type recorded struct {
	code int
	body []byte
}

func serve(srv *Server, path string) recorded {
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return recorded{code: w.Code, body: w.Body.Bytes()}
}

func nil2reg() *prometheus.Registry { return prometheus.NewRegistry() }

// Query (what `tidemark query` prints) is byte for byte the API's body.
func TestQueryEqualsAPI(t *testing.T) {
	f := newFixture(t, Config{})
	now := time.Now()
	f.srv.now = func() time.Time { return now } // lag_ms is part of the body
	for _, q := range []string{"group_by=status", "join=customers:customer_id&format=csv", "format=gviz"} {
		params, _ := url.ParseQuery(q)
		var buf strings.Builder
		if err := f.srv.Query(context.Background(), "revenue", params, &buf); err != nil {
			t.Fatal(err)
		}
		if api := f.get(t, "/v1/views/revenue?"+q); buf.String() != string(api.body) {
			t.Errorf("%s:\nQuery %s\nAPI   %s", q, buf.String(), api.body)
		}
	}
	err := f.srv.Query(context.Background(), "revenue", url.Values{"limit": {"x"}}, io.Discard)
	var qe *QueryError
	if !errors.As(err, &qe) || qe.Status != 400 || qe.Param != "limit" {
		t.Errorf("bad limit: %#v", err)
	}
	if err := f.srv.Query(context.Background(), "nope", nil, io.Discard); !errors.As(err, &qe) || qe.Status != 404 {
		t.Errorf("unknown view: %v", err)
	}
}
