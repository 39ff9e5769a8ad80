package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// TestRunRefusesPrerequisites: `run` checks what `validate` checks before it
// starts: with binlog_format=STATEMENT or binlog_row_image=MINIMAL set
// globally it exits 1 with validate's message and bootstraps nothing. Once
// the source is fixed it runs, and a session that still logs a partial row
// image stops the capture with the partial-image error before the change
// is applied.
func TestRunRefusesPrerequisites(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(61, 1)
	if err := g.Seed(ctx, 20, 50); err != nil {
		t.Fatal(err)
	}
	refused := func(set, check, found string) {
		t.Helper()
		if _, err := e.db.ExecContext(ctx, set); err != nil {
			t.Fatal(err)
		}
		p := e.start(t)
		select {
		case <-p.done:
		case <-time.After(90 * time.Second):
			t.Fatalf("with %s, run kept running", set)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 1 {
			t.Fatalf("with %s, run exited %d, want 1", set, code)
		}
		log := readFile(t, p.log)
		for _, want := range []string{"FAIL source shop: " + check + ": found " + found, "fix: SET GLOBAL " + check + "="} {
			if !strings.Contains(log, want) {
				t.Fatalf("with %s, run's message lacks %q:\n%s", set, want, tail(log, 3000))
			}
		}
		if strings.Contains(log, "bootstrap started") {
			t.Fatalf("with %s, run bootstrapped before refusing:\n%s", set, tail(log, 3000))
		}
		if n := e.redis.Client(t).Exists(ctx, "tm:{customers}:meta").Val(); n != 0 {
			t.Fatalf("with %s, run left view state in Redis", set)
		}
	}
	refused("SET GLOBAL binlog_format=STATEMENT", "binlog_format", "STATEMENT")
	refused("SET GLOBAL binlog_format=ROW, GLOBAL binlog_row_image=MINIMAL", "binlog_row_image", "MINIMAL")
	if _, err := e.db.ExecContext(ctx, "SET GLOBAL binlog_row_image=FULL"); err != nil {
		t.Fatal(err)
	}

	p := e.start(t)
	e.waitBootstrapped(t, "customers")
	if err := g.Run(ctx, 20, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	conn, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var before formats.Position
	var ignore any
	if err := conn.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&before.File, &before.Offset, &ignore, &ignore); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SET SESSION binlog_row_image=MINIMAL", "UPDATE shop.customers SET name = 'partial' ORDER BY id LIMIT 1"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("run kept running after a partial row image in the stream")
	}
	if code := p.cmd.ProcessState.ExitCode(); code == 0 {
		t.Fatal("run exited 0 after a partial row image")
	}
	if log := readFile(t, p.log); !strings.Contains(log, "partial row image") || !strings.Contains(log, "binlog_row_image=FULL") {
		t.Fatalf("the error does not name the partial row image and its fix:\n%s", tail(log, 3000))
	}
	ckpt, err := e.redis.Client(t).HGet(ctx, "tm:{customers}:meta", "ckpt").Result()
	if err != nil {
		t.Fatal(err)
	}
	at, err := formats.ParsePosition(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	// A tick (Row > 0 at the last commit's offset: capture/tick.go) may
	// follow the last transaction before the partial change; it is not
	// past it. The commit's binlog coordinates are what must not move on.
	if before.Less(at.Commit()) {
		t.Fatalf("the mirror's checkpoint %s moved past the partial change (binlog at %s before it)", at, before)
	}
}
