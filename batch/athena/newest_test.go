package athena

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/batch/lake"
)

// TestNewestPerSource: of interleaved generations of two sources, each
// source's newest, oldest first; an empty lake has none; a manifest that does
// not read is an error, not a skipped source.
func TestNewestPerSource(t *testing.T) {
	ctx := context.Background()
	st, err := lake.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if gens, err := NewestPerSource(ctx, st); err != nil || len(gens) != 0 {
		t.Fatalf("empty lake: %v, %v; want none", gens, err)
	}
	put := func(g uint64, body string) {
		t.Helper()
		if err := st.Put(ctx, fmt.Sprintf("_generations/%020d.json", g), strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	for g, src := range []string{"shop", "crm", "shop", "shop", "crm", "shop"} {
		put(uint64(g), fmt.Sprintf(`{"version":1,"generation":%d,"source":%q}`, g, src))
	}
	gens, err := NewestPerSource(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range gens {
		got = append(got, fmt.Sprintf("%s@%d", g.Source, g.Generation))
	}
	if want := "crm@4 shop@5"; strings.Join(got, " ") != want {
		t.Errorf("NewestPerSource = %s, want %s", strings.Join(got, " "), want)
	}
	put(6, `{"version":1,"generation":7,"source":"shop"}`) // a manifest of another number
	if _, err := NewestPerSource(ctx, st); err == nil || !strings.Contains(err.Error(), "generation 6") {
		t.Errorf("a manifest that does not match its name: err %v, want one naming generation 6", err)
	}
}
