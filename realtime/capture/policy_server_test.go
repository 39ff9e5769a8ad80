package capture

import (
	"context"
	"database/sql"
	"reflect"
	"slices"
	"strings"
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

// testMaskVerifyText: what `tidemark verify` computes from the source for
// masked FLOAT, DOUBLE, TIMESTAMP and DECIMAL columns (the view's verify
// query over the source types, VerifySQLOver with MaskedColumns, each
// value through MaskText) equals what the capture delivers for them on
// the binlog and the snapshot paths, for values whose plain server text is
// not the canonical one (a FLOAT printed with 6 digits, 1e21, ...), in a
// mirror and in a view grouped by a masked column.
func testMaskVerifyText(t *testing.T, srv *stack.MariaDBServer) {
	key := []byte("a test key of 32 bytes, no more.")
	s := sharedSource(t, srv, func(c *Config) {
		shop := c.Databases[0]
		var mask []ColumnRef
		for _, col := range []string{"f", "d", "ts", "dc"} {
			mask = append(mask, ColumnRef{Table: formats.TableID{DB: shop, Table: "mv"}, Column: col})
		}
		c.Columns = ColumnPolicy{Mask: mask, MaskKey: key}
	})
	ctx := context.Background()
	s.exec(t, "CREATE TABLE shop.mv (id BIGINT PRIMARY KEY, f FLOAT NULL, d DOUBLE NULL, ts TIMESTAMP(3) NULL, dc DECIMAL(10,2) NULL, n INT NULL)")
	table := s.table("mv")
	st := startStream(t, s.c, s.pos(t))
	s.exec(t, "SET time_zone = '+00:00'",
		`INSERT INTO shop.mv VALUES
		(1, 0.1234567, 1e21, '2024-03-31 01:30:00.250', 12.50, 1),
		(2, 16777217, 0.1 + 0.2, '1970-01-01 00:00:01.000', -0.01, 2),
		(3, 1e-7, -2.5e-300, '2038-01-19 03:14:07.999', 0, 3),
		(4, NULL, NULL, NULL, NULL, 4),
		(5, 0.1234567, 123456789.12345678, '2024-03-31 01:30:00.250', 12.50, 5)`)
	ins := st.next(t, 30*time.Second)
	binlog := map[int64]formats.Row{}
	for _, e := range ins.Events {
		binlog[e.After[0].(int64)] = e.After
	}
	snap, _, _ := snapshotMap(t, s.c, table, false)
	if len(snap) != 5 || !reflect.DeepEqual(snap, binlog) {
		t.Fatalf("snapshot rows %v differ from the binlog's %v", snap, binlog)
	}

	masked, err := s.c.MaskedColumns(ctx, table)
	if err != nil {
		t.Fatal(err)
	}
	if len(masked) != 4 || masked["f"].Kind != formats.KindFloat || masked["ts"].Kind != formats.KindTimestamp {
		t.Fatalf("MaskedColumns = %v, want the source types of f, d, ts, dc", masked)
	}
	// The plain server text of f = 0.1234567 is "0.123457": hashing it, as
	// verify once did, gives another hash than the capture's.
	var plain []byte
	if err := s.c.DB().QueryRowContext(ctx, "SELECT f FROM "+s.q("shop.mv")+" WHERE id = 1").Scan(&plain); err != nil {
		t.Fatal(err)
	}
	if MaskedValue(key, formats.Type{Kind: formats.KindVarBinary}, plain) == snap[1][1] {
		t.Fatalf("the server's text %q of a FLOAT hashes as the capture does: the test does not exercise the canonical form", plain)
	}

	schemas, err := s.c.Schemas(ctx, []formats.TableID{table})
	if err != nil {
		t.Fatal(err)
	}
	source := func(col string) (formats.Type, bool) { tt, ok := masked[strings.ToLower(col)]; return tt, ok }
	// verifyRows runs the view's verify query and masks its masked values
	// as realtime.Verify does.
	verifyRows := func(spec formats.ViewSpec, maskCol func(i int) string) (*formats.BoundView, map[formats.GroupKey]formats.Row) {
		t.Helper()
		v, err := formats.ParseView(spec)
		if err != nil {
			t.Fatal(err)
		}
		bv, err := v.Bind(schemas[table])
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.c.DB().QueryContext(ctx, bv.VerifySQLOver(source))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		out := map[formats.GroupKey]formats.Row{}
		for rows.Next() {
			raw := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(raw))
			for i := range raw {
				ptrs[i] = &raw[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			vals := make([][]byte, len(raw))
			for i, r := range raw {
				if r == nil {
					continue
				}
				vals[i] = append([]byte{}, r...)
				if tt, ok := source(maskCol(i)); ok {
					if vals[i], err = s.c.MaskText(tt, r); err != nil {
						t.Fatal(err)
					}
				}
			}
			k, row, err := bv.ParseVerifyRow(vals)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = row
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return bv, out
	}

	mirror, got := verifyRows(formats.ViewSpec{Name: "mv", From: table.String(), Mirror: true}, func(i int) string { return schemas[table].Columns[i].Name })
	if len(got) != len(snap) {
		t.Fatalf("verify's mirror answer has %d rows, the table %d", len(got), len(snap))
	}
	for _, row := range got {
		if want := snap[row[0].(int64)]; !mirror.RowsEqual(row, want) {
			t.Errorf("verify's masked row %v, the capture's %v", row, want)
		}
	}

	byF, groups := verifyRows(formats.ViewSpec{Name: "by_f", From: table.String(), GroupBy: []string{"f"}, Measures: []string{"count()"}},
		func(i int) string { return []string{"f", ""}[i] })
	wantCount := map[any]int64{}
	for _, r := range snap {
		wantCount[r[1]]++
	}
	if len(groups) != len(wantCount) {
		t.Fatalf("verify's by_f answer has %d groups %v, the capture's values %d %v", len(groups), groups, len(wantCount), wantCount)
	}
	for _, row := range groups {
		if row[1] != wantCount[row[0]] {
			t.Errorf("by_f group %v: verify counts %v, the capture's rows %d (keys %v)", row[0], row[1], wantCount[row[0]], byF.Columns())
		}
	}
}
