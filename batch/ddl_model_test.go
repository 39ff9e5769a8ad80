package batch

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// ddlModel is the model as a source that can say column defaults.
type ddlModel struct {
	*model
	defaults map[formats.TableID]*TableDefaults
}

func (d ddlModel) ColumnDefaults(ctx context.Context, t formats.TableID) (*TableDefaults, error) {
	return d.defaults[t], nil
}

// alterModel rewrites the model's transactions from index from on as if
// ADD COLUMN channel VARCHAR(8) NOT NULL DEFAULT 'web' ran on orders and
// ADD COLUMN src INT NULL on events just before: every row image carries
// the default.
func alterModel(m *model, from int) (orders2, events2 *formats.TableSchema) {
	orders2 = &formats.TableSchema{Table: ordersID, PK: ordersSchema.PK,
		Columns: append(slices.Clone(ordersSchema.Columns), formats.Column{Name: "channel", Type: mustType("varchar(8)")})}
	events2 = &formats.TableSchema{Table: eventsID,
		Columns: append(slices.Clone(eventsSchema.Columns), formats.Column{Name: "src", Type: mustType("int"), Nullable: true})}
	ext := func(r formats.Row, v any) formats.Row {
		if r == nil {
			return nil
		}
		return slices.Concat(r, formats.Row{v})
	}
	for _, txn := range m.txns[from:] {
		for i := range txn.Events {
			ev := &txn.Events[i]
			switch ev.Table {
			case ordersID:
				ev.Schema, ev.Before, ev.After = orders2, ext(ev.Before, "web"), ext(ev.After, "web")
			case eventsID:
				ev.Schema, ev.Before, ev.After = events2, ext(ev.Before, nil), ext(ev.After, nil)
			}
		}
	}
	return orders2, events2
}

// TestRebuildAcrossAddColumn (no server): a rebuild rolls generation 0
// forward across ADD COLUMN on a table with a primary key (and its history)
// and on one without: older rows hold the defaults the source gives.
// Without a source to ask, the rebuild refuses and says why.
func TestRebuildAcrossAddColumn(t *testing.T) {
	ctx := context.Background()
	for _, withSource := range []bool{true, false} {
		store, _ := lake.OpenDir(t.TempDir())
		m := newModel(9)
		for range 30 {
			m.step()
		}
		opts := testOptions(nil)
		if _, err := Rebuild(ctx, store, m, opts); err != nil {
			t.Fatal(err)
		}
		for range 90 {
			m.step()
		}
		orders2, events2 := alterModel(m, 60)
		archive(t, store, m, m.txns[29].Pos)
		src := ddlModel{m, map[formats.TableID]*TableDefaults{
			ordersID: {Columns: map[string]ColumnDefault{"channel": {Default: strp("'web'")}}, DefinedAt: m.txns[59].CommitTime},
			eventsID: {Columns: map[string]ColumnDefault{"src": {Default: strp("NULL")}}, DefinedAt: m.txns[59].CommitTime},
		}}
		// The views must not read the new columns; they keep their values.
		if !withSource {
			_, err := Rebuild(ctx, store, nil, opts)
			if err == nil || !strings.Contains(err.Error(), "no source is configured") || !strings.Contains(err.Error(), "column channel was added") {
				t.Fatalf("rolling across ADD COLUMN without a source: %v", err)
			}
			continue
		}
		g1, err := Rebuild(ctx, store, src, opts)
		if err != nil {
			t.Fatal(err)
		}
		if g1.Base != "generation 0" {
			t.Fatalf("generation 1: base %q", g1.Base)
		}
		cut, _ := g1.CutPosition()
		st := m.stateAt(cut)
		want := map[string][]formats.Row{}
		for _, r := range st.orders {
			want["shop.orders"] = append(want["shop.orders"], slices.Concat(r, formats.Row{"web"}))
		}
		for _, r := range st.events {
			want["shop.events"] = append(want["shop.events"], slices.Concat(r, formats.Row{nil}))
		}
		schemas := map[string]*formats.TableSchema{"shop.orders": orders2, "shop.events": events2}
		for _, ts := range g1.Tables {
			if !reflect.DeepEqual(columnSpecs(schemas[ts.Table]), ts.Columns) {
				t.Fatalf("%s: columns %v, want %v", ts.Table, ts.Columns, columnSpecs(schemas[ts.Table]))
			}
			got := sortedRows(schemas[ts.Table], readTable(t, store, ts))
			w := sortedRows(schemas[ts.Table], want[ts.Table])
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("%s: %d rows, want %d (or values differ)", ts.Table, len(got), len(w))
			}
		}
		// The history's versions valid at the cut are the table's rows.
		h := g1.Histories[0]
		var valid []formats.Row
		at := posKey(cut)
		for _, r := range readTable(t, store, h) {
			n := len(orders2.Columns)
			if r[n].(string) <= at && (r[n+1] == nil || r[n+1].(string) > at) {
				valid = append(valid, r[:n])
			}
		}
		if got, w := sortedRows(orders2, valid), sortedRows(orders2, want["shop.orders"]); !reflect.DeepEqual(got, w) {
			t.Fatalf("history: %d versions valid at the cut, want the %d rows", len(got), len(w))
		}
		if len(g1.Views) != 2 || g1.Views[0].Groups == 0 {
			t.Fatalf("views %+v", g1.Views)
		}
	}
}
