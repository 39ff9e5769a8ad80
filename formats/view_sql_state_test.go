package formats

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/stack"
)

// TestWarehouseStateSQLMatchesLocalEngine holds WarehouseStateSQL against
// the Go accumulator on random rows in a real PostgreSQL table: every
// group's parsed state must give the Result the local state gives, and the
// same row count and non-NULL counts.
func TestWarehouseStateSQLMatchesLocalEngine(t *testing.T) {
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
	r := rand.New(rand.NewPCG(7, 9))
	var rows []Row
	for id := range 400 {
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
		{Name: "transforms", From: "shop.facts", GroupBy: []string{"truncate(10, n)", "truncate(2, grp)", "month(ts)"},
			Measures: []string{"count()", "sum(u)", "avg(u)", "sum(f)", "avg(price)", "sum(w)", "avg(w)", "count(t)"}},
		{Name: "global", From: "shop.facts", Where: "grp IS NULL OR NOT (amount < 10.5)", Measures: []string{"count()", "sum(amount)", "avg(amount)", "avg(n)"}},
		{Name: "nothing", From: "shop.facts", Where: "n > 1000000", Measures: []string{"count()", "sum(n)"}},
	}
	for _, spec := range views {
		b := bindView(t, s, spec)
		want := Delta{}
		for _, row := range rows {
			if err := b.AccumulateRow(row, 1, want); err != nil {
				t.Fatal(err)
			}
		}
		q, err := b.WarehouseStateSQL(DialectPostgres, `"public"."facts"`)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got := Delta{}
		for res.Next() {
			raw := make([]*string, len(res.FieldDescriptions()))
			ptrs := make([]any, len(raw))
			for i := range raw {
				ptrs[i] = &raw[i]
			}
			if err := res.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			k, a, err := b.ParseWarehouseState(DialectPostgres, raw)
			if err != nil {
				t.Fatal(err)
			}
			got[k] = a
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		var diffs []string
		for k, wa := range want {
			w, wok := b.Result(k, wa)
			ga, ok := got[k]
			if !wok {
				continue
			}
			g, gok := b.Result(k, ga)
			switch {
			case !ok || !gok:
				diffs = append(diffs, fmt.Sprintf("group %q: missing in SQL", k))
			case ga.Count != wa.Count || !b.RowsEqual(g, w):
				diffs = append(diffs, fmt.Sprintf("group %q: Go %d %v, SQL %d %v", k, wa.Count, w, ga.Count, g))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("group %q: only in SQL", k))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 0 {
			t.Errorf("view %s: %d differences:\n%s\nSQL: %s", spec.Name, len(diffs), strings.Join(diffs[:min(10, len(diffs))], "\n"), q)
		} else if len(want) == 0 && spec.Name != "nothing" {
			t.Errorf("view %s has no groups: the test proves nothing", spec.Name)
		}
	}
}
