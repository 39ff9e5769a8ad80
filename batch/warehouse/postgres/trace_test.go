package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// TestTracePhases: a load reports each of its phases once per table (the
// swap's once), and a build without parallel workers (MaintenanceWorkers
// -1) loads the same rows with the key in place.
func TestTracePhases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg := stack.Postgres(t)
	store, _ := lake.OpenDir(t.TempDir())
	var mu sync.Mutex
	seen := map[string]int{}
	l, err := New(Options{DSN: pg.DSN(), Schema: "tr", Store: store, MaintenanceWorkers: -1,
		Trace: func(table, phase string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if d < 0 {
				t.Errorf("%s %s: negative duration %v", table, phase, d)
			}
			seen[table+"/"+phase]++
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cols := []warehouse.Column{{Name: "id", Type: mustType(t, "bigint")}, {Name: "v", Type: mustType(t, "varchar(10)"), Nullable: true}}
	var rows []formats.Row
	for i := 0; i < 1000; i++ {
		rows = append(rows, formats.Row{int64(999 - i), "x"})
	}
	g := &warehouse.Generation{Number: 1, Cut: "binlog.000001:4", Tables: []warehouse.Table{
		writeTable(t, store, "shop.a", cols, []int{0}, rows, "tables/shop/a/gen=1"),
		writeTable(t, store, "shop.b", cols, []int{0}, rows[:10], "tables/shop/b/gen=1"),
	}}
	if !load(t, l, g, 1) {
		t.Fatal("generation 1 was not swapped in")
	}
	want := map[string]int{"/" + PhaseSwap: 1, "/" + PhaseAnalyze: 1}
	for _, tb := range g.Tables {
		for _, p := range []string{PhaseCreate, PhaseCopy, PhaseKey, PhaseCommit} {
			want[tb.Name+"/"+p] = 1
		}
	}
	mu.Lock()
	for k, n := range want {
		if seen[k] != n {
			t.Errorf("phase %s reported %d times, want %d", k, seen[k], n)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("phases reported: %v, want %v", seen, want)
	}
	mu.Unlock()
	c := pg.Conn(t)
	var n, keys int64
	if err := c.QueryRow(ctx, "SELECT count(*), (SELECT count(*) FROM pg_index WHERE indrelid = to_regclass('tr_gen.'||$1) AND indisprimary) FROM tr.shop_a",
		warehouse.GenTable("shop_a", 1)).Scan(&n, &keys); err != nil {
		t.Fatal(err)
	}
	if n != 1000 || keys != 1 {
		t.Fatalf("shop_a: %d rows, %d primary keys; want 1000 and 1", n, keys)
	}
}
