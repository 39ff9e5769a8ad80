package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestKill9Loop kills the speed layer with SIGKILL at random moments while
// the workload runs, restarting it each time: nothing lost, nothing counted
// twice.
func TestKill9Loop(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := e.workload(7, 1)
	if err := g.Seed(ctx, 40, 200); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		werr <- g.Run(ctx, 1500, 300)
	}()
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 6 {
		p := e.start(t)
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		p.kill9(t)
		t.Logf("kill -9 #%d done", i+1)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if err := g.BigTxn(ctx, 10000); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	time.Sleep(200 * time.Millisecond)
	p.kill9(t) // once more, probably mid big transaction
	p = e.start(t)
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d, want 0", code)
	}
}

// TestBootstrapUnderWrites starts Tidemark while writers are busy: the
// mirrors (every id and value) and aggregates equal the source exactly,
// with no gap and no duplicate between the snapshot and the stream.
func TestBootstrapUnderWrites(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seed := e.workload(11, 1)
	if err := seed.Seed(ctx, 100, 3000); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 2)
	for w := int64(2); w <= 3; w++ {
		g := e.workload(uint64(w), w)
		go func() { werr <- g.Run(ctx, 600, 0) }()
	}
	time.Sleep(300 * time.Millisecond)
	p := e.start(t)
	for range 2 {
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
	}
	e.verify(t)
	p.term(t)
}

// TestDDLMidStream alters captured tables while the workload runs:
// events decode with the schema they were written under.
func TestDDLMidStream(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(21, 1)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	steps := []string{
		"ALTER TABLE shop.orders ADD COLUMN extra INT NULL AFTER qty",
		"UPDATE shop.orders SET extra = qty * 2 WHERE id % 3 = 0",
		"ALTER TABLE shop.orders MODIFY COLUMN note VARCHAR(300) CHARACTER SET utf8mb4 NULL",
		"ALTER TABLE shop.orders MODIFY COLUMN qty BIGINT NOT NULL",
		"ALTER TABLE shop.orders DROP COLUMN extra",
		"RENAME TABLE shop.customers TO shop.customers_old; INSERT INTO shop.customers_old (id, name, country, created_at) VALUES (-1, 'renamed', 'SE', NOW()); RENAME TABLE shop.customers_old TO shop.customers",
		"ALTER TABLE shop.customers ADD COLUMN vip BOOL NOT NULL DEFAULT FALSE FIRST",
	}
	for _, s := range steps {
		if err := g.Run(ctx, 60, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := g.Run(ctx, 60, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	p.term(t)
}

// TestRedisRestartedEmpty: Redis loses everything while Tidemark runs; the
// views are rebuilt from a fresh bootstrap and are exact.
func TestRedisRestartedEmpty(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(31, 1)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	if err := g.Run(ctx, 200, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	e.redis.Restart(t)
	if err := g.Run(ctx, 200, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	p.term(t)
}

// TestReplicationConnectionKilled kills Tidemark's binlog dump thread from
// the server side, twice, under load: it reconnects and loses nothing.
func TestReplicationConnectionKilled(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := e.workload(41, 1)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	werr := make(chan error, 1)
	go func() { werr <- g.Run(ctx, 800, 400) }()
	for range 2 {
		time.Sleep(700 * time.Millisecond)
		killed := false
		for attempt := 0; attempt < 50 && !killed; attempt++ {
			var id int64
			err := e.db.QueryRowContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump' LIMIT 1").Scan(&id)
			if err == nil {
				if _, err := e.db.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
					t.Fatal(err)
				}
				killed = true
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !killed {
			t.Fatal("no Binlog Dump thread to kill")
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	p.term(t)
}

// TestBinlogPurged: with Tidemark stopped, the binlog it needs is purged.
// By default it refuses to start with the fix in the message; with
// speed.rebootstrap_on_purge it re-bootstraps and is exact.
func TestBinlogPurged(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(51, 1)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	p := e.start(t)
	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM exit %d", code)
	}
	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	e.purgeBinlogs(t)
	p = e.start(t)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("tidemark kept running although the binlog it needs was purged")
	}
	if code := p.cmd.ProcessState.ExitCode(); code == 0 {
		t.Fatal("tidemark exited 0 on a purged binlog")
	}
	logText := readFile(t, p.log)
	if !strings.Contains(logText, "purged") || !strings.Contains(logText, "rebootstrap") {
		t.Fatalf("the purge error does not say what happened and how to fix it:\n%s", tail(logText, 3000))
	}
	e.enableRebootstrap(t)
	p = e.start(t)
	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	p.term(t)
}
