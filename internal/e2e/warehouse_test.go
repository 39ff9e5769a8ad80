package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/stack"
)

// TestWarehouseCommands runs the warehouse as an operator does: `tidemark
// batch` beside `tidemark run` loads each published generation into
// PostgreSQL; `tidemark warehouse status` says what the target holds;
// while PostgreSQL is down the batch still publishes (exit 0) and says why
// the target is behind; `tidemark warehouse load` catches it up;
// `tidemark validate` checks each target and names the missing GRANT.
func TestWarehouseCommands(t *testing.T) {
	pg := stack.Postgres(t)
	pg.Exec(t, "CREATE ROLE weak LOGIN")
	e := newEnv(t, envOptions{extraYAML: fmt.Sprintf(`warehouse:
  - name: pg
    kind: postgres
    dsn: %s
    schema: reporting
`, pg.DSN())})
	ctx := context.Background()
	g := e.workload(31, 1)
	if err := g.Seed(ctx, 30, 300); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")

	space := int64(1)
	batchWhileWriting := func() (string, int) {
		space++
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.workload(uint64(30+space), space).Run(wctx, 0, 20) }()
		out, code := e.tidemark(t, "batch", "-c", e.cfg)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return out, code
	}
	out, code := batchWhileWriting()
	if code != 0 || !strings.Contains(out, "generation 1 of shop published") || !strings.Contains(out, "warehouse pg") || !strings.Contains(out, "loaded generation 1") {
		t.Fatalf("tidemark batch exited %d:\n%s", code, tail(out, 4000))
	}
	c := pg.Conn(t)
	var rows, want int64
	if err := c.QueryRow(ctx, "SELECT (rows->>'shop_orders')::bigint, (SELECT count(*) FROM reporting.shop_orders) FROM reporting.tidemark_generations WHERE generation = 1").Scan(&want, &rows); err != nil || rows != want || rows == 0 {
		t.Fatalf("reporting.shop_orders: %d rows, the control row says %d (%v)", rows, want, err)
	}

	type status struct {
		Targets []struct {
			Target  string `json:"target"`
			Phase   string `json:"phase"`
			Error   string `json:"error"`
			Behind  bool   `json:"behind"`
			Lake    uint64 `json:"lake_generation"`
			Current *struct {
				Generation uint64 `json:"generation"`
			} `json:"current"`
		} `json:"targets"`
	}
	readStatus := func() status {
		t.Helper()
		out, code := e.tidemark(t, "warehouse", "status", "-c", e.cfg, "--format", "json")
		var s status
		if code != 0 || json.Unmarshal([]byte(out), &s) != nil || len(s.Targets) != 1 {
			t.Fatalf("warehouse status exited %d:\n%s", code, out)
		}
		return s
	}
	if s := readStatus(); s.Targets[0].Current == nil || s.Targets[0].Current.Generation != 1 || s.Targets[0].Behind || s.Targets[0].Phase != "loaded" {
		t.Fatalf("status after the batch: %+v", s.Targets[0])
	}

	// PostgreSQL down: the generation is published all the same.
	pg.Stop(t)
	out, code = batchWhileWriting()
	if code != 0 || !strings.Contains(out, "generation 2 of shop published") || !strings.Contains(out, "failed generation 2") {
		t.Fatalf("tidemark batch with the warehouse down exited %d:\n%s", code, tail(out, 4000))
	}
	if s := readStatus(); !s.Targets[0].Behind || s.Targets[0].Lake != 2 || s.Targets[0].Phase != "failed" || !strings.Contains(s.Targets[0].Error, "unavailable") {
		t.Fatalf("status with the warehouse down: %+v", s.Targets[0])
	}
	pg.Start(t)
	if out, code := e.tidemark(t, "warehouse", "load", "-c", e.cfg, "--target", "pg"); code != 0 || !strings.Contains(out, "loaded generation 2") {
		t.Fatalf("warehouse load exited %d:\n%s", code, out)
	}
	if s := readStatus(); s.Targets[0].Current == nil || s.Targets[0].Current.Generation != 2 || s.Targets[0].Behind {
		t.Fatalf("status after warehouse load: %+v", s.Targets[0])
	}

	p.term(t) // validate would see its replication connection as a server_id clash
	out, code = e.tidemark(t, "validate", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "ok   warehouse pg (postgres)") {
		t.Fatalf("validate exited %d:\n%s", code, out)
	}
	// The batch role of `tidemark run` loads each scheduled generation.
	sched := strings.Replace(readFile(t, e.cfg), "warehouse:\n", "batch:\n  schedule: \"*/3 * * * * *\"\nwarehouse:\n", 1)
	schedCfg := e.dir + "/scheduled.yaml"
	if err := os.WriteFile(schedCfg, []byte(sched), 0o644); err != nil {
		t.Fatal(err)
	}
	p = e.start(t, "--roles", "speed,batch", "-c", schedCfg)
	wctx, stopWrites := context.WithCancel(ctx)
	writes := make(chan error, 1)
	go func() { writes <- e.workload(77, 9).Run(wctx, 0, 20) }()
	c = pg.Conn(t) // the first connection died with the restart
	deadline := time.Now().Add(90 * time.Second)
	for {
		var gen int64
		c.QueryRow(ctx, "SELECT max(generation) FROM reporting.tidemark_generations").Scan(&gen)
		if gen >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batch role did not load a scheduled generation past 2 within 90s (at %d)", gen)
		}
		time.Sleep(500 * time.Millisecond)
	}
	stopWrites()
	if err := <-writes; err != nil {
		t.Fatal(err)
	}
	p.term(t)

	weak := strings.Replace(readFile(t, e.cfg), "dsn: postgres://postgres@", "dsn: postgres://weak@", 1)
	weakCfg := e.dir + "/weak.yaml"
	if err := os.WriteFile(weakCfg, []byte(weak), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = e.tidemark(t, "validate", "-c", weakCfg)
	if code != 1 || !strings.Contains(out, "FAIL warehouse pg") || !strings.Contains(out, "GRANT") {
		t.Fatalf("validate with a role that may not create schemas exited %d:\n%s", code, out)
	}
}
