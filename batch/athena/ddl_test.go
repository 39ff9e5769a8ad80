package athena

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

func testGeneration(g uint64) *batch.Generation {
	return &batch.Generation{
		Generation: g,
		Tables: []batch.TableSnapshot{{
			Table: "shop.orders",
			Columns: []batch.ColumnSpec{
				{Name: "id", Type: "bigint"}, {Name: "amount", Type: "decimal(12,2)", Nullable: true},
				{Name: "status", Type: "enum('new','paid')"}, {Name: "created_at", Type: "datetime(6)"},
				{Name: "qty", Type: "int unsigned"}, {Name: "biu", Type: "bigint unsigned", Nullable: true},
			},
			PK:        []int{0},
			Partition: []string{"day(created_at) AS dt", "status", "truncate(10, qty)"},
			Prefix:    batch.TablePrefix(mustTable("shop.orders"), g),
			Files: []snapshot.File{
				{Key: "k1", Partition: "dt=2024-05-03/status_part=paid/qty_trunc=10"},
				{Key: "k2", Partition: "dt=2024-04-30/status_part=new/qty_trunc=0"},
				{Key: "k3", Partition: "dt=2024-05-01/status_part=paid/qty_trunc=100"},
			},
		}, {
			Table:   "shop.customers",
			Columns: []batch.ColumnSpec{{Name: "id", Type: "bigint"}, {Name: "country", Type: "char(2)", Nullable: true}},
			Prefix:  batch.TablePrefix(mustTable("shop.customers"), g),
		}},
		Views: []batch.ViewSnapshot{{
			View:    "revenue_by_day",
			Columns: []batch.ColumnSpec{{Name: "day", Type: "varchar(10)", Nullable: true}, {Name: "revenue", Type: "decimal(38,2)", Nullable: true}},
			Prefix:  batch.ViewPrefix("revenue_by_day", g),
		}},
	}
}

func TestCreateDDL(t *testing.T) {
	stmts, err := CreateDDL(testGeneration(4), Options{Root: "s3://lake/tm/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 4 || stmts[0] != "CREATE DATABASE IF NOT EXISTS `tidemark`" {
		t.Fatalf("got %d statements: %q", len(stmts), stmts)
	}
	orders := stmts[1]
	for _, want := range []string{
		"CREATE EXTERNAL TABLE IF NOT EXISTS `tidemark`.`shop_orders` (\n  `id` bigint,\n  `amount` decimal(12,2),",
		"`biu` decimal(20,0)\n)",
		"PARTITIONED BY (`dt` string, `status_part` string, `qty_trunc` string)",
		"STORED AS PARQUET\nLOCATION 's3://lake/tm/tables/shop/orders/gen=4/'",
		"'projection.enabled'='true'",
		"'projection.dt.type'='date'", "'projection.dt.format'='yyyy-MM-dd'", "'projection.dt.range'='2024-04-30,2024-05-03'",
		"'projection.dt.interval.unit'='DAYS'",
		"'projection.status_part.type'='enum'", "'projection.status_part.values'='new,paid'",
		"'projection.qty_trunc.type'='integer'", "'projection.qty_trunc.range'='0,100'", "'projection.qty_trunc.interval'='10'",
		"'storage.location.template'='s3://lake/tm/tables/shop/orders/gen=4/dt=${dt}/status_part=${status_part}/qty_trunc=${qty_trunc}/'",
		"'tidemark.generation'='4'",
	} {
		if !strings.Contains(orders, want) {
			t.Errorf("orders DDL lacks %q:\n%s", want, orders)
		}
	}
	if c := stmts[2]; strings.Contains(c, "PARTITIONED") || strings.Contains(c, "projection") ||
		!strings.Contains(c, "LOCATION 's3://lake/tm/tables/shop/customers/gen=4/'") {
		t.Errorf("customers DDL:\n%s", c)
	}
	if v := stmts[3]; !strings.Contains(v, "`tidemark`.`view_revenue_by_day`") || !strings.Contains(v, "`revenue` decimal(38,2)") ||
		!strings.Contains(v, "LOCATION 's3://lake/tm/views/revenue_by_day/gen=4/'") {
		t.Errorf("view DDL:\n%s", v)
	}
}

func TestMoveDDL(t *testing.T) {
	stmts, err := MoveDDL(testGeneration(5), Options{Database: "lake", Root: "s3://b/p"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ALTER TABLE `lake`.`shop_orders` SET LOCATION 's3://b/p/tables/shop/orders/gen=5/'",
		"ALTER TABLE `lake`.`shop_customers` SET LOCATION 's3://b/p/tables/shop/customers/gen=5/'",
		"ALTER TABLE `lake`.`view_revenue_by_day` SET LOCATION 's3://b/p/views/revenue_by_day/gen=5/'",
	}
	for _, w := range want {
		found := false
		for _, s := range stmts {
			found = found || s == w
		}
		if !found {
			t.Errorf("no %q in %q", w, stmts)
		}
	}
	if !strings.Contains(stmts[1], "SET TBLPROPERTIES (") || !strings.Contains(stmts[1], "gen=5/dt=${dt}") {
		t.Errorf("properties statement: %s", stmts[1])
	}
}

func TestNullPartitionsAndRefusals(t *testing.T) {
	g := testGeneration(1)
	g.Tables[0].Files = append(g.Tables[0].Files, snapshot.File{Partition: "dt=2024-05-01/status_part=" + snapshot.HiveNull + "/qty_trunc=0"})
	stmts, err := CreateDDL(g, Options{Root: "s3://b"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stmts[1], "'projection.status_part.values'='"+snapshot.HiveNull+",new,paid'") {
		t.Errorf("NULL partition not listed:\n%s", stmts[1])
	}
	if _, err := CreateDDL(g, Options{Root: "file:///var/lake"}); err == nil || !strings.Contains(err.Error(), "S3 only") {
		t.Errorf("file root: %v", err)
	}
	g.Tables[0].Files = append(g.Tables[0].Files, snapshot.File{Partition: "dt=2024-05-01/status_part=a,b/qty_trunc=0"})
	if _, err := CreateDDL(g, Options{Root: "s3://b"}); err == nil || !strings.Contains(err.Error(), "comma") {
		t.Errorf("comma in an enum value: %v", err)
	}
}

func mustTable(s string) formats.TableID {
	id, err := formats.ParseTableID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// TestHistoryDDL: a history table is declared and moved like its table,
// as <db>_<table>_history at its own folder, with the history columns.
func TestHistoryDDL(t *testing.T) {
	gen := testGeneration(6)
	h := gen.Tables[0]
	h.Prefix = batch.HistoryPrefix(mustTable("shop.orders"), 6)
	h.Columns = append(h.Columns[:len(h.Columns):len(h.Columns)],
		batch.ColumnSpec{Name: batch.HistValidFrom, Type: "varchar(255)"},
		batch.ColumnSpec{Name: batch.HistValidTo, Type: "varchar(255)", Nullable: true},
		batch.ColumnSpec{Name: batch.HistValidFromTime, Type: "timestamp(6)", Nullable: true},
		batch.ColumnSpec{Name: batch.HistValidToTime, Type: "timestamp(6)", Nullable: true},
		batch.ColumnSpec{Name: batch.HistStartOp, Type: "varchar(8)"},
		batch.ColumnSpec{Name: batch.HistEndOp, Type: "varchar(8)", Nullable: true})
	h.Files = []snapshot.File{{Key: "h1", Partition: "dt=2024-04-29/status_part=new/qty_trunc=0"}}
	gen.Histories = []batch.TableSnapshot{h}
	stmts, err := CreateDDL(gen, Options{Root: "s3://lake/tm"})
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 5 {
		t.Fatalf("got %d statements: %q", len(stmts), stmts)
	}
	hist := stmts[3]
	for _, want := range []string{
		"CREATE EXTERNAL TABLE IF NOT EXISTS `tidemark`.`shop_orders_history` (\n  `id` bigint,",
		"`valid_from` string,\n  `valid_to` string,\n  `valid_from_time` timestamp,\n  `valid_to_time` timestamp,\n  `start_op` string,\n  `end_op` string\n)",
		"PARTITIONED BY (`dt` string, `status_part` string, `qty_trunc` string)",
		"LOCATION 's3://lake/tm/history/shop/orders/gen=6/'",
		"'projection.dt.range'='2024-04-29,2024-04-29'",
		"'storage.location.template'='s3://lake/tm/history/shop/orders/gen=6/dt=${dt}/status_part=${status_part}/qty_trunc=${qty_trunc}/'",
	} {
		if !strings.Contains(hist, want) {
			t.Errorf("history DDL lacks %q:\n%s", want, hist)
		}
	}
	moves, err := MoveDDL(gen, Options{Root: "s3://lake/tm"})
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 8 || moves[4] != "ALTER TABLE `tidemark`.`shop_orders_history` SET LOCATION 's3://lake/tm/history/shop/orders/gen=6/'" ||
		!strings.Contains(moves[5], "ALTER TABLE `tidemark`.`shop_orders_history` SET TBLPROPERTIES (") {
		t.Fatalf("move statements: %q", moves)
	}
	// A source table named like a history table is refused, not merged.
	clash := testGeneration(6)
	clash.Histories = []batch.TableSnapshot{h}
	clash.Tables[1].Table = "shop.orders_history"
	if _, err := CreateDDL(clash, Options{Root: "s3://lake/tm"}); err == nil || !strings.Contains(err.Error(), "both map to table shop_orders_history") {
		t.Fatalf("name clash: %v", err)
	}
}
