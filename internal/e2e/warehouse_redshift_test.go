package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/redshiftfake"
	"github.com/tidemark/tidemark/internal/stack"
)

// TestBatchLoadsRedshift runs a kind: redshift target as an operator
// does, against the Data API stand-in (internal/redshiftfake, over a real
// PostgreSQL, COPY from the lake on MinIO under Redshift's rules):
// `tidemark validate` checks it, `tidemark batch` beside `tidemark run`
// publishes a generation of the shop (every type of the type map in
// shop.alltypes) and loads it, each table's rows equal the control row's
// count, and `tidemark warehouse status` reports it loaded.
func TestBatchLoadsRedshift(t *testing.T) {
	m := stack.MinIO(t)
	pg := stack.Postgres(t)
	ctx := context.Background()
	const role = "arn:aws:iam::123456789012:role/tidemark-copy"
	// The stand-in verifies signatures with the lake's secret: the loader
	// falls back to lake.s3's keys when data_api has none.
	fake, err := redshiftfake.New(ctx, redshiftfake.Options{PostgresDSN: pg.DSN(), S3: m.Client(),
		AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey, IAMRole: role})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	e := newEnv(t, envOptions{extraYAML: fmt.Sprintf(`warehouse:
  - name: rs
    kind: redshift
    data_api: {workgroup_name: analytics, database: dev, endpoint: %q}
    iam_role: %s
    schema: reporting
    table_keys:
      - {table: shop.orders, sort_keys: [created_at, id], dist_key: customer_id}
`, fake.URL, role)})
	cfg := readFile(t, e.cfg)
	fileLake := "lake:\n  root: file://" + e.dir + "/lake\n"
	if !strings.Contains(cfg, fileLake) {
		t.Fatalf("the harness's lake section changed; want %q in:\n%s", fileLake, cfg)
	}
	cfg = strings.Replace(cfg, fileLake, fmt.Sprintf(`lake:
  root: s3://%s/tm
  s3: {endpoint: %q, region: %s, access_key_id: %s, secret_access_key: %s, path_style: true}
`, m.Bucket, m.Endpoint, m.Region, m.AccessKey, m.SecretKey), 1)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := e.tidemark(t, "validate", "-c", e.cfg); code != 0 {
		t.Fatalf("validate exited %d:\n%s", code, out)
	}

	g := e.workload(77, 1)
	if err := g.Seed(ctx, 30, 300); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")
	// shop.alltypes gets rows before the cut (Seed writes none, and the
	// concurrent workload may not reach it before the batch cuts).
	if err := e.workload(79, 3).Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	var allTypesRows int
	if err := e.db.QueryRowContext(ctx, "SELECT count(*) FROM shop.alltypes").Scan(&allTypesRows); err != nil || allTypesRows == 0 {
		t.Fatalf("shop.alltypes holds %d rows before the batch (%v): the test would prove nothing for its types", allTypesRows, err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.workload(78, 2).Run(wctx, 0, 20) }()
	out, code := e.tidemark(t, "batch", "-c", e.cfg)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(out, "warehouse rs") || !strings.Contains(out, "loaded generation 1") {
		t.Fatalf("tidemark batch exited %d:\n%s", code, tail(out, 4000))
	}

	c := pg.Conn(t)
	var rowsJSON string
	if err := c.QueryRow(ctx, `SELECT "rows" FROM reporting.tidemark_generations WHERE generation = 1`).Scan(&rowsJSON); err != nil {
		t.Fatal(err)
	}
	var counts map[string]int64
	if err := json.Unmarshal([]byte(rowsJSON), &counts); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"shop_orders", "shop_customers", "shop_alltypes", "orders_by_customer"} {
		var n int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM reporting."+name).Scan(&n); err != nil {
			t.Fatalf("reporting.%s: %v", name, err)
		}
		if n != counts[name] || n == 0 {
			t.Errorf("reporting.%s holds %d rows, the control row says %d", name, n, counts[name])
		}
	}
	var nonNullJSON int64
	if err := c.QueryRow(ctx, "SELECT count(js) FROM reporting.shop_alltypes").Scan(&nonNullJSON); err != nil || nonNullJSON == 0 {
		t.Errorf("shop_alltypes.js: %d non-NULL values (%v)", nonNullJSON, err)
	}
	if out, code := e.tidemark(t, "warehouse", "status", "-c", e.cfg, "--format", "json"); code != 0 || !strings.Contains(out, `"loaded"`) {
		t.Fatalf("warehouse status exited %d:\n%s", code, out)
	}
	p.term(t)
}
