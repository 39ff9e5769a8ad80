package serving

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/redisview"
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

// checkThen is a fence whose first passing Check of number n runs inject
// before returning: the place where a process freezes between its lease
// check and its write.
type checkThen struct {
	scheduler.Fence
	n      int
	calls  int
	inject func()
}

func (f *checkThen) Check(ctx context.Context) error {
	err := f.Fence.Check(ctx)
	if f.calls++; err == nil && f.calls == f.n {
		f.inject()
	}
	return err
}

// TestZombieFlipRefusedByTheStore: the old holder's check before its flip
// passes, then (injected between the check and the write) its lease
// expires and the new holder takes it and loads the view: the old holder's
// flip reaches Redis and is refused there, by the token inside the publish
// script (scheduler.ErrFenced wrapping redisview.ErrStaleToken); nothing
// flips, and the new holder's publish goes through.
func TestZombieFlipRefusedByTheStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis")
	}
	rdb := stack.Redis(t).Client(t)
	ctx := context.Background()
	ty, err := formats.ParseColumnType("varchar(8)")
	if err != nil {
		t.Fatal(err)
	}
	schema := &formats.TableSchema{Table: formats.TableID{DB: "shop", Table: "orders"},
		Columns: []formats.Column{{Name: "status", Type: ty}}, PK: []int{0}}
	v := parseView(t, "by_status")
	if _, err := v.Bind(schema); err != nil {
		t.Fatal(err)
	}
	store := redisview.New(rdb, redisview.Options{})
	none := func(func(formats.GroupKey, *formats.Agg) bool) {}
	cut := formats.Position{File: "mariadb-bin.000001", Offset: 400}

	a := scheduler.NewElector(scheduler.ElectorOptions{Redis: rdb, Name: "lease:lake", Holder: "node-a", TTL: 30 * time.Second})
	b := scheduler.NewElector(scheduler.ElectorOptions{Redis: rdb, Name: "lease:lake", Holder: "node-b", TTL: 30 * time.Second})
	held, release := make(chan struct{}), make(chan struct{})
	bDone := make(chan error, 1)
	var bPub batch.Publisher
	err = a.RunOnce(ctx, func(ctx context.Context) error {
		zf := &checkThen{Fence: a.Fence(), n: 2, inject: func() {
			rdb.Del(ctx, "tm:{job:lease:lake}:lease") // a's lease expires
			go func() {
				bDone <- b.RunOnce(context.Background(), func(ctx context.Context) error {
					bPub = NewFenced(b.Fence()).Publisher(Publisher{Store: store})
					if err := bPub.LoadBatch(ctx, v, 1, none); err != nil {
						return err
					}
					close(held)
					<-release
					return bPub.PublishAgg(ctx, v, 1, cut, 0, time.Unix(2, 0))
				})
			}()
			<-held
		}}
		zp := NewFenced(zf).Publisher(Publisher{Store: store})
		if err := zp.LoadBatch(ctx, v, 1, none); err != nil {
			return err
		}
		err := zp.PublishAgg(ctx, v, 1, cut, 0, time.Unix(1, 0))
		if !errors.Is(err, scheduler.ErrFenced) || !errors.Is(err, redisview.ErrStaleToken) {
			t.Errorf("the zombie's flip after a passed check: %v, want ErrFenced from the store (ErrStaleToken)", err)
		}
		if zf.calls != 2 {
			t.Errorf("%d checks, want 2 (the injection did not run)", zf.calls)
		}
		if m, err := store.Meta(ctx, "by_status"); err == nil && m.Published {
			t.Errorf("the zombie's flip landed: %+v", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-bDone; err != nil {
		t.Fatalf("the new holder: %v", err)
	}
	m, err := store.Meta(ctx, "by_status")
	if err != nil || !m.Published || m.Generation != 1 || !m.CutTime.Equal(time.Unix(2, 0)) {
		t.Fatalf("after the new holder's publish: %+v %v", m, err)
	}
}
