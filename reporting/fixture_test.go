package reporting

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/formats"
)

// The fixture: shop.orders and shop.customers, an aggregate view over
// orders and a customers mirror.

func mustType(t testing.TB, s string) formats.Type {
	t.Helper()
	ty, err := formats.ParseColumnType(s)
	if err != nil {
		t.Fatalf("type %q: %v", s, err)
	}
	return ty
}

func ordersSchema(t testing.TB) *formats.TableSchema {
	return &formats.TableSchema{
		Table: formats.TableID{DB: "shop", Table: "orders"},
		Columns: []formats.Column{
			{Name: "id", Type: mustType(t, "bigint")},
			{Name: "customer_id", Type: mustType(t, "int"), Nullable: true},
			{Name: "status", Type: mustType(t, "varchar(20)")},
			{Name: "amount", Type: mustType(t, "decimal(10,2)"), Nullable: true},
			{Name: "weight", Type: mustType(t, "double"), Nullable: true},
			{Name: "created_at", Type: mustType(t, "datetime")},
		},
		PK: []int{0},
	}
}

func customersSchema(t testing.TB) *formats.TableSchema {
	return &formats.TableSchema{
		Table: formats.TableID{DB: "shop", Table: "customers"},
		Columns: []formats.Column{
			{Name: "id", Type: mustType(t, "int")},
			{Name: "name", Type: mustType(t, "varchar(40)")},
			{Name: "country", Type: mustType(t, "char(2)")},
		},
		PK: []int{0},
	}
}

var fixtureSpecs = []formats.ViewSpec{
	{Name: "revenue", From: "shop.orders", Where: "status <> 'cancelled'",
		GroupBy:  []string{"day(created_at) AS day", "status", "customer_id"},
		Measures: []string{"count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount", "sum(weight) AS weight", "avg(weight) AS avg_weight"}},
	// The same measures grouped by status alone: what re-aggregating
	// revenue to group_by=status must equal exactly.
	{Name: "revenue_by_status", From: "shop.orders", Where: "status <> 'cancelled'",
		GroupBy:  []string{"status"},
		Measures: []string{"count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount", "sum(weight) AS weight", "avg(weight) AS avg_weight"}},
	{Name: "customers", From: "shop.customers", Mirror: true},
}

type fixture struct {
	views  map[string]*formats.BoundView
	list   []*formats.BoundView
	store  *memStore
	srv    *Server
	ts     *httptest.Server
	reg    *prometheus.Registry
	orders []formats.Row
}

func bindViews(t testing.TB, specs []formats.ViewSpec) (map[string]*formats.BoundView, []*formats.BoundView) {
	t.Helper()
	schemas := map[string]*formats.TableSchema{"shop.orders": ordersSchema(t), "shop.customers": customersSchema(t)}
	m := map[string]*formats.BoundView{}
	var list []*formats.BoundView
	for _, sp := range specs {
		v, err := formats.ParseView(sp)
		if err != nil {
			t.Fatalf("view %s: %v", sp.Name, err)
		}
		bv, err := v.Bind(schemas[sp.From])
		if err != nil {
			t.Fatalf("binding %s: %v", sp.Name, err)
		}
		m[sp.Name] = bv
		list = append(list, bv)
	}
	return m, list
}

func dec(s string) any {
	if s == "" {
		return nil
	}
	return formats.Decimal(s)
}

func day(s string) time.Time {
	tm, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return tm
}

// fixtureOrders is a small hand-checkable data set.
func fixtureOrders() []formats.Row {
	return []formats.Row{
		{int64(1), int64(1), "paid", dec("10.00"), 1.5, day("2024-03-01 10:00:00")},
		{int64(2), int64(1), "paid", dec("20.00"), 2.5, day("2024-03-01 11:00:00")},
		{int64(3), int64(2), "paid", dec("30.00"), nil, day("2024-03-01 12:00:00")},
		{int64(4), int64(2), "shipped", dec("5.55"), 0.25, day("2024-03-02 09:00:00")},
		{int64(5), int64(3), "shipped", nil, 1.0, day("2024-03-02 10:00:00")},
		{int64(6), nil, "paid", dec("7.01"), 3.0, day("2024-03-03 10:00:00")},
		{int64(7), int64(3), "cancelled", dec("99.99"), 9.0, day("2024-03-03 11:00:00")},
		{int64(8), int64(4), "paid", dec("0.01"), 0.125, day("2024-03-04 08:00:00")},
	}
}

func fixtureCustomers() []formats.Row {
	return []formats.Row{
		{int64(1), "Ada", "GB"},
		{int64(2), "Grace", "US"},
		{int64(3), "Linus", "FI"},
		// customer 4 is not mirrored: a join leaves its columns NULL.
	}
}

func pos(off uint32) formats.Position {
	return formats.Position{File: "mariadb-bin.000001", Offset: off, GTID: fmt.Sprintf("0-1-%d", off)}
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	views, list := bindViews(t, fixtureSpecs)
	st := newMemStore()
	f := &fixture{views: views, list: list, store: st, orders: fixtureOrders()}
	fresh := Freshness{Generation: 3, Cut: pos(100), CutTime: time.Now().Add(-time.Minute), SpeedPosition: pos(200), SpeedTime: time.Now().Add(-1500 * time.Millisecond)}
	for _, name := range []string{"revenue", "revenue_by_status"} {
		st.setAgg(t, views[name], fresh, f.orders)
	}
	st.setMirror(t, views["customers"], fresh, fixtureCustomers())
	f.reg = prometheus.NewRegistry()
	srv, err := New(cfg, list, st, f.reg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.srv = srv
	f.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// memStore is an in-memory ViewStore: a unit-test double for the HTTP
// behaviour only. Its groups come from the real view evaluator
// (BoundView.AccumulateRow), so answers are what the speed layer would
// store. The Redis-backed tests are in redis_test.go.
type memStore struct {
	mu      sync.Mutex
	aggs    map[string]AggSnapshot
	mirrors map[string]*memMirror
	fail    error
	// aggGate, when set, holds every ReadAgg until it is closed.
	aggGate chan struct{}

	metaCalls, aggCalls, mirrorCalls atomic.Int64
}

type memMirror struct {
	bv    *formats.BoundView
	fresh Freshness
	rows  map[formats.GroupKey]formats.Row
}

func newMemStore() *memStore {
	return &memStore{aggs: map[string]AggSnapshot{}, mirrors: map[string]*memMirror{}}
}

func (m *memStore) setAgg(t testing.TB, bv *formats.BoundView, fresh Freshness, rows []formats.Row) {
	t.Helper()
	d := formats.Delta{}
	for _, r := range rows {
		if err := bv.AccumulateRow(r, 1, d); err != nil {
			t.Fatal(err)
		}
	}
	snap := AggSnapshot{Freshness: fresh}
	for k, a := range d {
		if a.Count > 0 {
			snap.Groups = append(snap.Groups, Group{Key: k, Agg: a})
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.aggs[bv.View().Name] = snap
}

func (m *memStore) setMirror(t testing.TB, bv *formats.BoundView, fresh Freshness, rows []formats.Row) {
	t.Helper()
	mm := &memMirror{bv: bv, fresh: fresh, rows: map[formats.GroupKey]formats.Row{}}
	for _, r := range rows {
		k, err := bv.EncodeKey([]any{r[0]})
		if err != nil {
			t.Fatal(err)
		}
		mm.rows[k] = r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mirrors[bv.View().Name] = mm
}

func (m *memStore) Meta(ctx context.Context, view string) (Freshness, error) {
	m.metaCalls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return Freshness{}, m.fail
	}
	if a, ok := m.aggs[view]; ok {
		return a.Freshness, nil
	}
	if mm, ok := m.mirrors[view]; ok {
		return mm.fresh, nil
	}
	return Freshness{}, fmt.Errorf("view %s: %w", view, ErrNotReady)
}

func (m *memStore) ReadAgg(ctx context.Context, view string) (AggSnapshot, error) {
	m.aggCalls.Add(1)
	m.mu.Lock()
	gate := m.aggGate
	m.mu.Unlock()
	if gate != nil {
		<-gate
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return AggSnapshot{}, m.fail
	}
	a, ok := m.aggs[view]
	if !ok {
		return AggSnapshot{}, fmt.Errorf("view %s: %w", view, ErrNotReady)
	}
	return a, nil
}

func (m *memStore) ReadMirror(ctx context.Context, view string, pks []formats.Row) (MirrorRows, error) {
	m.mirrorCalls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, ok := m.mirrors[view]
	if !ok {
		return MirrorRows{}, fmt.Errorf("mirror %s: %w", view, ErrNotReady)
	}
	out := MirrorRows{Freshness: mm.fresh, Rows: make([]formats.Row, len(pks))}
	for i, pk := range pks {
		k, err := mm.bv.EncodeKey(pk)
		if err != nil {
			return MirrorRows{}, err
		}
		out.Rows[i] = mm.rows[k]
	}
	return out, nil
}

// ListMirror implements MirrorLister.
func (m *memStore) ListMirror(ctx context.Context, view string) (MirrorRows, error) {
	m.mirrorCalls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	mm, ok := m.mirrors[view]
	if !ok {
		return MirrorRows{}, fmt.Errorf("mirror %s: %w", view, ErrNotReady)
	}
	out := MirrorRows{Freshness: mm.fresh}
	for _, r := range mm.rows {
		out.Rows = append(out.Rows, r)
	}
	return out, nil
}

// HTTP helpers.

type response struct {
	code int
	hdr  http.Header
	body []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
	return m
}

func (f *fixture) get(t testing.TB, path string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest("GET", f.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: res.StatusCode, hdr: res.Header, body: b}
}

// rows returns the answer's rows with every value as its JSON text.
func (r response) rows(t testing.TB) []map[string]string {
	t.Helper()
	var body struct {
		Rows []map[string]json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
	out := make([]map[string]string, len(body.Rows))
	for i, row := range body.Rows {
		out[i] = map[string]string{}
		for k, v := range row {
			out[i][k] = string(v)
		}
	}
	return out
}
