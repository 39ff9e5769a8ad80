package serving

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/scheduler"
)

// TestFencedStore: a holder's lake writes pass while it holds the lease
// and are refused (ErrFenced) once another process took it over; nothing
// lands.
func TestFencedStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis")
	}
	rdb := stack.Redis(t).Client(t)
	ctx := context.Background()
	st, err := lake.Open(ctx, "file://"+t.TempDir(), lake.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := scheduler.NewElector(scheduler.ElectorOptions{Redis: rdb, Name: "lease:lake", Holder: "node-a", TTL: 30 * time.Second})
	b := scheduler.NewElector(scheduler.ElectorOptions{Redis: rdb, Name: "lease:lake", Holder: "node-b", TTL: 30 * time.Second})
	err = a.RunOnce(ctx, func(ctx context.Context) error {
		f := NewFenced(a.Fence())
		fs := f.Store(st)
		if err := fs.Put(ctx, "tables/shop/orders/gen=1/part-0.parquet", strings.NewReader("x")); err != nil {
			return err
		}
		// The lease expires; b takes it and holds it.
		rdb.Del(ctx, "tm:{job:lease:lake}:lease")
		held, release := make(chan struct{}), make(chan struct{})
		go func() {
			_ = b.RunOnce(context.Background(), func(context.Context) error { close(held); <-release; return nil })
		}()
		<-held
		defer close(release)
		if err := fs.Put(ctx, "_generations/00000000000000000001.json", strings.NewReader("{}")); !errors.Is(err, scheduler.ErrFenced) {
			t.Errorf("manifest write by the old holder: %v, want ErrFenced", err)
		}
		if err := fs.Delete(ctx, "tables/shop/orders/gen=1/part-0.parquet"); !errors.Is(err, scheduler.ErrFenced) {
			t.Errorf("delete by the old holder: %v, want ErrFenced", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := st.List(ctx, "_generations/")
	if err != nil || len(objs) != 0 {
		t.Errorf("the fenced manifest landed: %v %v", objs, err)
	}
	if objs, _ := st.List(ctx, "tables/"); len(objs) != 1 {
		t.Errorf("the holder's write before the takeover: %v", objs)
	}
}
