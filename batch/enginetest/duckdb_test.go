package enginetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	_ "github.com/go-sql-driver/mysql"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/internal/workload"
)

// sqlSource is a batch.Source over a MariaDB connection, written for this
// test from the type map's snapshot helpers (formats.SelectExpr and
// formats.FromText): a consistent snapshot and its binlog position.
type sqlSource struct{ db *sql.DB }

func (s sqlSource) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return formats.Position{}, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return formats.Position{}, err
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	var pos formats.Position
	for _, v := range []struct {
		name string
		dst  any
	}{{"binlog_snapshot_file", &pos.File}, {"binlog_snapshot_position", &pos.Offset}} {
		var name string
		if err := conn.QueryRowContext(ctx, "SHOW STATUS LIKE '"+v.name+"'").Scan(&name, v.dst); err != nil {
			return formats.Position{}, fmt.Errorf("reading %s: %w", v.name, err)
		}
	}
	for _, t := range tables {
		schema, err := tableSchema(ctx, conn, t)
		if err != nil {
			return formats.Position{}, err
		}
		exprs := make([]string, len(schema.Columns))
		for i, c := range schema.Columns {
			exprs[i] = formats.SelectExpr(c)
		}
		rows, err := conn.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(exprs, ", "),
			formats.QuoteIdent(t.DB), formats.QuoteIdent(t.Table)))
		if err != nil {
			return formats.Position{}, err
		}
		raw := make([]sql.RawBytes, len(schema.Columns))
		dst := make([]any, len(raw))
		for i := range raw {
			dst[i] = &raw[i]
		}
		for rows.Next() {
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return formats.Position{}, err
			}
			r := make(formats.Row, len(raw))
			for i, c := range schema.Columns {
				if r[i], err = formats.FromText(c.Type, raw[i]); err != nil {
					rows.Close()
					return formats.Position{}, fmt.Errorf("%s.%s: %w", t, c.Name, err)
				}
			}
			if err := emit(ctx, schema, r); err != nil {
				rows.Close()
				return formats.Position{}, err
			}
		}
		if err := rows.Close(); err != nil {
			return formats.Position{}, err
		}
	}
	return pos, nil
}

func tableSchema(ctx context.Context, conn *sql.Conn, t formats.TableID) (*formats.TableSchema, error) {
	rows, err := conn.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, t.DB, t.Table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s := &formats.TableSchema{Table: t}
	for rows.Next() {
		var name, typ, null, key string
		if err := rows.Scan(&name, &typ, &null, &key); err != nil {
			return nil, err
		}
		ft, err := formats.ParseColumnType(typ)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, name, err)
		}
		if key == "PRI" {
			s.PK = append(s.PK, len(s.Columns))
		}
		s.Columns = append(s.Columns, formats.Column{Name: name, Type: ft, Nullable: null == "YES"})
	}
	return s, rows.Err()
}

// fromDuckDB converts a value DuckDB scanned from a Parquet column written
// for type t back to t's canonical Go value.
func fromDuckDB(t formats.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case int64:
		switch {
		case t.Kind == formats.KindTime:
			return time.Duration(x) * time.Microsecond, nil
		case t.Unsigned || t.Kind == formats.KindBit:
			return uint64(x), nil
		}
		return x, nil
	case duckdb.Decimal:
		if t.Kind != formats.KindDecimal {
			if x.Value.Sign() < 0 || x.Value.BitLen() > 64 {
				return nil, fmt.Errorf("%v out of uint64 range", x.Value)
			}
			return x.Value.Uint64(), nil
		}
		return formats.DecimalFromScaled(new(big.Int).Set(x.Value), int(x.Scale)), nil
	case float64:
		return x, nil
	case time.Time:
		return x.UTC(), nil
	case string:
		if t.Kind == formats.KindDecimal {
			return formats.ParseDecimal(x, t.Scale)
		}
		return x, nil
	case []byte:
		return slices.Clone(x), nil
	}
	return nil, fmt.Errorf("DuckDB gave %T for %s", v, t)
}

// rowSums returns the sorted checksums of rows: SHA-256 of every value in
// formats.AppendJSON's exact form.
func rowSums(s *formats.TableSchema, rows []formats.Row) []string {
	sums := make([]string, len(rows))
	for i, r := range rows {
		var b []byte
		for j, c := range s.Columns {
			b = formats.AppendJSON(append(b, '|'), c.Type, r[j])
		}
		sums[i] = fmt.Sprintf("%x %s", sha256.Sum256(b), b)
	}
	slices.Sort(sums)
	return sums
}

func TestSnapshotReadByDuckDBEqualsSource(t *testing.T) {
	ctx := context.Background()
	m := stack.MariaDB(t)
	src := m.DB(t, "")
	if err := workload.CreateSchema(ctx, src, "shop"); err != nil {
		t.Fatal(err)
	}
	g := workload.New(src, "shop", 42, 0)
	if err := g.Seed(ctx, 40, 300); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if err := g.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	store, err := lake.Open(ctx, "file://"+dir, lake.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	tables := []batch.Table{
		{ID: formats.TableID{DB: "shop", Table: "customers"}, Partition: []string{"country"}},
		{ID: formats.TableID{DB: "shop", Table: "orders"}, Partition: []string{"day(created_at) AS dt", "status"}},
		{ID: formats.TableID{DB: "shop", Table: "alltypes"}, Partition: []string{"en", "year(dtm6) AS y"}, History: true},
	}
	gen, err := batch.Rebuild(ctx, store, sqlSource{src}, batch.Options{
		SourceName: "shop", Tables: tables, RowGroupRows: 100,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}

	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	compareWithSource(t, duck, dir, gen, src)
	// A history starting at the extract: one version per row, of every
	// column type, valid at the cut.
	var all []formats.Row
	if _, err := (sqlSource{src}).Snapshot(ctx, []formats.TableID{{DB: "shop", Table: "alltypes"}}, func(_ context.Context, _ *formats.TableSchema, r formats.Row) error {
		all = append(all, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := checkHistoryWithDuckDB(t, duck, dir, gen, "shop.alltypes", []string{gen.Cut}, [][]formats.Row{all}); n != int64(len(all)) {
		t.Fatalf("the alltypes history starts with %d versions for %d rows", n, len(all))
	}

	// The Hive partition columns DuckDB derives from the folder names agree
	// with the rows inside. NULL is the folder value
	// __HIVE_DEFAULT_PARTITION__ (Hive, Spark, Athena); DuckDB reads it as
	// that string, hence the NULLIF.
	for _, check := range []string{
		fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/tables/shop/orders/gen=0/**/*.parquet', hive_partitioning = true)
			WHERE CAST(dt AS DATE) <> CAST(created_at AS DATE) OR status_part <> status`, dir),
		fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/tables/shop/alltypes/gen=0/**/*.parquet', hive_partitioning = true)
			WHERE (NULLIF(en_part, '__HIVE_DEFAULT_PARTITION__') IS NULL) <> (en IS NULL) OR en_part <> en
			OR (NULLIF(y, '__HIVE_DEFAULT_PARTITION__') IS NULL) <> (dtm6 IS NULL) OR CAST(NULLIF(y, '__HIVE_DEFAULT_PARTITION__') AS BIGINT) <> year(dtm6)`, dir),
		fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/tables/shop/customers/gen=0/**/*.parquet', hive_partitioning = true)
			WHERE (NULLIF(country_part, '__HIVE_DEFAULT_PARTITION__') IS NULL) <> (country IS NULL) OR country_part <> country`, dir),
	} {
		var bad int64
		if err := duck.QueryRowContext(ctx, check).Scan(&bad); err != nil {
			t.Fatalf("%s: %v", check, err)
		}
		if bad != 0 {
			t.Errorf("%d rows in the wrong partition folder: %s", bad, check)
		}
	}
}

// compareWithSource reads each table of gen with DuckDB (Hive partitioning
// on) and checks it equals the source's current rows: the same count and
// the same per-row checksums.
func compareWithSource(t *testing.T, duck *sql.DB, dir string, gen *batch.Generation, src *sql.DB) {
	t.Helper()
	ctx := context.Background()
	for _, ts := range gen.Tables {
		s, err := ts.Schema()
		if err != nil {
			t.Fatal(err)
		}
		var want []formats.Row
		if _, err := (sqlSource{src}).Snapshot(ctx, []formats.TableID{s.Table}, func(_ context.Context, _ *formats.TableSchema, r formats.Row) error {
			want = append(want, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		cols := make([]string, len(s.Columns))
		for i, c := range s.Columns {
			cols[i] = `"` + c.Name + `"`
		}
		glob := fmt.Sprintf("%s/%s/**/*.parquet", dir, ts.Prefix)
		var got []formats.Row
		if len(ts.Files) > 0 {
			rows, err := duck.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM read_parquet('%s', hive_partitioning = true)", strings.Join(cols, ", "), glob))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				vals := make([]any, len(cols))
				dst := make([]any, len(cols))
				for i := range vals {
					dst[i] = &vals[i]
				}
				if err := rows.Scan(dst...); err != nil {
					t.Fatal(err)
				}
				r := make(formats.Row, len(cols))
				for i, c := range s.Columns {
					if r[i], err = fromDuckDB(c.Type, vals[i]); err != nil {
						t.Fatalf("%s.%s: %v", ts.Table, c.Name, err)
					}
				}
				got = append(got, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
		}
		if len(got) != len(want) || int64(len(got)) != ts.Rows {
			t.Fatalf("generation %d %s: DuckDB reads %d rows, the manifest says %d, the source has %d", gen.Generation, ts.Table, len(got), ts.Rows, len(want))
		}
		gs, ws := rowSums(s, got), rowSums(s, want)
		for i := range ws {
			if gs[i] != ws[i] {
				t.Fatalf("generation %d %s: row checksums differ:\nDuckDB %s\nsource %s", gen.Generation, ts.Table, gs[i], ws[i])
			}
		}
		t.Logf("generation %d %s: %d rows in %d files equal the source", gen.Generation, ts.Table, len(got), len(ts.Files))
	}
}

// duckRows runs query on DuckDB and converts each row to s's canonical
// values (the query selects s's columns in order).
func duckRows(t *testing.T, duck *sql.DB, s *formats.TableSchema, query string, args ...any) []formats.Row {
	t.Helper()
	rows, err := duck.QueryContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []formats.Row
	for rows.Next() {
		vals := make([]any, len(s.Columns))
		dst := make([]any, len(vals))
		for i := range vals {
			dst[i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		r := make(formats.Row, len(vals))
		for i, c := range s.Columns {
			if r[i], err = fromDuckDB(c.Type, vals[i]); err != nil {
				t.Fatalf("%s.%s: %v", s.Table, c.Name, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func quotedColumns(cols []formats.Column) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = `"` + c.Name + `"`
	}
	return strings.Join(q, ", ")
}

// checkHistoryWithDuckDB reads table's history in gen with DuckDB: no key
// has two versions valid at once, and at each of cuts (a generation's cut
// string, compared as a string the way a user's SQL does) the valid
// versions are exactly want's rows for that cut. It returns the number
// of versions.
func checkHistoryWithDuckDB(t *testing.T, duck *sql.DB, dir string, gen *batch.Generation, table string,
	cuts []string, want [][]formats.Row) int64 {
	t.Helper()
	var h *batch.TableSnapshot
	for i := range gen.Histories {
		if gen.Histories[i].Table == table {
			h = &gen.Histories[i]
		}
	}
	if h == nil || len(h.Files) == 0 {
		t.Fatalf("generation %d has no history of %s with files", gen.Generation, table)
	}
	hs, err := h.Schema()
	if err != nil {
		t.Fatal(err)
	}
	n := len(hs.Columns) - 6
	s := &formats.TableSchema{Table: hs.Table, PK: hs.PK, Columns: hs.Columns[:n]}
	src := fmt.Sprintf("read_parquet('%s/%s/**/*.parquet', hive_partitioning = true)", dir, h.Prefix)
	for i, cut := range cuts {
		got := duckRows(t, duck, s, fmt.Sprintf("SELECT %s FROM %s WHERE %s <= ? AND (%s IS NULL OR %s > ?)",
			quotedColumns(s.Columns), src, batch.HistValidFrom, batch.HistValidTo, batch.HistValidTo), cut, cut)
		gs, ws := rowSums(s, got), rowSums(s, want[i])
		if !slices.Equal(gs, ws) {
			t.Fatalf("history of %s in generation %d: %d versions valid at %s, want %d rows (or their values differ)",
				table, gen.Generation, len(gs), cut, len(ws))
		}
	}
	var pk []string
	for _, i := range s.PK {
		pk = append(pk, `"`+s.Columns[i].Name+`"`)
	}
	var bad, versions, closed int64
	q := fmt.Sprintf(`SELECT count(*) FILTER (WHERE prev_to > valid_from OR valid_to <= valid_from),
			count(*), count(valid_to)
		FROM (SELECT valid_from, valid_to,
			lag(coalesce(valid_to, '~')) OVER (PARTITION BY %s ORDER BY valid_from) AS prev_to FROM %s)`,
		strings.Join(pk, ", "), src)
	if err := duck.QueryRow(q).Scan(&bad, &versions, &closed); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if bad != 0 || versions != h.Rows {
		t.Fatalf("history of %s in generation %d: %d overlapping or empty intervals; %d versions, the manifest says %d",
			table, gen.Generation, bad, versions, h.Rows)
	}
	t.Logf("history of %s in generation %d: %d versions (%d closed), exact at %d cuts, no overlaps",
		table, gen.Generation, versions, closed, len(cuts))
	return versions
}
