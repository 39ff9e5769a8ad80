package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestBootstrapOfEmptyTable: a view over a table that is empty at the
// bootstrap stores its full layout, so the first streamed row of that table
// applies to it instead of finding the state mismatched and bootstrapping
// the view again (which also made a concurrent `tidemark batch` fail to
// publish: the re-bootstrap's cut overtook the batch's).
func TestBootstrapOfEmptyTable(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(97, 1)
	if err := g.Seed(ctx, 20, 100); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM shop.alltypes").Scan(&n); err != nil || n != 0 {
		t.Fatalf("shop.alltypes holds %d rows (%v) before the bootstrap; the test needs it empty", n, err)
	}
	p := e.start(t, "--roles", "speed")
	e.waitBootstrapped(t, "types_by_color")
	layout, err := e.redis.Client(t).HGet(ctx, "tm:{types_by_color}:meta", "layout").Result()
	if err != nil || strings.HasPrefix(layout, "#") {
		t.Fatalf("types_by_color bootstrapped with layout %q (%v), want its token layout before the '#'", layout, err)
	}
	if err := g.Run(ctx, 150, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM shop.alltypes").Scan(&n); err != nil || n == 0 {
		t.Fatalf("the workload wrote no shop.alltypes row (%d, %v)", n, err)
	}
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Errorf("tidemark run exited %d after SIGTERM", code)
	}
	log, _ := os.ReadFile(p.log)
	if strings.Contains(string(log), "no longer matches") {
		t.Errorf("a view was bootstrapped again after the first rows of its table:\n%s", tail(string(log), 3000))
	}
}
