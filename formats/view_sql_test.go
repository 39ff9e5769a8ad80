package formats

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/stack"
)

func TestVerifySQLText(t *testing.T) {
	s := ordersSchema(t)
	tests := []struct {
		spec ViewSpec
		want string
	}{
		{aggView("status <> 'cancelled' AND amount > 0", []string{"day(created_at) AS day", "status"}, "count() AS orders", "sum(amount) AS revenue", "avg(amount)", "count(qty)"),
			"SELECT DATE_FORMAT(`created_at`, '%Y-%m-%d'), CAST(`status` AS BINARY), COUNT(*), SUM(`amount`), AVG(`amount`), COUNT(`qty`) FROM `shop`.`orders`" +
				" WHERE (CAST(`status` AS BINARY) <> 'cancelled') AND (`amount` > 0)" +
				" GROUP BY DATE_FORMAT(`created_at`, '%Y-%m-%d'), CAST(`status` AS BINARY) HAVING COUNT(*) > 0"},
		{aggView("", []string{"truncate(10, qty)", "truncate(10, uqty)", "truncate(3, status)", "truncate(2, bin)", "hour(ts)", "ts", "price", "bits"}),
			"SELECT ((`qty` DIV 10 - (MOD(`qty`, 10) < 0)) * 10), ((`uqty` DIV 10) * 10), CAST(LEFT(`status`, 3) AS BINARY), LEFT(`bin`, 2)," +
				" IF(UNIX_TIMESTAMP(`ts`) = 0, '0000-00-00 00', DATE_FORMAT(TIMESTAMP'1970-01-01 00:00:00' + INTERVAL ROUND(UNIX_TIMESTAMP(`ts`) * 1000000) MICROSECOND, '%Y-%m-%d %H'))," +
				" UNIX_TIMESTAMP(`ts`), CAST(`price` AS DOUBLE), `bits`, COUNT(*) FROM `shop`.`orders` GROUP BY" +
				" ((`qty` DIV 10 - (MOD(`qty`, 10) < 0)) * 10), ((`uqty` DIV 10) * 10), CAST(LEFT(`status`, 3) AS BINARY), LEFT(`bin`, 2)," +
				" IF(UNIX_TIMESTAMP(`ts`) = 0, '0000-00-00 00', DATE_FORMAT(TIMESTAMP'1970-01-01 00:00:00' + INTERVAL ROUND(UNIX_TIMESTAMP(`ts`) * 1000000) MICROSECOND, '%Y-%m-%d %H'))," +
				" UNIX_TIMESTAMP(`ts`), CAST(`price` AS DOUBLE), `bits` HAVING COUNT(*) > 0"},
		{aggView("", nil, "sum(price)"), "SELECT SUM(`price`) FROM `shop`.`orders` HAVING COUNT(*) > 0"},
		{ViewSpec{Name: "m", From: "shop.orders", Mirror: true, Columns: []string{"id", "ts", "fl", "status"}},
			"SELECT `id`, UNIX_TIMESTAMP(`ts`) AS `ts`, CAST(`fl` AS DOUBLE) AS `fl`, `status` FROM `shop`.`orders` ORDER BY `id`"},
	}
	for _, tc := range tests {
		b := bindView(t, s, tc.spec)
		if got := b.VerifySQL(); got != tc.want {
			t.Errorf("VerifySQL(%+v):\n got %s\nwant %s", tc.spec, got, tc.want)
		}
	}
}

// TestVerifySQLOver: columns the view sees as VARCHAR(64) (masked by the
// capture) but the source holds as FLOAT, DOUBLE or TIMESTAMP are read as
// SelectExpr reads the source's type, in a mirror and as a plain group
// key (select list and GROUP BY alike); the other columns are unchanged.
func TestVerifySQLOver(t *testing.T) {
	s := ordersSchema(t)
	src := map[string]Type{}
	for i, c := range s.Columns {
		if c.Name == "fl" || c.Name == "price" || c.Name == "ts" {
			src[c.Name] = c.Type
			s.Columns[i].Type = Type{Kind: KindVarChar, Precision: 64}
		}
	}
	source := func(col string) (Type, bool) { t, ok := src[col]; return t, ok }
	tests := []struct {
		spec          ViewSpec
		plain, source string
	}{
		{ViewSpec{Name: "m", From: "shop.orders", Mirror: true, Columns: []string{"id", "ts", "fl", "price", "status"}},
			"SELECT `id`, `ts`, `fl`, `price`, `status` FROM `shop`.`orders` ORDER BY `id`",
			"SELECT `id`, UNIX_TIMESTAMP(`ts`) AS `ts`, CAST(`fl` AS DOUBLE) AS `fl`, CAST(`price` AS DOUBLE) AS `price`, `status` FROM `shop`.`orders` ORDER BY `id`"},
		{aggView("", []string{"fl", "ts", "status"}, "count()"),
			"SELECT CAST(`fl` AS BINARY), CAST(`ts` AS BINARY), CAST(`status` AS BINARY), COUNT(*) FROM `shop`.`orders` GROUP BY CAST(`fl` AS BINARY), CAST(`ts` AS BINARY), CAST(`status` AS BINARY) HAVING COUNT(*) > 0",
			"SELECT CAST(`fl` AS DOUBLE), UNIX_TIMESTAMP(`ts`), CAST(`status` AS BINARY), COUNT(*) FROM `shop`.`orders` GROUP BY CAST(`fl` AS DOUBLE), UNIX_TIMESTAMP(`ts`), CAST(`status` AS BINARY) HAVING COUNT(*) > 0"},
	}
	for _, tc := range tests {
		b := bindView(t, s, tc.spec)
		if got := b.VerifySQL(); got != tc.plain {
			t.Errorf("VerifySQL(%+v):\n got %s\nwant %s", tc.spec, got, tc.plain)
		}
		if got := b.VerifySQLOver(source); got != tc.source {
			t.Errorf("VerifySQLOver(%+v):\n got %s\nwant %s", tc.spec, got, tc.source)
		}
	}
}

func TestWhereSQL(t *testing.T) {
	s := ordersSchema(t)
	tests := []struct{ where, want string }{
		{"", ""},
		{"status = 'it''s'", "CAST(`status` AS BINARY) = 'it''s'"},
		{"status = 'back\\slash'", "CAST(`status` AS BINARY) = X'6261636b5c736c617368'"},
		{"status IN ('é', 'a')", "CAST(`status` AS BINARY) IN (X'c3a9', 'a')"},
		{"status NOT IN ('a', NULL)", "NOT (CAST(`status` AS BINARY) IN ('a', NULL))"},
		{"0 < qty", "`qty` > 0"},
		{"qty = TRUE OR amount >= -1.50", "(`qty` = 1) OR (`amount` >= -1.50)"},
		{"NOT (qty IS NULL) AND note IS NOT NULL", "(NOT (`qty` IS NULL)) AND (`note` IS NOT NULL)"},
		{"created_at >= '2024-01-31'", "`created_at` >= '2024-01-31 00:00:00.000000'"},
		{"ts < '2024-01-31T10:00:00'", "IF(UNIX_TIMESTAMP(`ts`) = 0, TIMESTAMP'0001-01-01 00:00:00', TIMESTAMP'1970-01-01 00:00:00' + INTERVAL ROUND(UNIX_TIMESTAMP(`ts`) * 1000000) MICROSECOND) < '2024-01-31 10:00:00.000000'"},
		{"dur > '-1:00:00'", "`dur` > '-01:00:00.000000'"},
		{"bin = 'x'", "`bin` = 'x'"},
		{"status = note AND bin < status", "(CAST(`status` AS BINARY) = CAST(`note` AS BINARY)) AND (`bin` < CAST(`status` AS BINARY))"},
		{"1 = 1 AND 'a' = 'A' AND 1 IN (2, NULL) AND 1 IN (1)", "(TRUE) AND (FALSE) AND (NULL) AND (TRUE)"},
		{"`kind` = 'a' OR (qty > 1 AND qty < 5)", "(CAST(`kind` AS BINARY) = 'a') OR ((`qty` > 1) AND (`qty` < 5))"},
	}
	for _, tc := range tests {
		b := bindView(t, s, aggView(tc.where, nil))
		if got := b.WhereSQL(); got != tc.want {
			t.Errorf("WhereSQL(%s):\n got %s\nwant %s", tc.where, got, tc.want)
		}
	}
}

func TestParseVerifyRow(t *testing.T) {
	s := ordersSchema(t)
	b := bindView(t, s, aggView("", []string{"day(created_at)", "status", "ts", "fl"}, "count()", "sum(amount)", "avg(amount)", "sum(price)", "avg(qty)"))
	raw := [][]byte{[]byte("2024-01-02"), []byte("a|b"), []byte("1704067200.500000"), []byte("0.10000000149011612"),
		[]byte("3"), []byte("12.30"), []byte("4.100000"), []byte("1.5"), nil}
	k, row, err := b.ParseVerifyRow(raw)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 1, 1, 0, 0, 0, 500e6, time.UTC)
	want := Row{"2024-01-02", "a|b", ts, float64(float32(0.1)), int64(3), Decimal("12.30"), Decimal("4.100000"), 1.5, nil}
	if !reflect.DeepEqual(row, want) {
		t.Errorf("row = %#v\nwant %#v", row, want)
	}
	if want := GroupKey(`2024-01-02|a\|b|2024-01-01 00:00:00.500000|0.1`); k != want {
		t.Errorf("key = %q, want %q", k, want)
	}
	if _, _, err := b.ParseVerifyRow(raw[:3]); err == nil {
		t.Error("short row: no error")
	}
	bad := append([][]byte(nil), raw...)
	bad[5] = []byte("12.345")
	if _, _, err := b.ParseVerifyRow(bad); err == nil {
		t.Error("sum with too many digits: no error")
	}
}

// TestVerifyMatchesMariaDB holds the Go evaluator against the server: random
// rows (and random updates and deletes replayed as events) in a real
// MariaDB table, views with where clauses, every transform and every
// measure; the evaluator's answer must equal VerifySQL's, group by group.
// The session runs in a non-UTC time zone and a case-insensitive collation
// to prove the SQL does not depend on either.
func TestVerifyMatchesMariaDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	m := stack.MariaDB(t)
	m.Exec(t, "CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", `CREATE TABLE shop.facts (
		id INT PRIMARY KEY,
		grp VARCHAR(10) NULL,
		n INT NULL,
		u BIGINT UNSIGNED NULL,
		amount DECIMAL(12,2) NULL,
		price DOUBLE NULL,
		f FLOAT NULL,
		created DATETIME(3) NULL,
		ts TIMESTAMP(6) NULL DEFAULT NULL,
		d DATE NULL,
		t TIME NULL,
		e ENUM('x','y','z') NULL,
		b VARBINARY(8) NULL,
		yr YEAR NULL
	)`)
	db, err := sql.Open("mysql", m.DSN("shop")+"&time_zone=%27%2B05%3A30%27")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	s := readSchema(t, db, "shop", "facts")

	r := rand.New(rand.NewPCG(42, 1))
	const nRows = 400
	for id := range nRows {
		if _, err := db.ExecContext(ctx, "INSERT INTO facts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", append([]any{id}, randomFact(r)...)...); err != nil {
			t.Fatal(err)
		}
	}
	initial := readRows(t, db, s)
	zeros := 0
	for _, row := range initial {
		if ts, ok := row[s.ColumnIndex("ts")].(time.Time); ok && ts.IsZero() {
			zeros++
		}
	}
	if zeros == 0 {
		t.Fatal("no zero TIMESTAMP among the rows; the zero-date cases go untested")
	}

	views := []ViewSpec{
		{Name: "by_day", From: "shop.facts", Where: "grp <> 'a' AND amount > 0", GroupBy: []string{"day(created) AS day", "grp"},
			Measures: []string{"count()", "sum(amount)", "avg(amount)", "count(price)", "sum(price)", "avg(n)"}},
		{Name: "transforms", From: "shop.facts", GroupBy: []string{"truncate(10, n)", "truncate(2, grp)", "month(ts)", "hour(created)", "truncate(1, b)", "truncate(1000000000000000000, u)"},
			Measures: []string{"count()", "sum(u)", "avg(u)", "sum(f)", "avg(price)", "avg(f)"}},
		{Name: "time_transforms", From: "shop.facts", GroupBy: []string{"day(ts)", "year(created)", "month(d)"},
			Measures: []string{"count()", "sum(u)", "avg(u)", "sum(f)", "avg(price)", "avg(f)"}},
		{Name: "filters", From: "shop.facts", Where: "n IN (1, 2, 3, -5) OR e = 'y' OR (d >= '2024-06-01' AND t < '12:00:00') OR u > 18446744073709551000 OR ts < '2024-03-01 12:00:00' OR b = 'ab'",
			GroupBy: []string{"e", "year(d)", "yr"}, Measures: []string{"sum(n)", "avg(amount)", "count(t)"}},
		{Name: "global", From: "shop.facts", Where: "grp IS NULL OR NOT (amount < 10.5)", Measures: []string{"count()", "sum(amount)", "avg(amount)", "avg(n)"}},
		{Name: "raw_keys", From: "shop.facts", GroupBy: []string{"d", "ts", "t", "amount", "b", "u", "created", "yr"}, Measures: []string{"count()"}},
		{Name: "strings", From: "shop.facts", Where: "grp = 'it''s' OR grp = 'back\\slash' OR grp IN ('é', 'a ', 'A', '')", GroupBy: []string{"grp"}, Measures: []string{"count()", "sum(n)"}},
		{Name: "float_keys", From: "shop.facts", GroupBy: []string{"price", "f"}, Measures: []string{"count()"}},
		{Name: "columns", From: "shop.facts", Where: "created > d OR n < amount OR price >= f", Measures: []string{"count()", "avg(amount)"}},
		{Name: "nothing", From: "shop.facts", Where: "n > 1000000", Measures: []string{"count()", "sum(n)"}},
		{Name: "mirror", From: "shop.facts", Mirror: true, Columns: []string{"id", "grp", "amount", "ts", "f", "price", "b", "t"}},
	}
	bound := make([]*BoundView, len(views))
	deltas := make([]Delta, len(views))
	for i, spec := range views {
		bound[i] = bindView(t, s, spec)
		if spec.Mirror {
			continue
		}
		deltas[i] = Delta{}
		for _, row := range initial {
			if err := bound[i].AccumulateRow(row, 1, deltas[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(stage string, rows map[int64]Row) {
		for i, b := range bound {
			if b.View().Mirror {
				checkMirror(t, db, b, rows)
				continue
			}
			checkView(t, stage, db, b, deltas[i])
		}
	}
	check("after inserts", initial)

	// Random updates and deletes, replayed as events from the table's before
	// and after images.
	for range 150 {
		id := r.IntN(nRows)
		vals := randomFact(r)
		if _, err := db.ExecContext(ctx, "UPDATE facts SET grp=?, n=?, u=?, amount=?, price=?, f=?, created=?, ts=?, d=?, t=?, e=?, b=?, yr=? WHERE id=?", append(vals, id)...); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		if _, err := db.ExecContext(ctx, "DELETE FROM facts WHERE id=?", r.IntN(nRows)); err != nil {
			t.Fatal(err)
		}
	}
	final := readRows(t, db, s)
	var events []Event
	for id, before := range initial {
		after, ok := final[id]
		switch {
		case !ok:
			events = append(events, Event{Table: s.Table, Op: OpDelete, Before: before, Schema: s})
		case !reflect.DeepEqual(before, after):
			events = append(events, Event{Table: s.Table, Op: OpUpdate, Before: before, After: after, Schema: s})
		}
	}
	if len(events) < 100 {
		t.Fatalf("only %d changes", len(events))
	}
	for i, b := range bound {
		if b.View().Mirror {
			continue
		}
		for _, e := range events {
			if err := b.Accumulate(e, deltas[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("after updates and deletes", final)

	// Exact rounding ties: avg of 1/32 = 0.03125 rounds to 0.0313, and
	// -0.03125 to -0.0313 (half away from zero), at scale 4 and at S+4.
	m.Exec(t, "CREATE TABLE shop.ties (id INT PRIMARY KEY, g CHAR(1), n INT, amount DECIMAL(12,2), w DECIMAL(38,30))")
	id := 0
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
			if _, err := db.ExecContext(ctx, "INSERT INTO ties VALUES (?,?,?,?,?)", id, g.name, n, amount, amount); err != nil {
				t.Fatal(err)
			}
			id++
		}
	}
	ts := readSchema(t, db, "shop", "ties")
	tb := bindView(t, ts, ViewSpec{Name: "ties", From: "shop.ties", GroupBy: []string{"g"}, Measures: []string{"avg(n)", "avg(amount)", "sum(amount)", "avg(w)"}})
	td := Delta{}
	for _, row := range readRows(t, db, ts) {
		if err := tb.AccumulateRow(row, 1, td); err != nil {
			t.Fatal(err)
		}
	}
	checkView(t, "with rounding ties", db, tb, td)
	if row, _ := tb.Result("m", td["m"]); fmt.Sprint(row[:4]) != "[m -0.0313 -0.000313 -0.01]" {
		t.Errorf("tie group m = %v", row)
	}
}

// randomFact returns random values for every column of shop.facts but id,
// with NULLs, negatives, extremes and strings that collations would merge.
func randomFact(r *rand.Rand) []any {
	maybe := func(v any) any {
		if r.IntN(6) == 0 {
			return nil
		}
		return v
	}
	grps := []string{"a", "A", "a ", "b", "", "it's", `back\slash`, "é", "É", "x|y"}
	us := []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 7, 1 << 63, r.Uint64(), r.Uint64() >> 40}
	bs := [][]byte{[]byte("ab"), []byte("AB"), {0}, {0, '|', '\\'}, {}, []byte("zzzzzzzz")}
	when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(365*24*time.Hour)) / 1000 * 1000))
	dur := time.Duration(r.Int64N(int64(2*838*time.Hour))) - 838*time.Hour
	created, tsText, date := when.Format("2006-01-02 15:04:05.000"), ts.In(time.FixedZone("", 5*3600+1800)).Format("2006-01-02 15:04:05.000000"), when.Format("2006-01-02")
	if r.IntN(25) == 0 { // zero dates, allowed by MariaDB's default sql_mode
		created, tsText, date = "0000-00-00 00:00:00", "0000-00-00 00:00:00", "0000-00-00"
	}
	return []any{
		maybe(grps[r.IntN(len(grps))]),
		maybe(r.Int64N(101) - 50),
		maybe(us[r.IntN(len(us))]),
		maybe(string(DecimalFromScaled(big.NewInt(r.Int64N(2e8)-1e8), 2))),
		maybe(r.Float64()*1000 - 500),
		maybe(float64(float32(r.NormFloat64() * 100))),
		maybe(created),
		// The session is at +05:30: the server converts this text to UTC.
		maybe(tsText),
		maybe(date),
		maybe(FormatText(Type{Kind: KindTime}, dur.Truncate(time.Second))),
		maybe([]string{"x", "y", "z"}[r.IntN(3)]),
		maybe(bs[r.IntN(len(bs))]),
		maybe(1901 + r.Int64N(255)),
	}
}

func readSchema(t *testing.T, db *sql.DB, dbName, table string) *TableSchema {
	t.Helper()
	rows, err := db.Query("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=? AND TABLE_NAME=? ORDER BY ORDINAL_POSITION", dbName, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	s := &TableSchema{Table: TableID{DB: dbName, Table: table}}
	for rows.Next() {
		var name, typ, nullable, key string
		if err := rows.Scan(&name, &typ, &nullable, &key); err != nil {
			t.Fatal(err)
		}
		ty, err := ParseColumnType(typ)
		if err != nil {
			t.Fatalf("column %s: %v", name, err)
		}
		if key == "PRI" {
			s.PK = append(s.PK, len(s.Columns))
		}
		s.Columns = append(s.Columns, Column{Name: name, Type: ty, Nullable: nullable == "YES"})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// readRows reads the table as the snapshot path does: SelectExpr and
// FromText.
func readRows(t *testing.T, db *sql.DB, s *TableSchema) map[int64]Row {
	t.Helper()
	exprs := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		exprs[i] = SelectExpr(c)
	}
	rows, err := db.Query("SELECT " + strings.Join(exprs, ", ") + " FROM " + QuoteIdent(s.Table.DB) + "." + QuoteIdent(s.Table.Table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]Row{}
	for rows.Next() {
		raw := make([]sql.RawBytes, len(s.Columns))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make(Row, len(raw))
		for i, c := range s.Columns {
			v, err := FromText(c.Type, raw[i])
			if err != nil {
				t.Fatal(err)
			}
			row[i] = v
		}
		out[row[0].(int64)] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyAnswer runs VerifySQL and parses its rows.
func verifyAnswer(t *testing.T, db *sql.DB, b *BoundView) map[GroupKey]Row {
	t.Helper()
	q := b.VerifySQL()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("view %s: %s: %v", b.View().Name, q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[GroupKey]Row{}
	for rows.Next() {
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(raw))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		bs := make([][]byte, len(raw))
		for i, p := range raw {
			if p != nil {
				bs[i] = append([]byte{}, p...)
			}
		}
		k, row, err := b.ParseVerifyRow(bs)
		if err != nil {
			t.Fatalf("view %s: %v", b.View().Name, err)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("view %s: the SQL answers group %q twice", b.View().Name, k)
		}
		out[k] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkView(t *testing.T, stage string, db *sql.DB, b *BoundView, d Delta) {
	t.Helper()
	want := verifyAnswer(t, db, b)
	got := map[GroupKey]Row{}
	for k, a := range d {
		if row, ok := b.Result(k, a); ok {
			got[k] = row
		}
	}
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("group %q: missing in Go, SQL has %v", k, w))
		case !b.RowsEqual(g, w):
			diffs = append(diffs, fmt.Sprintf("group %q: Go %v, SQL %v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("group %q: only in Go: %v", k, g))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... %d more", len(diffs)-10))
		}
		t.Errorf("view %s %s: %d groups in SQL, %d in Go; differences:\n%s", b.View().Name, stage, len(want), len(got), strings.Join(diffs, "\n"))
	} else {
		t.Logf("view %s %s: %d groups equal", b.View().Name, stage, len(want))
	}
}

func checkMirror(t *testing.T, db *sql.DB, b *BoundView, rows map[int64]Row) {
	t.Helper()
	want := verifyAnswer(t, db, b)
	if len(want) != len(rows) {
		t.Errorf("mirror: SQL has %d rows, table %d", len(want), len(rows))
	}
	for _, r := range rows {
		k, err := b.MirrorKey(r)
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := want[k]; !ok || !reflect.DeepEqual(b.Project(r), w) {
			t.Errorf("mirror row %q: Go %v, SQL %v", k, b.Project(r), w)
		}
	}
}
