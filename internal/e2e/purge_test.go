package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pq "github.com/parquet-go/parquet-go"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
)

// TestPurgedRebootstrapOnce: with the speed layer and the changelog
// archive stopped, the source writes and purges the binlog both need.
// validate reports both checkpoints with the fix; run with
// speed.rebootstrap_on_purge re-bootstraps once (not in a loop): the views
// are exact, the archive re-bases with a gap recorded, and the next
// rebuild re-extracts from the source on its own and its lake equals the
// source.
func TestPurgedRebootstrapOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.db.ExecContext(ctx, "CREATE TABLE shop.ticks (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	g := e.workload(71, 1)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")
	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	// A rebuild while only shop.ticks is written: segments keep sealing,
	// and the view tables hold still, so the lake can be compared with
	// the source row for row.
	rebuild := func() string {
		t.Helper()
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			for {
				if _, err := e.db.ExecContext(wctx, "INSERT INTO shop.ticks (at) VALUES (NOW(6))"); err != nil {
					if wctx.Err() != nil {
						err = nil
					}
					done <- err
					return
				}
				select {
				case <-wctx.Done():
					done <- nil
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		out, code := e.tidemark(t, "batch", "-c", e.cfg)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if code != 0 {
			t.Fatalf("tidemark batch exited %d:\n%s", code, tail(out, 4000))
		}
		return out
	}
	rebuild()
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM exit %d", code)
	}

	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	e.purgeBinlogs(t)
	out, code := e.tidemark(t, "validate", "-c", e.cfg)
	if code == 0 {
		t.Fatalf("validate exited 0 with purged checkpoints:\n%s", out)
	}
	for _, want := range []string{"view revenue_by_day resumes after", "the changelog archive resumes after", "is purged on the source", "rebootstrap_on_purge"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate's report lacks %q:\n%s", want, out)
		}
	}

	e.enableRebootstrap(t)
	p = e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")
	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	time.Sleep(3 * time.Second) // a loop would bootstrap again meanwhile
	logText := readFile(t, p.log)
	if n := strings.Count(logText, `msg="bootstrap started"`); n != 1 {
		t.Fatalf("the source was snapshotted %d times after the purge, want once:\n%s", n, tail(logText, 3000))
	}
	if !strings.Contains(logText, "gap recorded") {
		t.Errorf("the archive did not record the gap:\n%s", tail(logText, 3000))
	}

	out = rebuild()
	if !strings.Contains(out, "RebuildFromSource") {
		t.Errorf("the rebuild after the gap did not re-extract from the source:\n%s", tail(out, 3000))
	}
	e.verify(t)
	st, err := lake.Open(ctx, "file://"+filepath.Join(e.dir, "lake"), lake.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := batch.Latest(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"shop.orders", "shop.customers"} {
		i := slices.IndexFunc(gen.Tables, func(ts batch.TableSnapshot) bool { return ts.Table == table })
		if i < 0 {
			t.Fatalf("generation %d has no table %s", gen.Generation, table)
		}
		got := lakeIDs(t, st, gen.Tables[i])
		var want []int64
		rows, err := e.db.QueryContext(ctx, "SELECT id FROM "+table+" ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		rows.Close()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("generation %d's %s has %d rows, the source %d (ids differ)", gen.Generation, table, len(got), len(want))
		}
	}
	p.term(t)
}

// lakeIDs reads the id column of a table snapshot's Parquet files, sorted.
func lakeIDs(t *testing.T, st lake.Store, ts batch.TableSnapshot) []int64 {
	t.Helper()
	var ids []int64
	for _, f := range ts.Files {
		b, err := lake.ReadAll(context.Background(), st, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := pq.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		leaf, ok := pf.Schema().Lookup("id")
		if !ok {
			t.Fatalf("%s has no id column", f.Key)
		}
		buf := make([]pq.Value, 1024)
		for _, rg := range pf.RowGroups() {
			pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
			for {
				page, err := pages.ReadPage()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				vr := page.Values()
				for {
					n, err := vr.ReadValues(buf)
					for _, v := range buf[:n] {
						ids = append(ids, v.Int64())
					}
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			pages.Close()
		}
	}
	slices.Sort(ids)
	return ids
}
