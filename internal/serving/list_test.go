package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
	"github.com/tidemark/tidemark/reporting"
)

// TestListMirror pages through a mirror with a composite primary key on
// real Redis and on a Redis Cluster while a writer changes it (updates,
// inserts, deletes, and a new generation published mid-way): every row the
// writer never touches is listed exactly once, no key twice, pages are in
// key order and each holds one state (the two rows every transaction
// writes together agree); once the writer stops, a listing equals the
// written state exactly.
func TestListMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis")
	}
	t.Run("redis", func(t *testing.T) { testListMirror(t, stack.Redis(t).Client(t)) })
	t.Run("cluster", func(t *testing.T) { testListMirror(t, stack.RedisCluster(t).Client(t)) })
}

func testListMirror(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	typ := func(s string) formats.Type {
		ty, err := formats.ParseColumnType(s)
		if err != nil {
			t.Fatal(err)
		}
		return ty
	}
	schema := &formats.TableSchema{
		Table: formats.TableID{DB: "shop", Table: "accounts"},
		Columns: []formats.Column{
			{Name: "region", Type: typ("varchar(8)")},
			{Name: "id", Type: typ("bigint")},
			{Name: "name", Type: typ("varchar(40)")},
		},
		PK: []int{0, 1},
	}
	v, err := formats.ParseView(formats.ViewSpec{Name: "accounts", From: "shop.accounts", Mirror: true})
	if err != nil {
		t.Fatal(err)
	}
	bv, err := v.Bind(schema)
	if err != nil {
		t.Fatal(err)
	}
	st := redisview.New(rdb, redisview.Options{})
	layout := redisview.MirrorFingerprint(bv)

	// state is what the writer has committed: key text → name.
	key := func(region string, id int64) string { return fmt.Sprintf("%s/%d", region, id) }
	state := map[string]formats.Row{}
	var batch []redisview.MirrorBatchRow
	for _, region := range []string{"ap", "eu", "us"} {
		for id := int64(1); id <= 200; id++ {
			name := fmt.Sprintf("n%d", id)
			if id%10 == 5 {
				name = fmt.Sprintf("n%d", id-5) // a pair (10j, 10j+5) starts alike
			}
			row := formats.Row{region, id, name}
			state[key(region, id)] = row
			pk, err := bv.MirrorKey(row)
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, redisview.MirrorBatchRow{PK: string(pk), Values: redisview.AppendMirrorRow(nil, bv, row)})
		}
	}
	load := func(gen uint64, cut formats.Position) {
		t.Helper()
		rows := batch
		if gen > 0 {
			rows = nil
			for _, row := range state {
				pk, _ := bv.MirrorKey(row)
				rows = append(rows, redisview.MirrorBatchRow{PK: string(pk), Values: redisview.AppendMirrorRow(nil, bv, row)})
			}
		}
		seq := func(yield func(redisview.MirrorBatchRow, error) bool) {
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
		}
		if err := st.LoadMirrorBatch(ctx, "accounts", gen, seq); err != nil {
			t.Fatal(err)
		}
		if err := st.PublishMirror(ctx, "accounts", layout, gen, cut, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	pos := func(n int) formats.Position { return formats.Position{File: "bin.000001", Offset: uint32(1000 + n)} }
	if err := st.Reset(ctx, "accounts"); err != nil {
		t.Fatal(err)
	}
	load(0, pos(0))

	// The hot rows: ids divisible by 5 (and new ids above 1000) are the
	// writer's; every other row is cold.
	hot := func(id int64) bool { return id%5 == 0 || id > 1000 }
	srv, err := reporting.New(reporting.Config{MaxRows: 1000}, []*formats.BoundView{bv}, New(st, []*formats.BoundView{bv}), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	var mu sync.Mutex        // guards state
	var written atomic.Int64 // transactions applied
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		writerDone <- func() error {
			for n := 1; ; n++ {
				select {
				case <-stop:
					return nil
				default:
				}
				// One transaction updates the pair of rows 10j and 10j+5 of
				// a region alike, and inserts or deletes a row above 1000.
				region := []string{"ap", "eu", "us"}[n%3]
				j := int64(1 + n%19)
				a := formats.Row{region, 10 * j, fmt.Sprintf("t%d", n)}
				a2 := formats.Row{region, 10*j + 5, fmt.Sprintf("t%d", n)}
				b := formats.Row{region, int64(1000 + n%50), fmt.Sprintf("t%d", n)}
				var changes []redisview.MirrorChange
				mu.Lock()
				for i, row := range []formats.Row{a, a2, b} {
					pk, _ := bv.MirrorKey(row)
					c := redisview.MirrorChange{PK: string(pk), Version: pos(n), Row: redisview.AppendMirrorRow(nil, bv, row)}
					k := key(row[0].(string), row[1].(int64))
					if i == 2 && n%4 == 0 {
						c.Row = nil
						delete(state, k)
					} else {
						state[k] = row
					}
					changes = append(changes, c)
				}
				mu.Unlock()
				if err := st.ApplyMirror(ctx, redisview.MirrorApply{View: "accounts", Layout: layout, From: pos(n - 1), To: pos(n), ToTime: time.Now(), Rows: changes}); err != nil {
					return err
				}
				written.Store(int64(n))
				if n == 60 {
					mu.Lock()
					load(1, pos(n))
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}()

	type page struct {
		Rows []struct {
			Region string `json:"region"`
			ID     int64  `json:"id"`
			Name   string `json:"name"`
		} `json:"rows"`
		Next string `json:"next"`
	}
	get := func(path string) page {
		t.Helper()
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p page
		if res.StatusCode != 200 {
			t.Fatalf("%s: status %d", path, res.StatusCode)
		}
		if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Page until the writer has gone well past the publish of generation 1.
	for round := 0; round < 3 || written.Load() < 120; round++ {
		if round == 200 {
			t.Fatalf("the writer is stuck at %d transactions", written.Load())
		}
		seen := map[string]int{}
		path, pages := "/v1/views/accounts?limit=37", 0
		var last string
		for path != "" {
			p := get(path)
			pages++
			byKey := map[string]string{}
			for _, r := range p.Rows {
				k := key(r.Region, r.ID)
				seen[k]++
				order := fmt.Sprintf("%s/%020d", r.Region, r.ID)
				if order <= last {
					t.Fatalf("page %d: %s after %s: not in key order", pages, k, last)
				}
				last = order
				byKey[k] = r.Name
				if !hot(r.ID) && r.Name != fmt.Sprintf("n%d", r.ID) {
					t.Fatalf("cold row %s reads %q", k, r.Name)
				}
			}
			// One state per page: a pair written by one transaction reads
			// alike whenever both of its rows are on the page.
			for k, name := range byKey {
				var region string
				var id int64
				fmt.Sscanf(k, "%2s/%d", &region, &id)
				if id%10 == 0 && id > 0 && id < 200 {
					if other, ok := byKey[key(region, id+5)]; ok && other != name {
						t.Fatalf("page %d: %s reads %q but %s reads %q: half a transaction", pages, k, name, key(region, id+5), other)
					}
				}
			}
			path = p.Next
			time.Sleep(2 * time.Millisecond)
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("round %d: %s listed %d times", round, k, n)
			}
		}
		for _, region := range []string{"ap", "eu", "us"} {
			for id := int64(1); id <= 200; id++ {
				if !hot(id) && seen[key(region, id)] != 1 {
					t.Fatalf("round %d: cold row %s missed", round, key(region, id))
				}
			}
		}
		if pages < 10 {
			t.Fatalf("round %d: %d pages; the test should page", round, pages)
		}
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	p := get("/v1/views/accounts?limit=1000")
	if p.Next != "" {
		t.Fatalf("a listing within the limit has a next link %q", p.Next)
	}
	var got, want []string
	for _, r := range p.Rows {
		got = append(got, fmt.Sprintf("%s=%s", key(r.Region, r.ID), r.Name))
	}
	for k, row := range state {
		want = append(want, fmt.Sprintf("%s=%s", k, row[2]))
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("final listing differs from the written state:\n got %d rows\nwant %d rows", len(got), len(want))
	}
}
