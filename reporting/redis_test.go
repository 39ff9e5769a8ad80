package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// redisStore adapts redisview.Store to ViewStore, as cmd/tidemark does
// (this copy is test-only: reporting never imports realtime).
type redisStore struct {
	st    *redisview.Store
	views map[string]*formats.BoundView
}

func freshnessOf(m redisview.Meta) Freshness {
	return Freshness{Generation: m.Generation, Cut: m.Cut, CutTime: m.CutTime, SpeedPosition: m.Checkpoint}
}

func notReady(err error) error {
	if errors.Is(err, redisview.ErrStateMissing) {
		return fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	return err
}

func (a *redisStore) Meta(ctx context.Context, view string) (Freshness, error) {
	m, err := a.st.Meta(ctx, view)
	if err != nil {
		return Freshness{}, notReady(err)
	}
	return freshnessOf(m), nil
}

func (a *redisStore) ReadAgg(ctx context.Context, view string) (AggSnapshot, error) {
	snap, err := a.st.ReadAgg(ctx, a.views[view].View())
	if err != nil {
		return AggSnapshot{}, notReady(err)
	}
	out := AggSnapshot{Freshness: Freshness{Generation: snap.Generation, Cut: snap.Cut, CutTime: snap.CutTime, SpeedPosition: snap.Checkpoint}}
	for k, g := range snap.Groups {
		out.Groups = append(out.Groups, Group{Key: k, Agg: g})
	}
	return out, nil
}

// ReadMirror reads every key in one atomic step (ReadMirrors), so the
// rows of one answer come from one state.
func (a *redisStore) ReadMirror(ctx context.Context, view string, pks []formats.Row) (MirrorRows, error) {
	bv := a.views[view]
	cols := bv.Columns()
	keys := make([]string, len(pks))
	for i, pk := range pks {
		k, err := bv.EncodeKey(pk)
		if err != nil {
			return MirrorRows{}, err
		}
		keys[i] = string(k)
	}
	r, err := a.st.ReadMirrors(ctx, view, keys)
	if err != nil {
		return MirrorRows{}, notReady(err)
	}
	out := MirrorRows{Rows: make([]formats.Row, len(pks)),
		Freshness: Freshness{Generation: r.Generation, Cut: r.Cut, CutTime: r.CutTime, SpeedPosition: r.Checkpoint}}
	for i := range keys {
		if !r.Found[i] {
			continue
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(r.Rows[i].Values, &raw); err != nil || len(raw) != len(cols) {
			return MirrorRows{}, fmt.Errorf("decoding mirror %s row %s: %v", view, keys[i], err)
		}
		row := make(formats.Row, len(cols))
		for j, c := range cols {
			if row[j], err = formats.ParseJSON(c.Type, raw[j]); err != nil {
				return MirrorRows{}, fmt.Errorf("decoding mirror %s row %s: %w", view, keys[i], err)
			}
		}
		out.Rows[i] = row
	}
	return out, nil
}

// loadRedis publishes generation gen of every fixture view at cut from
// batch rows, then applies speed rows after the cut as one transaction.
func loadRedis(t testing.TB, st *redisview.Store, views map[string]*formats.BoundView, gen uint64, cut formats.Position, batch, speed []formats.Row, speedTo formats.Position) {
	t.Helper()
	ctx := context.Background()
	cutTime := time.Now().Add(-time.Minute)
	for _, name := range []string{"revenue", "revenue_by_status"} {
		bv := views[name]
		d := formats.Delta{}
		for _, r := range batch {
			if err := bv.AccumulateRow(r, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.LoadBatch(ctx, bv.View(), gen, maps.All(d)); err != nil {
			t.Fatal(err)
		}
		if err := st.PublishAgg(ctx, bv.View(), gen, cut, gen*10, cutTime); err != nil {
			t.Fatal(err)
		}
		if len(speed) > 0 {
			sd := formats.Delta{}
			for _, r := range speed {
				if err := bv.AccumulateRow(r, 1, sd); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.ApplyAgg(ctx, bv.View(), cut, speedTo, gen*10+1, []redisview.SegDelta{{Seg: gen*10 + 1, Delta: sd}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cb := views["customers"]
	rows := func(yield func(redisview.MirrorBatchRow, error) bool) {
		for _, r := range fixtureCustomers() {
			k, err := cb.MirrorKey(r)
			if !yield(redisview.MirrorBatchRow{PK: string(k), Values: redisview.AppendMirrorRow(nil, cb, r)}, err) {
				return
			}
		}
	}
	if err := st.LoadMirrorBatch(ctx, "customers", gen, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishMirror(ctx, "customers", redisview.MirrorFingerprint(cb), gen, cut, cutTime); err != nil {
		t.Fatal(err)
	}
}

type redisFixture struct {
	*fixture
	st    *redisview.Store
	views map[string]*formats.BoundView
}

func newRedisFixture(t testing.TB, cfg Config) *redisFixture {
	t.Helper()
	srv := stack.Redis(t)
	st := redisview.New(srv.Client(t), redisview.Options{})
	views, list := bindViews(t, fixtureSpecs)
	orders := fixtureOrders()
	loadRedis(t, st, views, 1, pos(100), orders[:5], orders[5:], pos(200))
	reg := prometheus.NewRegistry()
	s, err := New(cfg, list, &redisStore{st: st, views: views}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &redisFixture{fixture: &fixture{views: views, list: list, srv: s, ts: ts, reg: reg, orders: orders}, st: st, views: views}
}

// On real Redis (batch generation 1 ⊕ speed deltas after its cut), every
// answer equals the in-memory double's, which holds the same rows in one
// piece: the store merge and the API agree.
func TestRedisAnswersEqualMemory(t *testing.T) {
	rf := newRedisFixture(t, Config{})
	mem := newFixture(t, Config{})
	queries := []string{
		"", "status=paid", "group_by=status", "group_by=", "group_by=day&order=-revenue",
		"join=customers:customer_id", "join=customers:customer_id&group_by=customers.country",
		"customer_id.from=2&customer_id.to=3&format=csv", "format=gviz",
	}
	for _, q := range queries {
		got := rf.get(t, "/v1/views/revenue?"+q)
		want := mem.get(t, "/v1/views/revenue?"+q)
		if got.code != 200 || want.code != 200 {
			t.Fatalf("%s: %d %d %s", q, got.code, want.code, got.body)
		}
		var g, w string
		if got.hdr.Get("Content-Type") == "application/json" {
			g, w = fmt.Sprint(got.rows(t)), fmt.Sprint(want.rows(t))
		} else {
			g, w = string(got.body), string(want.body)
			if q == "format=gviz" { // freshness differs; compare the table
				g, w = fmt.Sprint(gvizRows(t, got.body)), fmt.Sprint(gvizRows(t, want.body))
			}
		}
		if g != w {
			t.Errorf("%s:\nredis  %s\nmemory %s", q, g, w)
		}
	}
	r := rf.get(t, "/v1/views/revenue").json(t)
	fr := r["freshness"].(map[string]any)
	if fr["generation"].(json.Number).String() != "1" || fr["cut"] != pos(100).String() || fr["speed_position"] != pos(200).String() {
		t.Errorf("freshness %v", fr)
	}
	if r := rf.get(t, "/v1/tables/shop.customers/rows/3"); r.code != 200 || r.rows(t)[0]["name"] != `"Linus"` {
		t.Errorf("row lookup %d %s", r.code, r.body)
	}
	if r := rf.get(t, "/v1/tables/shop.customers/rows/4"); r.code != 404 {
		t.Errorf("missing row %d %s", r.code, r.body)
	}
}

func gvizRows(t testing.TB, b []byte) any {
	var dt struct{ Cols, Rows any }
	if err := json.Unmarshal(b, &dt); err != nil {
		t.Fatal(err)
	}
	return dt
}

// The ETag follows the store: unchanged → 304 and no group read; a speed
// apply or a new generation → a new ETag and the new answer.
func TestRedisETagFollowsStore(t *testing.T) {
	rf := newRedisFixture(t, Config{MaxStaleness: -1}) // strict: the ETag follows every apply
	ctx := context.Background()
	r := rf.get(t, "/v1/views/revenue?group_by=status")
	etag := r.hdr.Get("ETag")
	if r := rf.get(t, "/v1/views/revenue?group_by=status", "If-None-Match", etag); r.code != 304 {
		t.Fatalf("unchanged: %d", r.code)
	}
	// One more paid order through the speed layer.
	extra := formats.Row{int64(9), int64(2), "paid", dec("2.98"), nil, day("2024-03-05 10:00:00")}
	bv := rf.views["revenue"]
	d := formats.Delta{}
	if err := bv.AccumulateRow(extra, 1, d); err != nil {
		t.Fatal(err)
	}
	if err := rf.st.ApplyAgg(ctx, bv.View(), pos(200), pos(300), 11, []redisview.SegDelta{{Seg: 11, Delta: d}}); err != nil {
		t.Fatal(err)
	}
	r = rf.get(t, "/v1/views/revenue?group_by=status", "If-None-Match", etag)
	if r.code != 200 || r.hdr.Get("ETag") == etag {
		t.Fatalf("after apply: %d %s", r.code, r.hdr.Get("ETag"))
	}
	if paid := r.rows(t)[0]; paid["revenue"] != `"70.00"` || paid["orders"] != "6" || paid["avg_amount"] != `"11.666667"` {
		t.Errorf("after apply: %v", paid)
	}
	// Generation 2 at a cut covering everything: the same answer, now from
	// the batch, and the freshness says so.
	all := append(fixtureOrders(), extra)
	before := r.rows(t)
	loadRedis(t, rf.st, rf.views, 2, pos(300), all, nil, formats.Position{})
	r = rf.get(t, "/v1/views/revenue?group_by=status")
	if !reflect.DeepEqual(r.rows(t), before) {
		t.Errorf("generation 2 %v, want %v", r.rows(t), before)
	}
	if g := r.json(t)["freshness"].(map[string]any)["generation"].(json.Number).String(); g != "2" {
		t.Errorf("generation %s", g)
	}
}

// While transactions keep arriving, every answer is exactly the answer of
// the state its freshness names: transaction k adds one paid order and
// renames every customer to "n<k>", so an answer at speed position k has
// base+k paid orders, and a join whose mirror is at position k shows the
// name "n<k>" and no other. Strict and with a staleness budget.
func TestRedisAnswersUnderWritesMatchTheirFreshness(t *testing.T) {
	for _, cfg := range []Config{{MaxStaleness: -1}, {MaxStaleness: 20 * time.Millisecond}} {
		t.Run(fmt.Sprint(cfg.MaxStaleness), func(t *testing.T) {
			rf := newRedisFixture(t, cfg)
			ctx := context.Background()
			offset := func(fr map[string]any) int {
				t.Helper()
				p, err := formats.ParsePosition(fr["speed_position"].(string))
				if err != nil {
					t.Fatal(err)
				}
				return int(p.Offset) - 200
			}
			paid := func(r response) int {
				t.Helper()
				for _, row := range r.rows(t) {
					if row["status"] == `"paid"` {
						n, err := strconv.Atoi(row["orders"])
						if err != nil {
							t.Fatal(err)
						}
						return n
					}
				}
				return 0
			}
			base := paid(rf.get(t, "/v1/views/revenue?group_by=status"))

			const txns = 120
			bv, cb := rf.views["revenue"], rf.views["customers"]
			done := make(chan error, 1)
			go func() {
				mirrorAt := pos(100)
				for k := 1; k <= txns; k++ {
					to := pos(uint32(200 + k))
					d := formats.Delta{}
					order := formats.Row{int64(1000 + k), int64(1), "paid", dec("1.00"), nil, day("2024-03-01 10:00:00")}
					if err := bv.AccumulateRow(order, 1, d); err != nil {
						done <- err
						return
					}
					if err := rf.st.ApplyAgg(ctx, bv.View(), pos(uint32(200+k-1)), to, 11, []redisview.SegDelta{{Seg: 11, Delta: d}}); err != nil {
						done <- err
						return
					}
					b := redisview.MirrorApply{View: "customers", Layout: redisview.MirrorFingerprint(cb), From: mirrorAt, To: to}
					for _, c := range fixtureCustomers() {
						c[1] = fmt.Sprintf("n%d", k)
						key, err := cb.MirrorKey(c)
						if err != nil {
							done <- err
							return
						}
						b.Rows = append(b.Rows, redisview.MirrorChange{PK: string(key), Row: redisview.AppendMirrorRow(nil, cb, c), Version: to})
					}
					if err := rf.st.ApplyMirror(ctx, b); err != nil {
						done <- err
						return
					}
					mirrorAt = to
				}
				done <- nil
			}()
			checked := 0
			for running := true; running; {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					running = false // one more round after the last write
				default:
				}
				r := rf.get(t, "/v1/views/revenue?group_by=status")
				if k := offset(r.json(t)["freshness"].(map[string]any)); paid(r) != base+k {
					t.Fatalf("answer at speed position +%d has %d paid orders, want %d", k, paid(r), base+k)
				}
				j := rf.get(t, "/v1/views/revenue?join=customers:customer_id&group_by=customers.name")
				body := j.json(t)
				km := offset(body["freshness"].(map[string]any)["mirrors"].(map[string]any)["customers"].(map[string]any))
				if km > 0 {
					for _, row := range j.rows(t) {
						if name := row["customers.name"]; name != "null" && name != fmt.Sprintf(`"n%d"`, km) {
							t.Fatalf("join with the mirror at +%d shows name %s (a mixed answer)", km, name)
						}
					}
				}
				checked++
			}
			t.Logf("%d answer pairs checked during %d transactions", checked, txns)
		})
	}
}
