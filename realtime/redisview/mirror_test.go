package redisview

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

func batchRows(rows ...MirrorBatchRow) func(func(MirrorBatchRow, error) bool) {
	return func(yield func(MirrorBatchRow, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func TestMirror(t *testing.T) {
	onBoth(t, func(t *testing.T, b backend) {
		// By script, then as transactions (applyMirrorTx): the same
		// checks and the same state.
		for _, txRows := range []int{-1, 1} {
			t.Run(fmt.Sprintf("txrows=%d", txRows), func(t *testing.T) {
				testMirror(t, b, New(b.rdb, Options{MirrorTxRows: txRows}))
			})
		}
	})
}

func testMirror(t *testing.T, b backend, s *Store) {
	{
		ctx := context.Background()
		const v, layout = "customers", "id:bigint,name:varchar"
		if err := s.Reset(ctx, v); err != nil {
			t.Fatal(err)
		}

		read := func(pk string) (string, formats.Position) {
			t.Helper()
			r, err := s.ReadMirror(ctx, v, pk)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Found {
				return "", formats.Position{}
			}
			return string(r.Row.Values), r.Row.Version
		}
		scan := func() map[string]string {
			t.Helper()
			out := map[string]string{}
			for r, err := range s.ScanMirror(ctx, v) {
				if err != nil {
					t.Fatal(err)
				}
				if _, dup := out[r.PK]; dup {
					t.Fatalf("scan yielded %s twice", r.PK)
				}
				out[r.PK] = string(r.Values)
			}
			return out
		}

		if _, err := s.ReadMirror(ctx, v, "1"); !errors.Is(err, ErrStateMissing) {
			t.Fatalf("read before bootstrap: %v", err)
		}
		// Bootstrap at 100.
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
		if got, ver := read("1"); got != `[1,"ann"]` || ver != pos(100) {
			t.Fatalf("row 1 = %s @%s", got, ver)
		}

		// Speed: update 1, delete 2, insert 4 (twice: the later wins).
		apply := MirrorApply{View: v, Layout: layout, From: pos(100), To: pos(200), Rows: []MirrorChange{
			{PK: "1", Row: []byte(`[1,"ann2"]`), Version: pos(150)},
			{PK: "2", Version: pos(160)},
			{PK: "4", Row: []byte(`[4,"dee"]`), Version: pos(170)},
			{PK: "4", Row: []byte(`[4,"dee2"]`), Version: pos(200)},
		}}
		for range 2 {
			if err := s.ApplyMirror(ctx, apply); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]string{"1": `[1,"ann2"]`, "3": `[3,"cy"]`, "4": `[4,"dee2"]`}
		if got := scan(); !mapsEqual(got, want) {
			t.Fatalf("scan %v, want %v", got, want)
		}
		if got, _ := read("2"); got != "" {
			t.Fatalf("deleted row 2 reads %s", got)
		}
		if got, ver := read("4"); got != `[4,"dee2"]` || ver != pos(200) {
			t.Fatalf("row 4 = %s @%s", got, ver)
		}
		err := s.ApplyMirror(ctx, MirrorApply{View: v, Layout: layout, From: pos(150), To: pos(300), Rows: []MirrorChange{
			{PK: "9", Row: []byte(`[9,"zed"]`), Version: pos(300)},
		}})
		if fe := (*FenceError)(nil); !errors.As(err, &fe) || fe.Have != pos(200) {
			t.Fatalf("stale writer: %v", err)
		}

		// More speed after 200: row 3 updated at 250, row 1 deleted at 260.
		if err := s.ApplyMirror(ctx, MirrorApply{View: v, Layout: layout, From: pos(200), To: pos(260), Rows: []MirrorChange{
			{PK: "3", Row: []byte(`[3,"cy2"]`), Version: pos(250)},
			{PK: "1", Version: pos(260)},
		}}); err != nil {
			t.Fatal(err)
		}

		// Generation 1 at cut 200 says what the source had at 200, with a
		// speed error repaired: row 4 is "dee-fixed". Rows changed after 200
		// keep their speed versions; rows at or before 200 take the batch's;
		// rows absent from the batch at or before 200 are gone.
		if err := s.LoadMirrorBatch(ctx, v, 1, batchRows(
			MirrorBatchRow{PK: "1", Values: []byte(`[1,"ann2"]`)},
			MirrorBatchRow{PK: "3", Values: []byte(`[3,"cy"]`)},
			MirrorBatchRow{PK: "4", Values: []byte(`[4,"dee-fixed"]`)},
		)); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishMirror(ctx, v, layout, 1, pos(200), time.Unix(200, 0)); err != nil {
			t.Fatal(err)
		}
		want = map[string]string{"3": `[3,"cy2"]`, "4": `[4,"dee-fixed"]`}
		if got := scan(); !mapsEqual(got, want) {
			t.Fatalf("scan after publish %v, want %v", got, want)
		}
		if got, ver := read("4"); got != `[4,"dee-fixed"]` || ver != pos(200) {
			t.Fatalf("row 4 = %s @%s", got, ver)
		}
		if got, _ := read("1"); got != "" {
			t.Fatalf("row 1 deleted after the cut reads %s", got)
		}
		// The overlay was pruned down to the changes after the cut.
		overlay, err := b.rdb.HKeys(ctx, "tm:{customers}:rows").Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(overlay)
		if !slices.Equal(overlay, []string{"1", "3"}) {
			t.Fatalf("overlay after prune: %v", overlay)
		}
		if err := s.PublishMirror(ctx, v, "other", 2, pos(300), time.Unix(300, 0)); !errors.Is(err, ErrLayoutMismatch) {
			t.Fatalf("publish with another layout: %v", err)
		}
		err = s.ApplyMirror(ctx, MirrorApply{View: v, Layout: "other", From: pos(260), To: pos(400), Rows: []MirrorChange{
			{PK: "5", Row: []byte(`[5,"eve"]`), Version: pos(400)},
		}})
		if !errors.Is(err, ErrLayoutMismatch) {
			t.Fatalf("apply with another layout: %v", err)
		}
		if err := s.Reset(ctx, v); err != nil {
			t.Fatal(err)
		}
		err = s.ApplyMirror(ctx, MirrorApply{View: v, Layout: layout, From: pos(260), To: pos(400), Rows: []MirrorChange{
			{PK: "5", Row: []byte(`[5,"eve"]`), Version: pos(400)},
		}})
		if !errors.Is(err, ErrStateMissing) {
			t.Fatalf("apply after reset: %v", err)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestOverlayValue(t *testing.T) {
	for _, c := range []MirrorChange{
		{PK: "1", Row: []byte(`[1,"a"]`), Version: pos(5)},
		{PK: "1", Version: formats.Position{File: "b.1", Offset: 3, GTID: "0-1-9"}},
	} {
		v, err := overlayValue(c)
		if err != nil {
			t.Fatal(err)
		}
		ver, vals, err := parseOverlay(string(v))
		if err != nil {
			t.Fatal(err)
		}
		if ver != c.Version || string(vals) != string(c.Row) {
			t.Fatalf("%s: round trip gave %s %s", v, ver, vals)
		}
	}
	if _, err := overlayValue(MirrorChange{PK: "1", Row: []byte(`[]`)}); err == nil {
		t.Fatal("empty row accepted")
	}
}

// TestAppendStoredChange: the form the applier builds as it folds a
// change is the one ApplyMirror builds from Row and Version.
func TestAppendStoredChange(t *testing.T) {
	_, mb := benchView(t, formats.ViewSpec{Name: "orders_m", From: "shop.orders", Mirror: true})
	ver := formats.Position{File: "mariadb-bin.000001", Offset: 73281090, GTID: "0-1-214"}
	for id := range int64(50) {
		r := benchRow(id, 7)
		if id%5 == 0 {
			r[2], r[3] = nil, nil
		}
		for _, row := range []formats.Row{r, nil} {
			c := MirrorChange{PK: "k", Version: ver}
			if row != nil {
				c.Row = AppendMirrorRow(nil, mb, row)
			}
			want, err := overlayValue(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := AppendStoredChange(nil, ver.AppendTo(nil), mb, row); string(got) != string(want) {
				t.Fatalf("row %v: %s, want %s", row, got, want)
			}
		}
	}
}
