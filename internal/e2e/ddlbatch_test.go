package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBatchAcrossDDL is the first-week DDL of an operator: columns added
// (NULL, and NOT NULL with a DEFAULT), a type widened and one narrowed on
// captured tables while the service runs. The next `tidemark batch` (no
// --from-source) publishes on its own, rolling the derivable changes
// forward and re-extracting the narrowed table alone, and every view
// verifies; so does the rebuild after it.
func TestBatchAcrossDDL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB and Redis")
	}
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	g := e.workload(95, 1)
	if err := g.Seed(ctx, 30, 300); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")
	space := int64(1)
	batchWhileWriting := func(want string) string {
		t.Helper()
		space++
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.workload(uint64(95+space), space).Run(wctx, 0, 20) }()
		out, code := e.tidemark(t, "batch", "-c", e.cfg)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("tidemark batch exited %d, want 0 and %q:\n%s", code, want, tail(out, 6000))
		}
		return out
	}
	if err := g.Run(ctx, 150, 0); err != nil {
		t.Fatal(err)
	}
	batchWhileWriting("generation 1 of shop published")
	e.verify(t)

	for _, s := range []string{
		"ALTER TABLE shop.orders ADD COLUMN channel VARCHAR(16) NULL",
		"ALTER TABLE shop.customers ADD COLUMN vip BOOL NOT NULL DEFAULT FALSE",
		"ALTER TABLE shop.orders MODIFY COLUMN qty BIGINT NOT NULL",
		// Not a widening (values are rounded): alltypes is re-extracted.
		"ALTER TABLE shop.alltypes MODIFY COLUMN dtm6 DATETIME(3) NULL",
	} {
		if err := g.Run(ctx, 60, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	// The speed layer rebuilds the mirrors whose layout the DDL changed
	// (a fresh bootstrap, published at a newer position); once it is level,
	// let the archive seal past it, or the rebuild's cut would be older
	// than the mirrors' and its publish refused as stale.
	e.verify(t)
	if err := g.Run(ctx, 20, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := g.Run(ctx, 20, 0); err != nil {
		t.Fatal(err)
	}
	out := batchWhileWriting("generation 2 of shop published")
	t.Logf("batch after the DDL:\n%s", tail(out, 3000))
	if strings.Contains(out, "table shop.orders re-extracted") || strings.Contains(out, "table shop.customers re-extracted") {
		t.Errorf("a derivable DDL made the rebuild re-extract its table:\n%s", tail(out, 4000))
	}
	e.verify(t)

	// The lake's generation 2 has the new columns.
	b, err := os.ReadFile(filepath.Join(e.dir, "lake", "_generations", "00000000000000000002.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gen struct {
		Tables []struct {
			Table   string `json:"table"`
			Base    string `json:"base"`
			Columns []struct {
				Name, Type string
			} `json:"columns"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(b, &gen); err != nil {
		t.Fatal(err)
	}
	cols := map[string]string{}
	for _, ts := range gen.Tables {
		for _, c := range ts.Columns {
			cols[ts.Table+"."+c.Name] = c.Type
		}
		if want := ts.Table == "shop.alltypes"; strings.HasPrefix(ts.Base, "source at ") != want {
			t.Errorf("%s: base %q, re-extracted should be %v", ts.Table, ts.Base, want)
		}
	}
	for _, c := range []string{"shop.orders.channel", "shop.customers.vip"} {
		if cols[c] == "" {
			t.Errorf("generation 2 has no column %s: %v", c, cols)
		}
	}
	if cols["shop.orders.qty"] != "bigint" || cols["shop.alltypes.dtm6"] != "datetime(3)" {
		t.Errorf("shop.orders.qty is %q and shop.alltypes.dtm6 %q in generation 2, want bigint and datetime(3)",
			cols["shop.orders.qty"], cols["shop.alltypes.dtm6"])
	}

	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	batchWhileWriting("generation 3 of shop published")
	e.verify(t)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
}
