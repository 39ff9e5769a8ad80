package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBatchOverwritesSpeed runs the binary's batch layer: the speed layer
// archives the changelog while a workload runs; a speed segment is damaged
// on purpose (verify then fails); `tidemark batch` publishes a generation
// whose cut covers it and every view is exact again; a second rebuild rolls
// the first forward with the archive.
func TestBatchOverwritesSpeed(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(91, 1)
	if err := g.Seed(ctx, 40, 400); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")
	if err := g.Run(ctx, 200, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)

	// Damage: the speed layer's running total of one view loses its state.
	rc := e.redis.Client(t)
	if err := rc.Del(ctx, "tm:{orders_by_customer}:speed").Err(); err != nil {
		t.Fatal(err)
	}
	if out, code := e.tidemark(t, "verify", "-c", e.cfg, "orders_by_customer"); code != 1 {
		t.Fatalf("verify after the damage exited %d, want 1 (the damage must show):\n%s", code, out)
	}

	// Segments seal when a later transaction arrives: a source keeps
	// writing (or a heartbeat table does) while the rebuild waits for the
	// archive to pass its extract.
	space := int64(1)
	batchWhileWriting := func() (string, int) {
		space++
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.workload(uint64(90+space), space).Run(wctx, 0, 20) }()
		out, code := e.tidemark(t, "batch", "-c", e.cfg)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return out, code
	}
	out, code := batchWhileWriting()
	if code != 0 {
		t.Fatalf("tidemark batch exited %d:\n%s", code, tail(out, 4000))
	}
	t.Logf("batch:\n%s", tail(out, 1500))
	if !strings.Contains(out, "generation 1 of shop published") {
		t.Errorf("the first lake generation should follow the bootstrap generation 0:\n%s", tail(out, 1500))
	}
	e.verify(t)
	parquet := 0
	filepath.Walk(filepath.Join(e.dir, "lake", "tables"), func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(path, ".parquet") {
			parquet++
		}
		return nil
	})
	if parquet == 0 {
		t.Fatal("no Parquet table snapshot in the lake")
	}

	if err := g.Run(ctx, 150, 0); err != nil {
		t.Fatal(err)
	}
	out, code = batchWhileWriting()
	if code != 0 || !strings.Contains(out, "generation 2 of shop published") {
		t.Fatalf("second rebuild (rolled forward) exited %d:\n%s", code, tail(out, 4000))
	}
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
}
