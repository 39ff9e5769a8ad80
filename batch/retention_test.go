package batch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/internal/stack"
)

// failingList is a fault injector over a real store: the first List of a
// prefix containing match fails.
type failingList struct {
	lake.Store
	mu    sync.Mutex
	match string
	fired bool
}

var errInjected = errors.New("injected listing failure")

func (s *failingList) List(ctx context.Context, prefix string) ([]lake.Object, error) {
	s.mu.Lock()
	fire := !s.fired && s.match != "" && strings.Contains(prefix, s.match)
	if fire {
		s.fired = true
	}
	s.mu.Unlock()
	if fire {
		return nil, errInjected
	}
	return s.Store.List(ctx, prefix)
}

func (s *failingList) arm(match string) {
	s.mu.Lock()
	s.match, s.fired = match, false
	s.mu.Unlock()
}

func TestRetentionSurvivesAFailedListing(t *testing.T) {
	store, _ := lake.OpenDir(t.TempDir())
	testRetention(t, store)
}

func TestRetentionSurvivesAFailedListingOnMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	ctx := context.Background()
	m := stack.MinIO(t)
	store, err := lake.Open(ctx, "s3://"+m.Bucket+"/ret", lake.S3Options{
		Endpoint: m.Endpoint, Region: m.Region, PathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	testRetention(t, store)
}

// testRetention: a listing that fails while generation 0 retires leaves
// its manifest and files; the next rebuild retires it whole. A generation
// folder without a manifest below the oldest kept one is swept.
func testRetention(t *testing.T, base lake.Store) {
	ctx := context.Background()
	store := &failingList{Store: base}
	m := newModel(5)
	for range 30 {
		m.step()
	}
	opts := testOptions(nil) // Keep: 2
	if _, err := Rebuild(ctx, store, m, opts); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		m.step()
	}
	archive(t, base, m, m.txns[29].Pos)
	if _, err := Rebuild(ctx, store, nil, opts); err != nil {
		t.Fatal(err)
	}
	count := func(prefix string) int {
		objs, err := base.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	gen0 := count("tables/shop/orders/gen=0/")
	if gen0 == 0 {
		t.Fatal("generation 0 has no orders files")
	}
	// Generation 2 retires generation 0; the listing of its history fails.
	store.arm("history/shop/orders/gen=0/")
	g2, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !store.fired {
		t.Fatal("the injected failure never fired")
	}
	if gens, _ := Generations(ctx, base); len(gens) != 3 || gens[0] != 0 {
		t.Fatalf("after a failed retention listing: generations %v, want generation 0 kept for a retry", gens)
	}
	if n := count("tables/shop/orders/gen=0/"); n != gen0 {
		t.Fatalf("generation 0 has %d of its %d orders files after a failed listing: they were deleted before every listing succeeded", n, gen0)
	}
	// A folder of an unpublished generation below the oldest kept one
	// (as a manifest-first retention that failed used to leave).
	if err := base.Put(ctx, "views/revenue_by_day/gen=1/part-99999.parquet", strings.NewReader("orphan")); err != nil {
		t.Fatal(err)
	}
	if err := base.Put(ctx, "tables/shop/gone/gen=0/part-00000.parquet", strings.NewReader("orphan")); err != nil {
		t.Fatal(err)
	}
	store.arm("")
	g3, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if gens, _ := Generations(ctx, base); len(gens) != 2 || gens[0] != g2.Generation || gens[1] != g3.Generation {
		t.Fatalf("generations %v, want [2 3]", gens)
	}
	for _, p := range []string{"tables/shop/orders/gen=0/", "history/shop/orders/gen=0/", "tables/shop/gone/", "tables/shop/orders/gen=1/",
		"views/revenue_by_day/gen=0/", "views/revenue_by_day/gen=1/"} {
		if n := count(p); n != 0 {
			t.Errorf("%s still has %d objects", p, n)
		}
	}
	for _, p := range []string{"tables/shop/orders/gen=2/", "tables/shop/orders/gen=3/", "views/revenue_by_day/gen=3/"} {
		if count(p) == 0 {
			t.Errorf("%s is empty: a kept generation lost its files", p)
		}
	}
}
