package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/gluefake"
	"github.com/tidemark/tidemark/internal/stack"
)

// TestBatchSyncsGlue runs the binary's batch layer on a MinIO lake with
// athena.glue.sync on, against gluefake (real Glue is not reachable from
// here): each `tidemark batch` leaves every Glue table at the new
// generation's folders, signed with the lake's keys; `tidemark athena sync`
// of the same generation changes nothing; a failing catalog neither fails
// nor unpublishes the next generation, and `tidemark athena sync` then
// catches the catalog up.
func TestBatchSyncsGlue(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := stack.MinIO(t)
	// The fake verifies signatures with the lake's secret: the sync falls
	// back to lake.s3's keys when athena.glue has none.
	fake := gluefake.New(gluefake.Options{AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	t.Cleanup(fake.Close)
	cfg := readFile(t, e.cfg)
	fileLake := "lake:\n  root: file://" + e.dir + "/lake\n"
	if !strings.Contains(cfg, fileLake) {
		t.Fatalf("the harness's lake section changed; want %q in:\n%s", fileLake, cfg)
	}
	cfg = strings.Replace(cfg, fileLake, fmt.Sprintf(`lake:
  root: s3://%s/tm
  s3: {endpoint: %q, region: %s, access_key_id: %s, secret_access_key: %s, path_style: true}
athena:
  database: shop_lake
  glue:
    sync: true
    endpoint: %q
`, m.Bucket, m.Endpoint, m.Region, m.AccessKey, m.SecretKey, fake.URL), 1)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	if out, code := e.tidemark(t, "validate", "-c", e.cfg); code != 0 || !strings.Contains(out, "ok   glue catalog reachable (database shop_lake)") {
		t.Fatalf("validate exited %d:\n%s", code, out)
	}
	ctx := context.Background()
	g := e.workload(93, 1)
	if err := g.Seed(ctx, 30, 300); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")

	// As in TestBatchOverwritesSpeed: segments seal when a later
	// transaction arrives, so a workload writes while the rebuild runs.
	space := int64(1)
	batch := func() string {
		t.Helper()
		space++
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.workload(uint64(90+space), space).Run(wctx, 0, 20) }()
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
	// atGeneration checks that every Glue table points at generation gen.
	atGeneration := func(gen int) {
		t.Helper()
		names := fake.Tables("shop_lake")
		for _, want := range []string{"shop_orders", "shop_customers", "shop_alltypes", "view_revenue_by_day", "view_types_by_color"} {
			if !slices.Contains(names, want) {
				t.Errorf("no Glue table %s (have %v)", want, names)
			}
		}
		for _, n := range names {
			tb, _ := fake.Table("shop_lake", n)
			loc := tb.StorageDescriptor.Location
			if !strings.HasPrefix(loc, "s3://"+m.Bucket+"/tm/") || !strings.HasSuffix(loc, fmt.Sprintf("/gen=%d/", gen)) ||
				tb.Parameters["tidemark.generation"] != fmt.Sprint(gen) {
				t.Errorf("Glue table %s: location %s, generation %s; want generation %d", n, loc, tb.Parameters["tidemark.generation"], gen)
			}
		}
		if o, _ := fake.Table("shop_lake", "shop_orders"); o.StorageDescriptor.Location != fmt.Sprintf("s3://%s/tm/tables/shop/orders/gen=%d/", m.Bucket, gen) {
			t.Errorf("shop_orders at %s", o.StorageDescriptor.Location)
		}
	}

	out := batch()
	if !strings.Contains(out, "generation 1 of shop published") || !strings.Contains(out, "Glue catalog in step") {
		t.Fatalf("first batch:\n%s", tail(out, 3000))
	}
	atGeneration(1)
	if err := g.Run(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	out = batch()
	if !strings.Contains(out, "generation 2 of shop published") {
		t.Fatalf("second batch:\n%s", tail(out, 3000))
	}
	atGeneration(2)
	if fake.Refused() != 0 {
		t.Errorf("the fake refused %d requests for their signature", fake.Refused())
	}

	// An on-demand sync of the same generation writes nothing.
	updates, creates := fake.Calls("UpdateTable"), fake.Calls("CreateTable")
	out, code := e.tidemark(t, "athena", "sync", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "unchanged shop_lake.shop_orders (generation 2)") {
		t.Fatalf("athena sync exited %d:\n%s", code, out)
	}
	if fake.Calls("UpdateTable") != updates || fake.Calls("CreateTable") != creates {
		t.Errorf("an idempotent sync wrote: %d updates, %d creates", fake.Calls("UpdateTable")-updates, fake.Calls("CreateTable")-creates)
	}

	// Glue down: the generation is published all the same, the failure
	// logged once, the catalog left where it was.
	fake.Fail("*")
	out = batch()
	if !strings.Contains(out, "generation 3 of shop published") || strings.Count(out, "Glue catalog sync failed") != 1 {
		t.Fatalf("batch with Glue down:\n%s", tail(out, 3000))
	}
	fake.Fail()
	atGeneration(2)
	e.verify(t)
	out, code = e.tidemark(t, "athena", "sync", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "updated   shop_lake.shop_orders (generation 3)") {
		t.Fatalf("athena sync after the outage exited %d:\n%s", code, out)
	}
	atGeneration(3)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}

	// The batch role of `tidemark run` syncs after each scheduled
	// rebuild, and counts its syncs where Prometheus scrapes them.
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg = readFile(t, e.cfg)
	cfg = strings.Replace(cfg, "metrics:\n  listen: \"\"\n", "metrics:\n  listen: "+metricsAddr+"\n", 1)
	cfg = strings.Replace(cfg, "\nlog:\n", "\nbatch:\n  schedule: \"*/2 * * * * *\"\nlog:\n", 1)
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p = e.start(t, "--roles", "speed,batch")
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.workload(99, 50).Run(wctx, 0, 20) }()
	deadline := time.Now().Add(120 * time.Second)
	for {
		o, _ := fake.Table("shop_lake", "shop_orders")
		if gen, _ := strconv.Atoi(o.Parameters["tidemark.generation"]); gen >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled rebuilds did not bring Glue past generation 4 within 120s (at %s)", o.Parameters["tidemark.generation"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "tidemark_glue_sync_failures_total 0") || !strings.Contains(string(body), "tidemark_glue_syncs_total ") ||
		strings.Contains(string(body), "tidemark_glue_generation 0") {
		t.Errorf("metrics lack the Glue sync's series:\n%s", grepLines(string(body), "tidemark_glue"))
	}
	t.Logf("%s", grepLines(string(body), "tidemark_glue"))
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
