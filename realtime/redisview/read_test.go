package redisview

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// TestReadMirrorsMatchesReadMirror holds the many-key read against the
// one-key read on every kind of key: published only, changed after the cut,
// changed before a later cut (ignored), deleted, and absent.
func TestReadMirrorsMatchesReadMirror(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	const v, layout = "customers", "id:bigint,name:varchar"
	if _, err := s.ReadMirrors(ctx, v, []string{"1"}); !errors.Is(err, ErrStateMissing) {
		t.Fatalf("read before bootstrap: %v", err)
	}
	if err := s.LoadMirrorBatch(ctx, v, 0, batchRows(
		MirrorBatchRow{PK: "1", Values: []byte(`[1,"ann"]`)},
		MirrorBatchRow{PK: "2", Values: []byte(`[2,"bob"]`)},
		MirrorBatchRow{PK: "3", Values: []byte(`[3,"cy"]`)},
	)); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishMirror(ctx, v, layout, 0, pos(100), time.Unix(100, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyMirror(ctx, MirrorApply{View: v, Layout: layout, From: pos(100), To: pos(200), Rows: []MirrorChange{
		{PK: "1", Row: []byte(`[1,"ann2"]`), Version: pos(150)},
		{PK: "2", Version: pos(160)},
		{PK: "4", Row: []byte(`[4,"dee"]`), Version: pos(170)},
		{PK: "5", Row: []byte(`[5,"eve"]`), Version: pos(180)},
	}}); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		keys := []string{"1", "2", "3", "4", "5", "6", "1"}
		got, err := s.ReadMirrors(ctx, v, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			want, err := s.ReadMirror(ctx, v, k)
			if err != nil {
				t.Fatal(err)
			}
			if got.Found[i] != want.Found || string(got.Rows[i].Values) != string(want.Row.Values) ||
				got.Rows[i].Version != want.Row.Version || (want.Found && got.Rows[i].PK != k) {
				t.Errorf("%s: key %s: ReadMirrors %v %s@%s, ReadMirror %v %s@%s", stage, k,
					got.Found[i], got.Rows[i].Values, got.Rows[i].Version, want.Found, want.Row.Values, want.Row.Version)
			}
			if got.Generation != want.Generation || got.Cut != want.Cut || got.Checkpoint != want.Checkpoint {
				t.Errorf("%s: freshness %d %s %s, ReadMirror %d %s %s", stage, got.Generation, got.Cut, got.Checkpoint,
					want.Generation, want.Cut, want.Checkpoint)
			}
		}
	}
	check("after apply")
	// Generation 1 at cut 175 covers the changes of 1, 2 and 4 but not 5.
	if err := s.LoadMirrorBatch(ctx, v, 1, batchRows(
		MirrorBatchRow{PK: "1", Values: []byte(`[1,"ann3"]`)},
		MirrorBatchRow{PK: "3", Values: []byte(`[3,"cy"]`)},
		MirrorBatchRow{PK: "4", Values: []byte(`[4,"dee"]`)},
	)); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishMirror(ctx, v, layout, 1, pos(175), time.Unix(175, 0)); err != nil {
		t.Fatal(err)
	}
	check("after publish")
	if got, err := s.ReadMirrors(ctx, v, nil); err != nil || len(got.Rows) != 0 || got.Checkpoint != pos(200) {
		t.Fatalf("no keys: %+v, %v", got, err)
	}
}

// TestReadMirrorUnderWrites reads many keys while a writer keeps changing
// all of them in each transaction: every read must see every key at the
// same transaction (the one its checkpoint names), never half of one.
func TestReadMirrorUnderWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	const v, layout, n = "customers", "id:bigint,v:bigint", 2000
	keys := make([]string, n)
	rows := make([]MirrorBatchRow, n)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
		rows[i] = MirrorBatchRow{PK: keys[i], Values: fmt.Appendf(nil, "[%d,0]", i)}
	}
	if err := s.LoadMirrorBatch(ctx, v, 0, batchRows(rows...)); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishMirror(ctx, v, layout, 0, pos(1000), time.Unix(1000, 0)); err != nil {
		t.Fatal(err)
	}
	// Transaction k (k = 1..txns) sets every row's value to k; its commit
	// is at position 1000+k. The checkpoint thus says which value every
	// row must hold.
	const txns = 60
	var wg sync.WaitGroup
	werr := make(chan error, 1)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for k := 1; k <= txns; k++ {
			b := MirrorApply{View: v, Layout: layout, From: pos(uint32(1000 + k - 1)), To: pos(uint32(1000 + k))}
			for i, pk := range keys {
				b.Rows = append(b.Rows, MirrorChange{PK: pk, Row: fmt.Appendf(nil, "[%d,%d]", i, k), Version: pos(uint32(1000 + k))})
			}
			if err := s.ApplyMirror(ctx, b); err != nil {
				werr <- err
				return
			}
		}
	}()
	reads := 0
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true // one more read after the last write
		default:
		}
		got, err := s.ReadMirrors(ctx, v, keys)
		if err != nil {
			t.Fatal(err)
		}
		k := int(got.Checkpoint.Offset) - 1000
		for i := range keys {
			want := fmt.Sprintf("[%d,%d]", i, k)
			if !got.Found[i] || string(got.Rows[i].Values) != want {
				t.Fatalf("read %d at checkpoint %s: key %d is %s, want %s (a half-applied transaction)", reads, got.Checkpoint, i, got.Rows[i].Values, want)
			}
		}
		reads++
	}
	wg.Wait()
	select {
	case err := <-werr:
		t.Fatal(err)
	default:
	}
	t.Logf("%d consistent reads of %d keys during %d transactions", reads, n, txns)
}

// AggReader answers what ReadAgg answers, and keeps the decoded state of
// every group whose stored state did not change since its previous read.
func TestAggReaderReusesUnchangedGroups(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestStore(t)
	v, bv := benchView(t, revenueSpec)
	d := formats.Delta{}
	for id := range int64(200) {
		if err := bv.AccumulateRow(benchRow(id, 20), 1, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LoadBatch(ctx, v, 0, maps.All(d)); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishAgg(ctx, v, 0, pos(10), 0, time.Unix(10, 0)); err != nil {
		t.Fatal(err)
	}
	r := s.NewAggReader()
	same := func(stage string, got AggSnapshot) {
		t.Helper()
		want, err := s.ReadAgg(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if got.Checkpoint != want.Checkpoint || got.Generation != want.Generation || len(got.Groups) != len(want.Groups) {
			t.Fatalf("%s: %s gen %d %d groups, ReadAgg %s gen %d %d groups", stage, got.Checkpoint, got.Generation, len(got.Groups),
				want.Checkpoint, want.Generation, len(want.Groups))
		}
		for k, a := range want.Groups {
			if g := got.Groups[k]; g == nil || g.String() != a.String() {
				t.Fatalf("%s: group %q: %v, ReadAgg %v", stage, k, g, a)
			}
		}
	}
	first, err := r.ReadAgg(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	same("first read", first)
	// One more order of customer-3, in the speed layer.
	d2 := formats.Delta{}
	if err := bv.AccumulateRow(benchRow(203, 20), 1, d2); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyAgg(ctx, v, pos(10), pos(20), 1, []SegDelta{{Seg: 1, Delta: d2}}); err != nil {
		t.Fatal(err)
	}
	second, err := r.ReadAgg(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	same("after an apply", second)
	var changed formats.GroupKey
	for k := range d2 {
		changed = k
	}
	for k, a := range second.Groups {
		if reused := a == first.Groups[k]; reused == (k == changed) {
			t.Errorf("group %q: reused %v (changed: %v)", k, reused, k == changed)
		}
	}
}
