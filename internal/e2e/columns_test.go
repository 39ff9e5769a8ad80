package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

const columnsKey = "e2e mask key: 32 bytes of secret"

// columnsYAML is sources[0].columns of TestColumnPolicy: customers' country
// and two alltypes columns never leave the source; names, the customer id
// (in both tables, so the join survives) and five alltypes columns of
// different types (TIMESTAMP too, which `tidemark verify` reads as a
// snapshot does) leave only as keyed hashes.
const columnsYAML = `    heartbeat: shop.tm_heartbeat
    heartbeat_interval: 300ms
    columns:
      exclude: [shop.customers.country, shop.alltypes.tx, shop.alltypes.geo]
      mask: [shop.customers.name, shop.customers.id, shop.orders.customer_id, shop.alltypes.vc, shop.alltypes.dtm6, shop.alltypes.i, shop.alltypes.vb, shop.alltypes.ts]
`

var hexHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestColumnPolicy runs the binary with a column policy over the shop
// workload and proves the policy in every store: the excluded columns are
// in no schema of the lake (tables, history, views), the changelog archive
// or the Redis mirrors; a masked column holds the same keyed hash in the
// Redis mirror, the lake's table and history snapshots and the archive,
// never the clear value; joins on a masked key still match; `tidemark
// verify` agrees with the source (it masks the source's values); and
// views or policies that do not fit are refused at start-up with their
// path.
func TestColumnPolicy(t *testing.T) { testColumnPolicy(t, false) }

// TestColumnPolicyMinIO is TestColumnPolicy with the lake on MinIO (S3),
// where `tidemark athena ddl` also runs: its tables declare no excluded
// column.
func TestColumnPolicyMinIO(t *testing.T) { testColumnPolicy(t, true) }

func testColumnPolicy(t *testing.T, minio bool) {
	t.Setenv("TIDEMARK_SOURCES_0_COLUMNS_MASK_KEY", columnsKey)
	pg := stack.Postgres(t)
	e := newEnv(t, envOptions{sourceYAML: columnsYAML, extraYAML: fmt.Sprintf(`batch:
  history: [shop.customers]
warehouse:
  - name: pg
    kind: postgres
    dsn: %s
    schema: reporting
`, pg.DSN())})
	ctx := context.Background()
	root, s3opts := "file://"+e.dir+"/lake", lake.S3Options{}
	if minio {
		m := stack.MinIO(t)
		cfg := readFile(t, e.cfg)
		fileLake := "lake:\n  root: " + root + "\n"
		if !strings.Contains(cfg, fileLake) {
			t.Fatalf("the harness's lake section changed; want %q in:\n%s", fileLake, cfg)
		}
		root = "s3://" + m.Bucket + "/tm"
		cfg = strings.Replace(cfg, fileLake, fmt.Sprintf("lake:\n  root: %s\n  s3: {endpoint: %q, region: %s, access_key_id: %s, secret_access_key: %s, path_style: true}\n",
			root, m.Endpoint, m.Region, m.AccessKey, m.SecretKey), 1)
		if err := os.WriteFile(e.cfg, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		s3opts = lake.S3Options{Endpoint: m.Endpoint, Region: m.Region, AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey, PathStyle: true}
	}
	st, err := lake.Open(ctx, root, s3opts)
	if err != nil {
		t.Fatal(err)
	}
	g := e.workload(17, 1)
	if err := g.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "customers")
	if err := g.Run(ctx, 150, 0); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE shop.customers SET name = CONCAT(name, ' Jr.'), country = 'ZZ' WHERE id % 3 = 0",
		"UPDATE shop.customers SET country = 'YY' WHERE id % 3 = 1",
	} {
		if _, err := e.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	e.verify(t)
	out, code := e.tidemark(t, "batch", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "loaded generation 1") {
		t.Fatalf("tidemark batch exited %d:\n%s", code, tail(out, 4000))
	}
	e.verify(t)
	// Stopped, so that the stores hold still while they are scanned.
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}

	// The source, clear: customers by id, and the hashes they must have.
	mask := func(v any) string {
		return capture.MaskedValue([]byte(columnsKey), formats.Type{Kind: formats.KindVarChar}, v)
	}
	clear := map[string]bool{}
	wantName := map[string]string{} // hash(id) -> hash(name)
	rows, err := e.db.Query("SELECT id, name, country FROM shop.customers")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var name string
		var country *string
		if err := rows.Scan(&id, &name, &country); err != nil {
			t.Fatal(err)
		}
		wantName[capture.MaskedValue([]byte(columnsKey), formats.Type{Kind: formats.KindBigInt}, id)] = mask(name)
		clear[name] = true
	}
	rows.Close()
	if len(wantName) < 30 {
		t.Fatalf("%d customers on the source", len(wantName))
	}

	// Redis: the customers mirror is keyed by the id's hash and holds the
	// name's hash; no country column.
	store := redisview.New(e.redis.Client(t), redisview.Options{Prefix: "tm"})
	gotName := map[string]string{}
	for r, err := range store.ScanMirror(ctx, "customers") {
		if err != nil {
			t.Fatal(err)
		}
		var vals []any
		if err := json.Unmarshal(r.Values, &vals); err != nil {
			t.Fatal(err)
		}
		if len(vals) != 3 {
			t.Fatalf("customers mirror row %s has %d values, want 3 (id, name, created_at: country excluded)", r.Values, len(vals))
		}
		gotName[vals[0].(string)] = vals[1].(string)
	}
	if !mapsEqual(gotName, wantName) {
		t.Errorf("Redis customers mirror (hash(id) -> hash(name)) differs from the source's masked values:\ngot  %v\nwant %v", gotName, wantName)
	}
	orderCustomers := 0
	for r, err := range store.ScanMirror(ctx, "orders") {
		if err != nil {
			t.Fatal(err)
		}
		var vals []any
		if err := json.Unmarshal(r.Values, &vals); err != nil {
			t.Fatal(err)
		}
		if _, ok := wantName[vals[1].(string)]; !ok {
			t.Fatalf("orders mirror customer_id %v matches no customer's masked id: the join is broken", vals[1])
		}
		orderCustomers++
	}
	if orderCustomers == 0 {
		t.Fatal("orders mirror is empty")
	}
	// alltypes' masked columns i, vc, dtm6, vb and ts, by id, as the mirror
	// holds them (policy-applied ordinals: tx and geo are gone).
	const maskedAllTypes = "i, vc, dtm6, vb, ts"
	mirrorAllTypes := map[string]string{}
	for r, err := range store.ScanMirror(ctx, "alltypes") {
		if err != nil {
			t.Fatal(err)
		}
		var vals []any
		dec := json.NewDecoder(bytes.NewReader(r.Values))
		dec.UseNumber() // ids print as the warehouse's bigint does
		if err := dec.Decode(&vals); err != nil {
			t.Fatal(err)
		}
		if len(vals) != 33-2 {
			t.Fatalf("alltypes mirror row has %d values, want 31 (tx and geo excluded)", len(vals))
		}
		mirrorAllTypes[fmt.Sprint(vals[0])] = fmt.Sprint(vals[7], "|", vals[22], "|", vals[17], "|", vals[24], "|", vals[18])
	}
	if len(mirrorAllTypes) == 0 {
		t.Fatal("alltypes mirror is empty")
	}

	// The lake: no Parquet file anywhere has an excluded column; the
	// customers table and history snapshots hold the masked values.
	var files, customerFiles int
	lakeName := map[string]string{}
	objects, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		files++
		raw, err := lake.ReadAll(ctx, st, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		cols := map[string]int{}
		for i, c := range pf.Schema().Columns() {
			cols[c[0]] = i
			if c[0] == "country" || c[0] == "tx" || c[0] == "geo" {
				t.Errorf("%s has the excluded column %s", o.Key, c[0])
			}
		}
		rel := o.Key
		isTable := strings.HasPrefix(rel, "tables/shop/customers/")
		if !isTable && !strings.HasPrefix(rel, "history/shop/customers/") {
			continue
		}
		customerFiles++
		idCol, ok1 := cols["id"]
		nameCol, ok2 := cols["name"]
		if !ok1 || !ok2 {
			t.Fatalf("%s: no id or name column: %v", rel, cols)
		}
		r := parquet.NewGenericReader[any](pf)
		buf := make([]parquet.Row, 64)
		for {
			n, err := r.ReadRows(buf)
			for _, row := range buf[:n] {
				var id, name string
				for _, v := range row {
					switch v.Column() {
					case idCol:
						id = string(v.ByteArray())
					case nameCol:
						name = string(v.ByteArray())
					}
				}
				if !hexHash.MatchString(id) || !hexHash.MatchString(name) || clear[name] {
					t.Fatalf("%s: row id %q name %q is not masked", rel, id, name)
				}
				if isTable && strings.Contains(rel, "/gen=1/") {
					lakeName[id] = name
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if files == 0 || customerFiles < 2 {
		t.Fatalf("%d Parquet files, %d of customers (table and history): the lake is not there", files, customerFiles)
	}
	if !mapsEqual(lakeName, wantName) {
		t.Errorf("lake customers gen=1 (hash(id) -> hash(name)) differs from the source's masked values:\ngot  %v\nwant %v", lakeName, wantName)
	}

	// The changelog archive's sealed segments (those with a manifest):
	// schemas without the excluded columns, and the last image of each
	// customer equal to the mirror's.
	archived := map[string]string{}
	manifests := map[string]bool{}
	for _, o := range objects {
		if id, ok := strings.CutPrefix(o.Key, "changelog/shop/_manifests/"); ok {
			manifests[strings.TrimSuffix(id, ".json")] = true
		}
	}
	sealed := 0
	for _, o := range objects {
		seg := o.Key
		id, ok := strings.CutPrefix(path.Dir(seg), "changelog/shop/seg=")
		if !ok || !strings.HasSuffix(seg, ".zst") || !manifests[id] {
			continue // not a segment, or the open one
		}
		sealed++
		raw, err := lake.ReadAll(ctx, st, seg)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := zstd.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		schemaTable := map[int]string{}
		sc := bufio.NewScanner(dec)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var line struct {
				Kind    string `json:"kind"`
				ID      int    `json:"id"`
				Table   string `json:"table"`
				Columns []struct {
					Name string `json:"name"`
				} `json:"columns"`
				Op     string `json:"op"`
				Schema int    `json:"schema"`
				After  []any  `json:"after"`
				Before []any  `json:"before"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			switch line.Kind {
			case "schema":
				schemaTable[line.ID] = line.Table
				for _, c := range line.Columns {
					if c.Name == "country" || c.Name == "tx" || c.Name == "geo" {
						t.Errorf("%s: schema of %s has the excluded column %s", seg, line.Table, c.Name)
					}
				}
			case "event":
				if schemaTable[line.Schema] != "shop.customers" {
					continue
				}
				for _, img := range [][]any{line.Before, line.After} {
					if img != nil && (len(img) != 3 || !hexHash.MatchString(img[1].(string)) || clear[img[1].(string)]) {
						t.Fatalf("%s: customers image %v is not policy-applied", seg, img)
					}
				}
				if line.After != nil {
					archived[line.After[0].(string)] = line.After[1].(string)
				} else {
					delete(archived, line.Before[0].(string))
				}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		dec.Close()
	}
	if sealed == 0 || len(archived) == 0 {
		t.Fatalf("%d sealed changelog segments, %d customers changed in them", sealed, len(archived))
	}
	for id, name := range archived {
		if wantName[id] != name {
			t.Errorf("archive's last image of customer %s has name hash %s, the mirror and the source %s", id, name, wantName[id])
		}
	}
	if minio {
		// Athena's DDL, from the lake's schemas: the excluded columns are
		// not declared, the masked name is a string.
		ddl, code := e.tidemark(t, "athena", "ddl", "-c", e.cfg)
		if code != 0 {
			t.Fatalf("athena ddl exited %d:\n%s", code, ddl)
		}
		for _, col := range []string{"`country`", "`tx`", "`geo`"} {
			if strings.Contains(ddl, col) {
				t.Errorf("athena ddl declares the excluded column %s:\n%s", col, ddl)
			}
		}
		if !strings.Contains(ddl, "`name` string") {
			t.Errorf("athena ddl has no string column name (masked):\n%s", ddl)
		}
	}

	whTables := checkWarehouseColumns(t, ctx, pg, wantName, clear, maskedAllTypes, mirrorAllTypes)

	t.Logf("checked %d customers, %d orders in Redis, %d Parquet files (%d of customers), %d customers in the archive, %d warehouse relations",
		len(wantName), orderCustomers, files, customerFiles, len(archived), whTables)

	// Refusals at start-up, with the config path.
	cfg := readFile(t, e.cfg)
	write := func(name, content string) string {
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	badView := write("badview.yaml", cfg+`
  - name: by_country
    from: shop.customers
    group_by: [country]
    measures: ["count()"]
`)
	out, code = e.tidemark(t, "validate", "-c", badView)
	if code == 0 || !strings.Contains(out, "views[7].group_by[0]: column shop.customers.country is excluded by sources[0].columns.exclude[0]") {
		t.Errorf("a view grouping by an excluded column: exit %d:\n%s", code, out)
	}
	badPolicy := write("badpolicy.yaml", strings.Replace(cfg, "exclude: [shop.customers.country,", "exclude: [shop.customers.nosuch, shop.customers.country,", 1))
	out, code = e.tidemark(t, "validate", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "ok   column policy of source shop: 3 excluded and 8 masked columns exist on the source") {
		t.Errorf("validate with a fitting policy: exit %d:\n%s", code, out)
	}
	out, code = e.tidemark(t, "validate", "-c", badPolicy)
	if code != 1 || !strings.Contains(out, `sources[0].columns.exclude[0]: "shop.customers.nosuch": table shop.customers has no column "nosuch"`) {
		t.Errorf("validate with a policy naming a missing column: exit %d:\n%s", code, out)
	}
	out, code = e.tidemark(t, "run", "-c", badPolicy, "--roles", "speed")
	if code != 2 || !strings.Contains(out, `sources[0].columns.exclude[0]`) {
		t.Errorf("run with a policy naming a missing column: exit %d, want 2 naming the entry:\n%s", code, tail(out, 2000))
	}
}

// checkWarehouseColumns proves the column policy in the PostgreSQL target
// "pg" (schema reporting) after `tidemark batch` loaded generation 1: no
// column of any relation of either schema (the stable views over tables,
// histories and aggregate views, the per-generation tables behind them) is
// an excluded one; the masked columns are varchar(64) there and hold the
// same hashes as the Redis mirrors and the lake (wantName: hash(id) ->
// hash(name) of the customers, mirrorAllTypes: alltypes' masked columns
// by id); the orders_by_customer view, grouped by the masked
// customer_id, still joins the customers. It returns the number of
// relations checked.
func checkWarehouseColumns(t *testing.T, ctx context.Context, pg *stack.PostgresServer, wantName map[string]string, clear map[string]bool, maskedAllTypes string, mirrorAllTypes map[string]string) int {
	t.Helper()
	c := pg.Conn(t)
	rows, err := c.Query(ctx, `SELECT c.table_schema, c.table_name, c.column_name, c.data_type, coalesce(c.character_maximum_length, 0)
		FROM information_schema.columns c JOIN information_schema.tables r USING (table_catalog, table_schema, table_name)
		WHERE c.table_schema IN ('reporting', 'reporting_gen')`)
	if err != nil {
		t.Fatal(err)
	}
	relations := map[string]bool{}
	for rows.Next() {
		var schema, table, column, typ string
		var length int
		if err := rows.Scan(&schema, &table, &column, &typ, &length); err != nil {
			t.Fatal(err)
		}
		relations[schema+"."+table] = true
		switch column {
		case "country", "tx", "geo":
			t.Errorf("warehouse %s.%s has the excluded column %s", schema, table, column)
		}
		masked := (strings.Contains(table, "shop_customers") && (column == "id" || column == "name")) ||
			(strings.Contains(table, "shop_alltypes") && strings.Contains(", "+maskedAllTypes+",", ", "+column+",")) ||
			(strings.Contains(table, "orders_by_customer") || strings.Contains(table, "shop_orders")) && column == "customer_id"
		if masked && (typ != "character varying" || length != 64) {
			t.Errorf("warehouse %s.%s.%s is %s(%d), want the masked type varchar(64)", schema, table, column, typ, length)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, want := range []string{"reporting.shop_customers", "reporting.shop_customers_history", "reporting.shop_alltypes", "reporting.shop_orders",
		"reporting.orders_by_customer", "reporting.types_by_color", "reporting_gen.t_shop_customers_g1", "reporting_gen.t_shop_customers_history_g1"} {
		if !relations[want] {
			t.Fatalf("warehouse has no relation %s (has %v): the load is not there", want, relations)
		}
	}

	query := func(q string, each func(vals []any)) int {
		t.Helper()
		rows, err := c.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			each(vals)
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	gotName := map[string]string{}
	query("SELECT id, name FROM reporting.shop_customers", func(v []any) { gotName[v[0].(string)] = v[1].(string) })
	if !mapsEqual(gotName, wantName) {
		t.Errorf("warehouse reporting.shop_customers (hash(id) -> hash(name)) differs from Redis's and the lake's:\ngot  %v\nwant %v", gotName, wantName)
	}
	if n := query("SELECT id, name FROM reporting.shop_customers_history", func(v []any) {
		id, name := v[0].(string), v[1].(string)
		if !hexHash.MatchString(id) || !hexHash.MatchString(name) || clear[name] {
			t.Fatalf("warehouse reporting.shop_customers_history: row id %q name %q is not masked", id, name)
		}
	}); n < len(wantName) {
		t.Errorf("warehouse reporting.shop_customers_history has %d versions, fewer than the %d customers", n, len(wantName))
	}
	groups := query("SELECT customer_id FROM reporting.orders_by_customer", func(v []any) {
		if _, ok := wantName[v[0].(string)]; !ok {
			t.Fatalf("warehouse orders_by_customer customer_id %v matches no customer's masked id: the join is broken", v[0])
		}
	})
	if groups == 0 {
		t.Error("warehouse orders_by_customer is empty")
	}
	gotAllTypes := map[string]string{}
	query("SELECT id, "+maskedAllTypes+" FROM reporting.shop_alltypes", func(v []any) {
		s := make([]string, len(v)-1)
		for i, x := range v[1:] {
			s[i] = fmt.Sprint(x)
			if x == nil {
				s[i] = "<nil>" // as fmt prints the mirror's JSON null
			} else if !hexHash.MatchString(x.(string)) {
				t.Fatalf("warehouse reporting.shop_alltypes id %v: masked value %q is not a hash", v[0], x)
			}
		}
		gotAllTypes[fmt.Sprint(v[0])] = strings.Join(s, "|")
	})
	if !mapsEqual(gotAllTypes, mirrorAllTypes) {
		t.Errorf("warehouse reporting.shop_alltypes (%s by id) differs from the Redis mirror:\ngot  %v\nwant %v", maskedAllTypes, gotAllTypes, mirrorAllTypes)
	}
	return len(relations)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
