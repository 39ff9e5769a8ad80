package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
)

// writeTable writes rows as Parquet under prefix and returns the table
// (kind KindTable, source db.name) describing them.
func writeTable(t testing.TB, store lake.Store, source string, cols []warehouse.Column, pk []int, rows []formats.Row, prefix string) warehouse.Table {
	t.Helper()
	tbl := warehouse.Table{Source: source, Kind: warehouse.KindTable, Name: warehouse.StableName(warehouse.KindTable, source), Columns: cols, PK: pk}
	sch, err := snapshot.SchemaOf(tbl.FormatsColumns())
	if err != nil {
		t.Fatal(err)
	}
	w, err := snapshot.NewWriter(store, prefix, sch, snapshot.PartitionSpec{}, snapshot.Options{FileOptions: snapshot.FileOptions{RowGroupRows: 7}})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
	defer b.Release()
	for _, r := range rows {
		for j, c := range cols {
			if err := formats.AppendArrow(b.Field(j), c.Type, r[j]); err != nil {
				t.Fatalf("column %s value %v: %v", c.Name, r[j], err)
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := w.Write(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		tbl.Files = append(tbl.Files, warehouse.File{Key: f.Key, Rows: f.Rows, Bytes: f.Bytes})
		tbl.Rows += f.Rows
		tbl.Bytes += f.Bytes
	}
	return tbl
}

// selectExpr reads a column so that fromPG can make its canonical value.
func selectExpr(c warehouse.Column) string {
	q := ident(c.Name)
	switch formats.PostgresType(c.Type) {
	case "jsonb":
		return q + "::text"
	}
	if strings.HasPrefix(formats.PostgresType(c.Type), "numeric") {
		return q + "::text"
	}
	return q
}

// fromPG converts what pgx scanned for column type t to t's canonical Go
// value; JSON comes back normalized (normJSON).
func fromPG(t formats.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case int64:
		if t.Unsigned || t.Kind == formats.KindBit {
			return uint64(x), nil
		}
		return x, nil
	case float64:
		return x, nil
	case time.Time:
		return x.UTC(), nil
	case pgtype.Interval:
		return time.Duration(x.Microseconds) * time.Microsecond, nil
	case []byte:
		return x, nil
	case string:
		switch {
		case t.Kind == formats.KindDecimal:
			return formats.ParseDecimal(x, t.Scale)
		case t.Kind == formats.KindBigInt || t.Kind == formats.KindBit:
			return strconv.ParseUint(x, 10, 64)
		case t.Kind == formats.KindJSON:
			return normJSON(x), nil
		}
		return x, nil
	}
	return nil, fmt.Errorf("pgx gave %T for %s", v, t)
}

func normJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "invalid JSON " + s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// pgRows reads every row of schema.name as canonical values, in the
// columns' order, ordered by orderBy when set.
func pgRows(t testing.TB, c *pgx.Conn, schema, name string, cols []warehouse.Column, orderBy string) []formats.Row {
	t.Helper()
	exprs := make([]string, len(cols))
	for i, col := range cols {
		exprs[i] = selectExpr(col)
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + ident(schema, name)
	if orderBy != "" {
		q += " ORDER BY " + orderBy
	}
	rows, err := c.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []formats.Row
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		r := make(formats.Row, len(cols))
		for i, col := range cols {
			if r[i], err = fromPG(col.Type, vals[i]); err != nil {
				t.Fatalf("%s.%s: %v", name, col.Name, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// canon is a row's exact text (formats.AppendJSON per value; JSON
// normalized), for comparisons.
func canon(cols []warehouse.Column, r formats.Row) string {
	var b []byte
	for j, c := range cols {
		v := r[j]
		if s, ok := v.(string); ok && c.Type.Kind == formats.KindJSON {
			v = normJSON(s)
		}
		b = formats.AppendJSON(append(b, '|'), c.Type, v)
	}
	return string(b)
}
