package formats

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tidemark/tidemark/internal/stack"
)

// factsSchema is the table the warehouse view tests load into PostgreSQL.
func factsSchema(t testing.TB) *TableSchema {
	t.Helper()
	s := &TableSchema{Table: TableID{DB: "shop", Table: "facts"}, PK: []int{0}}
	for _, c := range []struct{ name, typ string }{
		{"id", "int"}, {"grp", "varchar(10)"}, {"n", "int"}, {"u", "bigint unsigned"}, {"amount", "decimal(12,2)"},
		{"price", "double"}, {"f", "float"}, {"created", "datetime(3)"}, {"ts", "timestamp(6)"}, {"d", "date"},
		{"t", "time"}, {"e", "enum('x','y','z')"}, {"b", "varbinary(8)"}, {"yr", "year"}, {"w", "decimal(50,10)"},
	} {
		typ, err := ParseColumnType(c.typ)
		if err != nil {
			t.Fatal(err)
		}
		s.Columns = append(s.Columns, Column{Name: c.name, Type: typ, Nullable: c.name != "id"})
	}
	return s
}

// randomCanonicalFact is a random row of factsSchema in canonical values,
// with NULLs and zero dates.
func randomCanonicalFact(r *rand.Rand, id int64) Row {
	maybe := func(v any) any {
		if r.IntN(6) == 0 {
			return nil
		}
		return v
	}
	grps := []string{"a", "A", "a ", "b", "", "it's", `back\slash`, "é", "É", "x|y"}
	us := []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 7, 1 << 63, r.Uint64(), r.Uint64() >> 40}
	bs := [][]byte{[]byte("ab"), []byte("AB"), {0}, {0, '|', '\\'}, {}, []byte("zzzzzzzz")}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	created := base.Add(time.Duration(r.Int64N(int64(365*24*time.Hour))) / time.Millisecond * time.Millisecond)
	ts := base.Add(time.Duration(r.Int64N(int64(365*24*time.Hour))) / time.Microsecond * time.Microsecond)
	date := time.Date(created.Year(), created.Month(), created.Day(), 0, 0, 0, 0, time.UTC)
	if r.IntN(25) == 0 {
		created, ts, date = time.Time{}, time.Time{}, time.Time{}
	}
	dur := (time.Duration(r.Int64N(int64(2*838*time.Hour))) - 838*time.Hour).Truncate(time.Second)
	w := new(big.Int).SetUint64(r.Uint64())
	w.Mul(w, new(big.Int).SetUint64(r.Uint64()))
	w.Mul(w, big.NewInt(r.Int64N(1000000)))
	if r.IntN(2) == 0 {
		w.Neg(w)
	}
	return Row{id, maybe(grps[r.IntN(len(grps))]), maybe(r.Int64N(101) - 50), maybe(us[r.IntN(len(us))]),
		maybe(DecimalFromScaled(big.NewInt(r.Int64N(2e8)-1e8), 2)), maybe(r.Float64()*1000 - 500),
		maybe(float64(float32(r.NormFloat64() * 100))), maybe(created), maybe(ts), maybe(date), maybe(dur),
		maybe([]string{"x", "y", "z"}[r.IntN(3)]), maybe(bs[r.IntN(len(bs))]), maybe(1901 + r.Int64N(255)),
		maybe(DecimalFromScaled(w, 10))}
}

// pgInput is v as PostgreSQL's text input for PostgresType(t).
func pgInput(t Type, v any) any {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		switch t.Kind {
		case KindDate:
			return x.Format("2006-01-02")
		case KindTimestamp:
			return x.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
		}
		return x.Format("2006-01-02 15:04:05.999999")
	case []byte:
		return `\x` + hex.EncodeToString(x)
	}
	return FormatText(t, v)
}

// TestWarehouseSQLMatchesLocalEngine holds the PostgreSQL compilation of
// the view language against the Go evaluator: random rows loaded into a
// real PostgreSQL table typed by PostgresType (as the warehouse loader
// types it), views with every transform, measure and where form; each
// view's WarehouseSQL answer must equal the evaluator's, group by group.
// The session runs in a non-UTC time zone to prove the SQL does not depend
// on it.
func TestWarehouseSQLMatchesLocalEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := stack.Postgres(t)
	ctx := context.Background()
	c := pg.Conn(t)
	s := factsSchema(t)
	defs := make([]string, len(s.Columns))
	casts := make([]string, len(s.Columns))
	for i, col := range s.Columns {
		defs[i] = sqlIdent(col.Name) + " " + PostgresType(col.Type)
		casts[i] = fmt.Sprintf("CAST($%d::text AS %s)", i+1, PostgresType(col.Type))
	}
	if _, err := c.Exec(ctx, "CREATE TABLE facts ("+strings.Join(defs, ", ")+")"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SET TIME ZONE 'Asia/Kolkata'"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(42, 2))
	var rows []Row
	for id := range 500 {
		row := randomCanonicalFact(r, int64(id))
		args := make([]any, len(row))
		for i, v := range row {
			args[i] = pgInput(s.Columns[i].Type, v)
		}
		if _, err := c.Exec(ctx, "INSERT INTO facts VALUES ("+strings.Join(casts, ", ")+")", args...); err != nil {
			t.Fatalf("row %d: %v", id, err)
		}
		rows = append(rows, row)
	}

	views := []ViewSpec{
		{Name: "by_day", From: "shop.facts", Where: "grp <> 'a' AND amount > 0", GroupBy: []string{"day(created) AS day", "grp"},
			Measures: []string{"count()", "sum(amount)", "avg(amount)", "count(price)", "sum(price)", "avg(n)"}},
		{Name: "transforms", From: "shop.facts", GroupBy: []string{"truncate(10, n)", "truncate(2, grp)", "month(ts)", "hour(created)", "truncate(1, b)", "truncate(1000000000000000000, u)"},
			Measures: []string{"count()", "sum(u)", "avg(u)", "sum(f)", "avg(price)", "avg(f)", "sum(w)", "avg(w)"}},
		{Name: "time_transforms", From: "shop.facts", GroupBy: []string{"day(ts)", "year(created)", "month(d)"},
			Measures: []string{"count()", "sum(u)", "avg(u)", "sum(f)", "avg(price)", "avg(f)"}},
		{Name: "filters", From: "shop.facts", Where: "n IN (1, 2, 3, -5) OR e = 'y' OR (d >= '2024-06-01' AND t < '12:00:00') OR u > 18446744073709551000 OR ts < '2024-03-01 12:00:00' OR b = 'ab' OR w > 0.5",
			GroupBy: []string{"e", "year(d)", "yr"}, Measures: []string{"sum(n)", "avg(amount)", "count(t)"}},
		{Name: "global", From: "shop.facts", Where: "grp IS NULL OR NOT (amount < 10.5)", Measures: []string{"count()", "sum(amount)", "avg(amount)", "avg(n)"}},
		{Name: "raw_keys", From: "shop.facts", GroupBy: []string{"d", "ts", "t", "amount", "b", "u", "created", "yr", "w"}, Measures: []string{"count()"}},
		{Name: "strings", From: "shop.facts", Where: "grp = 'it''s' OR grp = 'back\\slash' OR grp IN ('é', 'a ', 'A', '') OR grp > 'x'", GroupBy: []string{"grp"}, Measures: []string{"count()", "sum(n)"}},
		{Name: "float_keys", From: "shop.facts", GroupBy: []string{"price", "f"}, Measures: []string{"count()"}},
		{Name: "columns", From: "shop.facts", Where: "created > d OR n < amount OR price >= f OR b < grp", Measures: []string{"count()", "avg(amount)"}},
		{Name: "nothing", From: "shop.facts", Where: "n > 1000000", Measures: []string{"count()", "sum(n)"}},
	}
	for _, spec := range views {
		b := bindView(t, s, spec)
		d := Delta{}
		for _, row := range rows {
			if err := b.AccumulateRow(row, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		want := map[GroupKey]Row{}
		for k, a := range d {
			if row, ok := b.Result(k, a); ok {
				want[k] = row
			}
		}
		q, err := b.WarehouseSQL(DialectPostgres, `"public"."facts"`)
		if err != nil {
			t.Fatal(err)
		}
		got := warehouseAnswer(t, c, b, q)
		var diffs []string
		for k, w := range want {
			g, ok := got[k]
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("group %q: missing in SQL, Go has %v", k, w))
			case !b.RowsEqual(g, w):
				diffs = append(diffs, fmt.Sprintf("group %q: Go %v, SQL %v", k, w, g))
			}
		}
		for k, g := range got {
			if _, ok := want[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("group %q: only in SQL: %v", k, g))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			if len(diffs) > 10 {
				diffs = append(diffs[:10], fmt.Sprintf("... %d more", len(diffs)-10))
			}
			t.Errorf("view %s: %d groups in Go, %d in SQL; differences:\n%s\nSQL: %s", spec.Name, len(want), len(got), strings.Join(diffs, "\n"), q)
		} else if len(want) == 0 && spec.Name != "nothing" {
			t.Errorf("view %s has no groups: the test proves nothing", spec.Name)
		} else {
			t.Logf("view %s: %d groups equal", spec.Name, len(want))
		}
	}
}

// Exact rounding ties: avg of 1/32 = 0.03125 rounds to 0.0313, and
// -0.03125 to -0.0313 (half away from zero), as Result rounds them.
func TestWarehouseSQLRoundingTies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := stack.Postgres(t)
	c := pg.Conn(t)
	ctx := context.Background()
	s := &TableSchema{Table: TableID{DB: "shop", Table: "ties"}, PK: []int{0}}
	for _, col := range []struct{ name, typ string }{{"id", "int"}, {"g", "char(1)"}, {"n", "int"}, {"amount", "decimal(12,2)"}} {
		typ, err := ParseColumnType(col.typ)
		if err != nil {
			t.Fatal(err)
		}
		s.Columns = append(s.Columns, Column{Name: col.name, Type: typ, Nullable: col.name != "id"})
	}
	if _, err := c.Exec(ctx, "CREATE TABLE ties (id bigint, g varchar(1), n bigint, amount numeric(12,2))"); err != nil {
		t.Fatal(err)
	}
	b := bindView(t, s, ViewSpec{Name: "ties", From: "shop.ties", GroupBy: []string{"g"}, Measures: []string{"avg(n)", "avg(amount)"}})
	d := Delta{}
	id := int64(0)
	for _, g := range []struct {
		name   string
		n      int64
		amount string
		rows   int
	}{{"p", 1, "0.01", 32}, {"m", -1, "-0.01", 32}, {"h", 1, "0.05", 2}, {"k", -1, "-0.05", 2}} {
		for i := range g.rows {
			n, amount := int64(0), "0.00"
			if i == 0 {
				n, amount = g.n, g.amount
			}
			if _, err := c.Exec(ctx, "INSERT INTO ties VALUES ($1, $2, $3, $4::numeric)", id, g.name, n, amount); err != nil {
				t.Fatal(err)
			}
			if err := b.AccumulateRow(Row{id, g.name, n, Decimal(amount)}, 1, d); err != nil {
				t.Fatal(err)
			}
			id++
		}
	}
	q, err := b.WarehouseSQL(DialectPostgres, "ties")
	if err != nil {
		t.Fatal(err)
	}
	got := warehouseAnswer(t, c, b, q)
	for k, a := range d {
		want, _ := b.Result(k, a)
		if !b.RowsEqual(got[k], want) {
			t.Errorf("group %s: SQL %v, Go %v", k, got[k], want)
		}
	}
	if fmt.Sprint(got["m"]) != "[m -0.0313 -0.000313]" {
		t.Errorf("tie group m = %v", got["m"])
	}
	// Redshift's avg travels as sum/count and is rounded by the parser.
	_, row, err := b.ParseWarehouseRow(DialectRedshift, []*string{ptr("m"), ptr("-1/32"), ptr("-0.01/32")})
	if err != nil || fmt.Sprint(row) != "[m -0.0313 -0.000313]" {
		t.Errorf("Redshift tie group m = %v, %v", row, err)
	}
}

func ptr(s string) *string { return &s }

func warehouseAnswer(t *testing.T, c *pgx.Conn, b *BoundView, q string) map[GroupKey]Row {
	t.Helper()
	rs, err := c.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%v\nSQL: %s", err, q)
	}
	defer rs.Close()
	out := map[GroupKey]Row{}
	for rs.Next() {
		raw := make([]*string, len(rs.FieldDescriptions()))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		k, row, err := b.ParseWarehouseRow(DialectPostgres, raw)
		if err != nil {
			t.Fatalf("%v\nSQL: %s", err, q)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("group %q twice in the SQL answer", k)
		}
		out[k] = row
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWarehouseSQLText(t *testing.T) {
	s := factsSchema(t)
	b := bindView(t, s, ViewSpec{Name: "v", From: "shop.facts", Where: "grp = 'back\\slash' AND ts < '2024-03-01' AND t > '-1:00:00' AND b = 'ab'",
		GroupBy: []string{"day(ts) AS day", "truncate(10, n)", "grp"}, Measures: []string{"count()", "sum(n)", "avg(amount)"}})
	pg, err := b.WarehouseSQL(DialectPostgres, `"tidemark"."shop_facts"`)
	if err != nil {
		t.Fatal(err)
	}
	wantPG := `SELECT CASE WHEN ("ts" AT TIME ZONE 'UTC') = TIMESTAMP '0001-01-01 00:00:00' THEN '0000-00-00' ELSE TO_CHAR(("ts" AT TIME ZONE 'UTC'), 'YYYY-MM-DD') END,` +
		` CAST(("n" - MOD(MOD("n", 10) + 10, 10)) AS VARCHAR), "grp", CAST(COUNT(*) AS VARCHAR), CAST(SUM("n") AS VARCHAR),` +
		` CAST(ROUND(CAST(SUM("amount") AS NUMERIC(1000,26)) / COUNT("amount"), 6) AS VARCHAR) FROM "tidemark"."shop_facts"` +
		` WHERE ("grp" COLLATE "C" = 'back\slash') AND (("ts" AT TIME ZONE 'UTC') < TIMESTAMP '2024-03-01 00:00:00.000000')` +
		` AND ("t" > CAST('-01:00:00.000000' AS INTERVAL)) AND ("b" = CONVERT_TO('ab', 'UTF8'))` +
		` GROUP BY CASE WHEN ("ts" AT TIME ZONE 'UTC') = TIMESTAMP '0001-01-01 00:00:00' THEN '0000-00-00' ELSE TO_CHAR(("ts" AT TIME ZONE 'UTC'), 'YYYY-MM-DD') END,` +
		` ("n" - MOD(MOD("n", 10) + 10, 10)), "grp" HAVING COUNT(*) > 0`
	if pg != wantPG {
		t.Errorf("PostgreSQL:\n got %s\nwant %s", pg, wantPG)
	}
	rs, err := b.WarehouseSQL(DialectRedshift, `"tidemark"."shop_facts"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{`"grp" = 'back' || CHR(92) || 'slash'`, `"t" > -3600000000`, `LOWER(TO_HEX("b")) = '6162'`,
		`SUM(CAST("n" AS DECIMAL(38,0)))`, `CAST(SUM(CAST("amount" AS DECIMAL(38,2))) AS VARCHAR) || '/' || CAST(COUNT("amount") AS VARCHAR)`} {
		if !strings.Contains(rs, part) {
			t.Errorf("Redshift SQL lacks %s:\n%s", part, rs)
		}
	}
	for _, tc := range []struct {
		d    Dialect
		spec ViewSpec
	}{
		{DialectRedshift, ViewSpec{Name: "x", From: "shop.facts", Measures: []string{"sum(w)"}}},
		{DialectRedshift, ViewSpec{Name: "x", From: "shop.facts", GroupBy: []string{"price"}, Measures: []string{"count()"}}},
		{DialectRedshift, ViewSpec{Name: "x", From: "shop.facts", Where: "b < grp", Measures: []string{"count()"}}},
		{DialectPostgres, ViewSpec{Name: "x", From: "shop.facts", Mirror: true}},
	} {
		if _, err := bindView(t, s, tc.spec).WarehouseSQL(tc.d, "t"); !errors.Is(err, ErrNotPushable) {
			t.Errorf("%v %+v: %v, want ErrNotPushable", tc.d, tc.spec, err)
		}
	}
}
