package postgres

import (
	"context"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

func mustType(t testing.TB, s string) formats.Type {
	t.Helper()
	typ, err := formats.ParseColumnType(s)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

func dec(t testing.TB, s string, scale int) formats.Decimal {
	t.Helper()
	d, err := formats.ParseDecimal(s, scale)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ts(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02"} {
		if v, err := time.Parse(layout, s); err == nil {
			return v
		}
	}
	panic(s)
}

// allTypes is a table over every row of the type map with edge values;
// row 0 is all NULLs but the key.
func allTypes(t testing.TB) ([]warehouse.Column, []formats.Row) {
	type col struct {
		typ  string
		vals []any
	}
	spec := []col{
		{"tinyint", []any{int64(-128), int64(127), int64(0)}},
		{"int unsigned", []any{uint64(4294967295), uint64(0)}},
		{"bigint", []any{int64(math.MinInt64), int64(math.MaxInt64), int64(-1)}},
		{"bigint unsigned", []any{uint64(math.MaxUint64), uint64(1 << 63), uint64(0)}},
		{"year", []any{int64(1901), int64(2155)}},
		{"bit(5)", []any{uint64(21), uint64(0)}},
		{"bit(64)", []any{uint64(math.MaxUint64), uint64(1)}},
		{"decimal(12,2)", []any{dec(t, "-12.5", 2), dec(t, "9999999999.99", 2), dec(t, "0", 2), dec(t, "0.01", 2), dec(t, "10000", 2)}},
		{"decimal(38,10)", []any{dec(t, "-1234567890123456789012345678.0123456789", 10), dec(t, "0.0000000001", 10), dec(t, "9999999999999999999999999999.9999999999", 10)}},
		{"decimal(65,30)", []any{dec(t, "99999999999999999999999999999999999.999999999999999999999999999999", 30),
			dec(t, "-0.000000000000000000000000000001", 30), dec(t, "0", 30), dec(t, "-12345678901234567890123456789.123456789012345678901234567891", 30)}},
		{"decimal(10,0)", []any{dec(t, "-9999999999", 0), dec(t, "10000", 0), dec(t, "0", 0)}},
		{"float", []any{float64(float32(1.1)), -3.25}},
		{"double", []any{0.30000000000000004, -2.5e-300, 0.0, math.MaxFloat64}},
		{"date", []any{ts("1000-01-01"), ts("9999-12-31"), ts("2024-02-29")}},
		{"datetime", []any{ts("1000-01-01 00:00:00"), ts("9999-12-31 23:59:59")}},
		{"datetime(6)", []any{ts("2026-11-24 12:34:56.123456"), ts("1970-01-01 00:00:00.000001"), ts("1969-12-31 23:59:59.999999")}},
		{"timestamp(6)", []any{ts("1970-01-01 00:00:01"), ts("2038-01-19 03:14:07.999999")}},
		{"time(6)", []any{-(838*time.Hour + 59*time.Minute + 59*time.Second), 838*time.Hour + 59*time.Minute + 59*time.Second + 500*time.Millisecond, time.Duration(0), -1500 * time.Millisecond}},
		{"varchar(20)", []any{"", "naïve 🚀", "tab\tnewline\n", `quote"back\slash`}},
		{"text", []any{strings.Repeat("long text ", 500), "日本語テキスト"}},
		{"enum('new','paid')", []any{"new", "paid"}},
		{"set('a','b','c')", []any{"", "a,c", "a,b,c"}},
		{"json", []any{`{"a": [1, 2.5, null]}`, `"string"`, `[]`, `{"z": 1, "a": {"b": true}}`}},
		{"varbinary(16)", []any{[]byte{}, []byte{0, 1, 0xfe, 0xff}}},
		{"blob", []any{make([]byte, 3000), []byte("\x00blob")}},
	}
	cols := []warehouse.Column{{Name: "id", Type: mustType(t, "bigint")}}
	for i, s := range spec {
		cols = append(cols, warehouse.Column{Name: "c" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Type: mustType(t, s.typ), Nullable: true})
	}
	var rows []formats.Row
	for i := 0; i < 12; i++ {
		r := formats.Row{int64(i)}
		for _, s := range spec {
			if i == 0 || (i%5 == 4 && len(r)%3 == 0) {
				r = append(r, nil)
				continue
			}
			r = append(r, s.vals[i%len(s.vals)])
		}
		rows = append(rows, r)
	}
	return cols, rows
}

func openLoader(t *testing.T, pg *stack.PostgresServer, store lake.Store, schema string) *Loader {
	t.Helper()
	l, err := New(Options{DSN: pg.DSN(), Schema: schema, Store: store, LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func load(t *testing.T, l *Loader, g *warehouse.Generation, fence uint64) bool {
	t.Helper()
	ctx := context.Background()
	if _, err := l.Prepare(ctx, g); err != nil {
		t.Fatal(err)
	}
	swapped, err := l.Swap(ctx, g, fence)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DropOld(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return swapped
}

// TestAllTypesRoundTrip loads a table of every type of the type map (edge
// values, NULLs) and reads back exactly the canonical values.
func TestAllTypesRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := stack.Postgres(t)
	store, _ := lake.OpenDir(t.TempDir())
	cols, rows := allTypes(t)
	tbl := writeTable(t, store, "shop.alltypes", cols, []int{0}, rows, "tables/shop/alltypes/gen=1")
	g := &warehouse.Generation{Number: 1, Cut: "binlog.000001:4", CutTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Tables: []warehouse.Table{tbl}}
	l := openLoader(t, pg, store, "tidemark")
	if !load(t, l, g, 0) {
		t.Fatal("the first swap reported no change")
	}
	got := pgRows(t, pg.Conn(t), "tidemark", "shop_alltypes", cols, "id")
	if len(got) != len(rows) {
		t.Fatalf("PostgreSQL has %d rows, want %d", len(got), len(rows))
	}
	for i := range rows {
		if g, w := canon(cols, got[i]), canon(cols, rows[i]); g != w {
			gs, ws := strings.Split(g, "|"), strings.Split(w, "|")
			for j := range gs {
				if gs[j] != ws[j] {
					t.Errorf("row %d column %s (%s as %s): PostgreSQL %s, want %s", i, cols[j-1].Name, cols[j-1].Type, formats.PostgresType(cols[j-1].Type), gs[j], ws[j])
				}
			}
		}
	}
	// The PostgreSQL types are the type map's.
	c := pg.Conn(t)
	for _, col := range cols[1:] {
		var typ string
		if err := c.QueryRow(context.Background(), `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
			WHERE attrelid = 'tidemark_gen.t_shop_alltypes_g1'::regclass AND attname = $1`, col.Name).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		want := strings.NewReplacer("timestamptz(6)", "timestamp(6) with time zone", "timestamp(0)", "timestamp(0) without time zone",
			"timestamp(6)", "timestamp(6) without time zone", "varchar", "character varying").Replace(formats.PostgresType(col.Type))
		if typ != want {
			t.Errorf("column %s (%s): PostgreSQL type %s, want %s", col.Name, col.Type, typ, want)
		}
	}
}

// TestSwapRules: a replay is a no-op, an older generation and a lower
// fence are refused, a dropped column and a dropped table reach the
// target, old tables are dropped.
func TestSwapRules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg := stack.Postgres(t)
	store, _ := lake.OpenDir(t.TempDir())
	l := openLoader(t, pg, store, "wh")
	c := pg.Conn(t)
	bigint, vc := mustType(t, "bigint"), mustType(t, "varchar(10)")
	three := []warehouse.Column{{Name: "id", Type: bigint}, {Name: "name", Type: vc, Nullable: true}, {Name: "qty", Type: bigint, Nullable: true}}
	gen := func(n uint64, cols []warehouse.Column, withOther bool) *warehouse.Generation {
		var rows []formats.Row
		for i := 0; i < int(n)*10; i++ {
			r := formats.Row{int64(i), "x"}
			if len(cols) == 3 {
				r = append(r, int64(n))
			}
			rows = append(rows, r)
		}
		g := &warehouse.Generation{Number: n, Cut: "binlog.000001:" + string(rune('0'+n)), Tables: []warehouse.Table{
			writeTable(t, store, "shop.t", cols, []int{0}, rows, "tables/shop/t/gen="+string(rune('0'+n)))}}
		if withOther {
			g.Tables = append(g.Tables, writeTable(t, store, "shop.other", cols[:2], nil, rows[:3], "tables/shop/other/gen="+string(rune('0'+n))))
		}
		return g
	}
	count := func(name string) int64 {
		var n int64
		if err := c.QueryRow(ctx, "SELECT count(*) FROM wh."+name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	g1 := gen(1, three, true)
	if !load(t, l, g1, 5) {
		t.Fatal("generation 1 was not swapped in")
	}
	if count("shop_t") != 10 || count("shop_other") != 3 {
		t.Fatal("generation 1 is not readable")
	}
	// Replay: no-op.
	if load(t, l, g1, 5) {
		t.Fatal("a replay of generation 1 swapped")
	}
	var n int
	c.QueryRow(ctx, "SELECT count(*) FROM wh.tidemark_generations").Scan(&n)
	if n != 1 {
		t.Fatalf("%d control rows after a replay, want 1", n)
	}
	// Generation 2 drops column qty and table shop.other.
	g2 := gen(2, three[:2], false)
	if _, err := l.Prepare(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Swap(ctx, g2, 4); !errors.Is(err, warehouse.ErrFenced) {
		t.Fatalf("swap with a lower fence: %v, want ErrFenced", err)
	}
	if ok, err := l.Swap(ctx, g2, 0); err != nil || !ok {
		t.Fatalf("swap without a fence: %v %v", ok, err)
	}
	if count("shop_t") != 20 {
		t.Fatal("generation 2 is not readable")
	}
	var cols []string
	rows, _ := c.Query(ctx, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'wh' AND table_name = 'shop_t' ORDER BY ordinal_position")
	for rows.Next() {
		var s string
		rows.Scan(&s)
		cols = append(cols, s)
	}
	if !slices.Equal(cols, []string{"id", "name"}) {
		t.Fatalf("wh.shop_t has columns %v after qty was dropped", cols)
	}
	if err := c.QueryRow(ctx, "SELECT count(*) FROM wh.shop_other").Scan(&n); err == nil {
		t.Fatal("wh.shop_other still exists after its table left the generation")
	}
	// Back to generation 1: refused.
	if _, err := l.Swap(ctx, g1, 0); !errors.Is(err, warehouse.ErrStale) {
		t.Fatalf("swap back to generation 1: %v, want ErrStale", err)
	}
	cur, err := l.Current(ctx)
	if err != nil || cur.Generation != 2 || cur.Fence != 5 || cur.Rows["shop_t"] != 20 {
		t.Fatalf("control row %+v, %v; want generation 2, fence 5, 20 rows", cur, err)
	}
	// Column qty comes back in generation 3; old tables go.
	g3 := gen(3, three, false)
	load(t, l, g3, 6)
	var qty int64
	if err := c.QueryRow(ctx, "SELECT max(qty) FROM wh.shop_t").Scan(&qty); err != nil || qty != 3 {
		t.Fatalf("qty after it was added back: %d, %v", qty, err)
	}
	names, err := l.GenTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"t_shop_t_g3"}) {
		t.Fatalf("per-generation tables after DropOld(1): %v, want [t_shop_t_g3]", names)
	}
}

// TestConcurrentLoaders: two loaders (say `tidemark warehouse load` beside
// the batch role) load the same generation at once: both succeed, one
// swaps, the other finds it loaded.
func TestConcurrentLoaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg := stack.Postgres(t)
	store, _ := lake.OpenDir(t.TempDir())
	cols, rows := allTypes(t)
	for len(rows) < 3000 {
		r := slices.Clone(rows[1])
		r[0] = int64(len(rows))
		rows = append(rows, r)
	}
	tbl := writeTable(t, store, "shop.alltypes", cols, []int{0}, rows, "tables/shop/alltypes/gen=1")
	g := &warehouse.Generation{Number: 1, Cut: "binlog.000001:4", Tables: []warehouse.Table{tbl}}
	swapped := make(chan bool, 2)
	errs := make(chan error, 2)
	for range 2 {
		l := openLoader(t, pg, store, "cc")
		go func() {
			if _, err := l.Prepare(ctx, g); err != nil {
				errs <- err
				return
			}
			ok, err := l.Swap(ctx, g, 0)
			errs <- err
			swapped <- ok
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if a, b := <-swapped, <-swapped; a == b {
		t.Fatalf("swapped %v and %v: want exactly one swap", a, b)
	}
	if got := pgRows(t, pg.Conn(t), "cc", "shop_alltypes", cols, ""); len(got) != len(rows) {
		t.Fatalf("%d rows, want %d", len(got), len(rows))
	}
}

// TestCorruptParquetAbortsTheCopy: a file that does not decode fails the
// load with the file's name and leaves no table behind; so does a
// manifest row count the files do not have.
func TestCorruptParquetAbortsTheCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	pg := stack.Postgres(t)
	dir := t.TempDir()
	store, _ := lake.OpenDir(dir)
	cols, rows := allTypes(t)
	for len(rows) < 20000 {
		r := slices.Clone(rows[len(rows)%11+1])
		r[0] = int64(len(rows))
		rows = append(rows, r)
	}
	good := writeTable(t, store, "shop.alltypes", cols, []int{0}, rows, "tables/shop/alltypes/gen=1")
	bad := writeTable(t, store, "shop.other", cols, []int{0}, rows[:10], "tables/shop/other/gen=1")
	if err := os.WriteFile(store.Path(bad.Files[0].Key), []byte("not parquet at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLoader(t, pg, store, "cp")
	_, err := l.Prepare(ctx, &warehouse.Generation{Number: 1, Tables: []warehouse.Table{bad}})
	if err == nil || !strings.Contains(err.Error(), bad.Files[0].Key) {
		t.Fatalf("a corrupt file: %v", err)
	}
	miscounted := good
	miscounted.Rows++
	if _, err := l.Prepare(ctx, &warehouse.Generation{Number: 1, Tables: []warehouse.Table{miscounted}}); err == nil || !strings.Contains(err.Error(), "the manifest has") {
		t.Fatalf("a row count the files do not have: %v", err)
	}
	if names, err := l.GenTables(ctx); err != nil || len(names) != 0 {
		t.Fatalf("tables left behind: %v %v", names, err)
	}
}
