package e2e

import (
	"context"
	"testing"
	"time"
)

func TestRandomWorkloadExact(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(1, 1)
	if err := g.Seed(ctx, 50, 300); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	if err := g.Run(ctx, 400, 0); err != nil {
		t.Fatal(err)
	}
	if err := g.BigTxn(ctx, 10000); err != nil {
		t.Fatal(err)
	}
	if err := g.Run(ctx, 200, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d, want 0", code)
	}
	_ = time.Second
}
