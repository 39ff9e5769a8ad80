package warehouse

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

func TestGenTableNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    uint64
	}{{"shop_orders", 7}, {"a_g5", 12}, {strings.Repeat("very_long_table_name_", 5), 123456789}} {
		n := GenTable(tc.name, tc.g)
		if len(n) > MaxIdentifier {
			t.Errorf("GenTable(%q, %d) = %q: %d bytes", tc.name, tc.g, n, len(n))
		}
		if g, ok := ParseGenTable(n); !ok || g != tc.g {
			t.Errorf("ParseGenTable(%q) = %d, %v; want %d", n, g, ok, tc.g)
		}
	}
	if a, b := GenTable(strings.Repeat("x", 70)+"a", 1), GenTable(strings.Repeat("x", 70)+"b", 1); a == b {
		t.Errorf("two long names shorten to the same %q", a)
	}
	for _, bad := range []string{"shop_orders", "t_orders_gx", "t_orders_g", "tidemark_generations"} {
		if _, ok := ParseGenTable(bad); ok {
			t.Errorf("ParseGenTable(%q) accepted it", bad)
		}
	}
}

func manifest() *batch.Generation {
	cols := []batch.ColumnSpec{{Name: "id", Type: "bigint"}, {Name: "amount", Type: "decimal(12,2)", Nullable: true}}
	files := []snapshot.File{{Key: "tables/shop/orders/gen=4/part-00000.parquet", Rows: 3, Bytes: 100}, {Key: "tables/shop/orders/gen=4/part-00001.parquet", Rows: 2, Bytes: 50}}
	return &batch.Generation{Version: 1, Generation: 4, Cut: formats.Position{File: "b.000001", Offset: 9, GTID: "0-1-42"}.String(),
		Tables: []batch.TableSnapshot{
			{Table: "shop.orders", Columns: cols, PK: []int{0}, Files: files, Rows: 5},
			{Table: "shop.empty"}, // schema unknown: left out
		},
		Histories: []batch.TableSnapshot{{Table: "shop.orders", Columns: append(cols, batch.ColumnSpec{Name: batch.HistValidFrom, Type: "varchar(255)"}), PK: []int{0}, Rows: 7}},
		Views:     []batch.ViewSnapshot{{View: "revenue", Columns: []batch.ColumnSpec{{Name: "day", Type: "varchar(10)", Nullable: true}, {Name: "n", Type: "bigint", Nullable: true}}, Groups: 2}},
	}
}

func TestFromBatch(t *testing.T) {
	g, err := FromBatch(manifest())
	if err != nil {
		t.Fatal(err)
	}
	if g.Number != 4 || g.GTID != "0-1-42" || len(g.Tables) != 3 {
		t.Fatalf("generation %+v", g)
	}
	orders, hist, view := g.Tables[0], g.Tables[1], g.Tables[2]
	if orders.Name != "shop_orders" || orders.Kind != KindTable || orders.Rows != 5 || orders.Bytes != 150 || len(orders.Files) != 2 ||
		orders.Columns[1].Type.Kind != formats.KindDecimal || !orders.Columns[1].Nullable {
		t.Errorf("table %+v", orders)
	}
	if hist.Name != "shop_orders_history" || hist.Kind != KindHistory || len(hist.PK) != 2 || hist.PK[1] != 2 {
		t.Errorf("history %+v", hist)
	}
	if view.Name != "revenue" || view.Kind != KindView || view.Rows != 2 {
		t.Errorf("view %+v", view)
	}
	sel := g.Select(Selection{Tables: []string{"SHOP.ORDERS"}, Views: []string{}})
	if len(sel.Tables) != 2 || sel.Tables[0].Kind != KindTable || sel.Tables[1].Kind != KindHistory {
		t.Errorf("selection: %+v", sel.Tables)
	}
	if g.Rows() != 14 {
		t.Errorf("rows %d", g.Rows())
	}
	m := manifest()
	m.Views[0].View = "shop_orders"
	if _, err := FromBatch(m); err == nil || !strings.Contains(err.Error(), `both load as "shop_orders"`) {
		t.Errorf("a view named like a table: %v", err)
	}
}
