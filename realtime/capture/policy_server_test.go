package capture

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// testColumnPolicy: with a policy that excludes and masks columns, the
// binlog path (Stream), the snapshot path (Snapshot) and Schemas agree:
// the excluded column is absent from every schema and row, a masked one
// carries the same hash on both paths, a hash of its clear value and not
// the value, and a column added later to a policy table is captured.
func testColumnPolicy(t *testing.T, srv *stack.MariaDBServer) {
	key := []byte("a test key of 32 bytes, no more.")
	var s *source
	s = sharedSource(t, srv, func(c *Config) {
		shop := c.Databases[0]
		c.Columns = ColumnPolicy{
			Exclude: []ColumnRef{{Table: formats.TableID{DB: shop, Table: "p"}, Column: "ssn"}},
			Mask: []ColumnRef{{Table: formats.TableID{DB: shop, Table: "p"}, Column: "email"},
				{Table: formats.TableID{DB: shop, Table: "p"}, Column: "born"},
				{Table: formats.TableID{DB: shop, Table: "p"}, Column: "tenant"}},
			MaskKey: key,
		}
	})
	ctx := context.Background()
	s.exec(t, "CREATE TABLE shop.p (id BIGINT PRIMARY KEY, email VARCHAR(100) NULL, ssn CHAR(11) NOT NULL, born DATETIME(3) NULL, tenant INT UNSIGNED NOT NULL, amount DECIMAL(10,2))")
	table := s.table("p")
	from := s.pos(t)
	st := startStream(t, s.c, from)
	s.exec(t,
		"INSERT INTO shop.p VALUES (1, 'ann@example.com', '123-45-6789', '1990-05-17 10:11:12.345', 7, 1.50), (2, NULL, '987-65-4321', NULL, 4000000000, NULL)",
		"UPDATE shop.p SET email = 'ann@example.org', ssn = '000-00-0000' WHERE id = 1")
	ins := st.next(t, 30*time.Second)
	upd := st.next(t, 30*time.Second)

	wantCols := []string{"id", "email", "born", "tenant", "amount"}
	names := func(sc *formats.TableSchema) []string {
		var out []string
		for _, c := range sc.Columns {
			out = append(out, c.Name)
		}
		return out
	}
	for _, e := range append(slices.Clone(ins.Events), upd.Events...) {
		if got := names(e.Schema); !reflect.DeepEqual(got, wantCols) {
			t.Fatalf("binlog schema columns %v, want %v (ssn excluded)", got, wantCols)
		}
		for _, r := range []formats.Row{e.Before, e.After} {
			if r != nil && len(r) != len(wantCols) {
				t.Fatalf("binlog row %v has %d values, want %d", r, len(r), len(wantCols))
			}
		}
	}
	mask := func(t formats.Type, v any) any { return MaskedValue(key, t, v) }
	dt := formats.Type{Kind: formats.KindDateTime, FSP: 3}
	born := time.Date(1990, 5, 17, 10, 11, 12, 345e6, time.UTC)
	want1 := formats.Row{int64(1), mask(formats.Type{Kind: formats.KindVarChar}, "ann@example.org"), mask(dt, born),
		mask(formats.Type{Kind: formats.KindInt, Unsigned: true}, int64(7)), formats.Decimal("1.50")}
	if got := upd.Events[0].After; !reflect.DeepEqual(got, want1) {
		t.Errorf("binlog update after image %v, want %v", got, want1)
	}
	if got := upd.Events[0].Before[1]; got != mask(formats.Type{Kind: formats.KindVarChar}, "ann@example.com") {
		t.Errorf("binlog before image email %v is not the hash of the old value", got)
	}
	if got := ins.Events[1].After; got[1] != nil || got[2] != nil || got[3] != mask(formats.Type{Kind: formats.KindInt}, int64(4000000000)) {
		t.Errorf("binlog row 2 %v: NULLs must stay NULL, the unsigned tenant must hash its value", got)
	}

	schemas, err := s.c.Schemas(ctx, []formats.TableID{table})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(schemas[table]); !reflect.DeepEqual(got, wantCols) {
		t.Errorf("Schemas columns %v, want %v", got, wantCols)
	}
	if c := schemas[table].Columns[1]; !reflect.DeepEqual(c.Type, MaskedType()) || !c.Nullable {
		t.Errorf("masked column type %v nullable %v, want %v nullable", c.Type, c.Nullable, MaskedType())
	}
	if !reflect.DeepEqual(schemas[table].Columns, ins.Events[0].Schema.Columns) || !reflect.DeepEqual(schemas[table].PK, ins.Events[0].Schema.PK) {
		t.Errorf("Schemas %+v differs from the binlog's %+v", schemas[table], ins.Events[0].Schema)
	}

	rows, _, _ := snapshotMap(t, s.c, table, false)
	if !reflect.DeepEqual(rows[1], want1) {
		t.Errorf("snapshot row 1 %v, want the binlog's %v", rows[1], want1)
	}
	if !reflect.DeepEqual(rows[2], ins.Events[1].After) {
		t.Errorf("snapshot row 2 %v, binlog %v", rows[2], ins.Events[1].After)
	}

	// A table map after an ALTER: the policy follows the new schema.
	s.exec(t, "ALTER TABLE shop.p ADD COLUMN nick VARCHAR(20) NULL AFTER id", "INSERT INTO shop.p VALUES (3, 'bo', 'x@y', '111', NULL, 1, 2.00)")
	alt := st.next(t, 30*time.Second)
	if got := names(alt.Events[0].Schema); !reflect.DeepEqual(got, []string{"id", "nick", "email", "born", "tenant", "amount"}) {
		t.Errorf("after ADD COLUMN: columns %v", got)
	}
	if got := alt.Events[0].After; got[1] != "bo" || got[2] != mask(formats.Type{Kind: formats.KindVarChar}, "x@y") {
		t.Errorf("after ADD COLUMN: row %v", got)
	}

	problems, err := s.c.CheckColumns(ctx)
	if err != nil || len(problems) != 0 {
		t.Errorf("CheckColumns of a fitting policy: %v, %v", problems, err)
	}
}

// testColumnPolicyProblems: CheckColumns names each policy entry that does
// not fit the source.
func testColumnPolicyProblems(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, func(c *Config) {
		shop := c.Databases[0]
		c.Columns = ColumnPolicy{
			Exclude: []ColumnRef{{Table: formats.TableID{DB: shop, Table: "q"}, Column: "id"},
				{Table: formats.TableID{DB: shop, Table: "q"}, Column: "nosuch"},
				{Table: formats.TableID{DB: "elsewhere", Table: "q"}, Column: "v"}},
			Mask:    []ColumnRef{{Table: formats.TableID{DB: shop, Table: "gone"}, Column: "v"}, {Table: formats.TableID{DB: shop, Table: "q"}, Column: "V"}},
			MaskKey: []byte("0123456789abcdef"),
		}
	})
	s.exec(t, "CREATE TABLE shop.q (id INT PRIMARY KEY, v INT)")
	problems, err := s.c.CheckColumns(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		excl bool
		i    int
	}
	got := map[key]string{}
	for _, p := range problems {
		got[key{p.Excluded, p.Index}] = p.Problem
	}
	for _, k := range []key{{true, 0}, {true, 1}, {true, 2}, {false, 0}} {
		if got[k] == "" {
			t.Errorf("no problem reported for %+v; got %v", k, problems)
		}
	}
	if len(problems) != 4 {
		t.Errorf("%d problems, want 4 (mask[1] fits): %v", len(problems), problems)
	}
}
