package batch

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

func TestSubsetRebuild(t *testing.T) {
	store, _ := lake.OpenDir(t.TempDir())
	testSubsetRebuild(t, store)
}

func TestSubsetRebuildOnMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	ctx := context.Background()
	m := stack.MinIO(t)
	store, err := lake.Open(ctx, "s3://"+m.Bucket+"/subset", lake.S3Options{
		Endpoint: m.Endpoint, Region: m.Region, PathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	testSubsetRebuild(t, store)
}

// testSubsetRebuild: generation 1 rebuilds only shop.events; shop.orders
// (with its history and views) is carried from generation 0 by reference,
// exact at generation 0's cut, and not published again. Generation 2, a
// full rebuild, rolls orders forward from that older position and is
// exact. Retention (Keep 2) retires generation 0 but keeps the folders
// generation 1 still names, and drops them once no kept manifest does.
func testSubsetRebuild(t *testing.T, store lake.Store) {
	ctx := context.Background()
	m := newModel(7)
	for range 30 {
		m.step()
	}
	pub := &recordingPublisher{}
	opts := testOptions(pub) // Keep: 2
	g0, err := Rebuild(ctx, store, m, opts)
	if err != nil {
		t.Fatal(err)
	}

	for range 60 {
		m.step()
	}
	archive(t, store, m, m.txns[29].Pos)
	sub := opts
	sub.Only = []formats.TableID{eventsID}
	pub.calls = nil
	g1, err := Rebuild(ctx, store, nil, sub)
	if err != nil {
		t.Fatal(err)
	}
	if g1.Cut == g0.Cut {
		t.Fatal("generation 1 did not move past generation 0's cut: the test proves nothing")
	}
	byTable := func(g *Generation) map[string]TableSnapshot {
		out := map[string]TableSnapshot{}
		for _, ts := range g.Tables {
			out[ts.Table] = ts
		}
		return out
	}
	tabs := byTable(g1)
	if len(tabs) != 2 {
		t.Fatalf("generation 1 lists %d tables, want every table (2)", len(tabs))
	}
	orders, events := tabs["shop.orders"], tabs["shop.events"]
	if orders.Cut != g0.Cut || orders.CarriedFrom != 0 || orders.Prefix != byTable(g0)["shop.orders"].Prefix ||
		!reflect.DeepEqual(orders.Files, byTable(g0)["shop.orders"].Files) {
		t.Fatalf("carried orders: %+v", orders)
	}
	if events.Cut != "" || !strings.HasSuffix(events.Prefix, "gen=1") {
		t.Fatalf("rebuilt events: %+v", events)
	}
	c0, _ := g0.CutPosition()
	c1, _ := g1.CutPosition()
	wantOrders := slices.Collect(maps.Values(m.stateAt(c0).orders))
	if got := readTable(t, store, orders); !reflect.DeepEqual(sortedRows(ordersSchema, got), sortedRows(ordersSchema, wantOrders)) {
		t.Fatalf("carried orders: %d rows, want the %d of generation 0's cut", len(got), len(wantOrders))
	}
	if got := readTable(t, store, events); !reflect.DeepEqual(sortedRows(eventsSchema, got), sortedRows(eventsSchema, m.stateAt(c1).events)) {
		t.Fatalf("rebuilt events: %d rows, want %d", len(got), len(m.stateAt(c1).events))
	}
	if len(g1.Histories) != 1 || g1.Histories[0].Cut != g0.Cut || !strings.HasSuffix(g1.Histories[0].Prefix, "gen=0") {
		t.Fatalf("carried history: %+v", g1.Histories)
	}
	views := map[string]ViewSnapshot{}
	for _, v := range g1.Views {
		views[v.View] = v
	}
	if v := views["revenue_by_day"]; v.Cut != g0.Cut || !strings.HasSuffix(v.Prefix, "gen=0") {
		t.Fatalf("carried view: %+v", v)
	}
	if v := views["event_kinds"]; v.Cut != "" || !strings.HasSuffix(v.Prefix, "gen=1") {
		t.Fatalf("recomputed view: %+v", v)
	}
	for _, c := range pub.calls {
		if strings.Contains(c, "revenue_by_day") || strings.Contains(c, "orders_mirror") {
			t.Errorf("a view of the carried table was published again: %q", c)
		}
	}
	if !slices.Contains(pub.calls, "load event_kinds 1") {
		t.Errorf("the rebuilt table's view was not published: %q", pub.calls)
	}
	// A table the batch does not rebuild is refused.
	bad := opts
	bad.Only = []formats.TableID{{DB: "shop", Table: "nope"}}
	if _, err := Rebuild(ctx, store, nil, bad); err == nil || !strings.Contains(err.Error(), "not among the batch tables") {
		t.Fatalf("subset of an unknown table: %v", err)
	}

	// Generation 2 (full): orders rolled forward from generation 0's cut.
	for range 60 {
		m.step()
	}
	archive(t, store, m, m.txns[29].Pos)
	g2, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkGeneration(t, store, g2, m)
	count := func(prefix string) int {
		objs, err := store.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	if gens, _ := Generations(ctx, store); !reflect.DeepEqual(gens, []uint64{1, 2}) {
		t.Fatalf("generations %v, want [1 2]", gens)
	}
	for _, p := range []string{"tables/shop/orders/gen=0/", "history/shop/orders/gen=0/", "views/revenue_by_day/gen=0/"} {
		if count(p) == 0 {
			t.Errorf("%s was retired while generation 1 still names it", p)
		}
	}
	if n := count("tables/shop/events/gen=0/"); n != 0 {
		t.Errorf("tables/shop/events/gen=0/ has %d objects: generation 0's own folder survived its retirement", n)
	}
	// Generation 3 retires generation 1: nothing names generation 0's
	// folders any more.
	g3, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkGeneration(t, store, g3, m)
	for _, p := range []string{"tables/shop/orders/gen=0/", "history/shop/orders/gen=0/", "views/revenue_by_day/gen=0/", "tables/shop/events/gen=1/"} {
		if n := count(p); n != 0 {
			t.Errorf("%s still has %d objects after the last generation naming it retired", p, n)
		}
	}
}
