package enginetest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/realtime/capture"
)

// ddlCase is one table of TestRebuildAcrossDDL and the DDL it meets.
type ddlCase struct {
	table   string
	history bool
	ddl     []string
	// reextract: the rebuild cannot carry the table across the DDL and
	// must extract it again (the manifest says so).
	reextract bool
	// view is the group-by and measures of the table's view (its columns
	// after the DDL).
	groupBy, measures []string
}

var ddlCases = []ddlCase{
	{table: "t_addnull", history: true, ddl: []string{"ALTER TABLE shop.t_addnull ADD COLUMN channel VARCHAR(16) NULL"},
		groupBy: []string{"channel"}, measures: []string{"count()", "sum(qty)"}},
	{table: "t_adddef", history: true,
		ddl:     []string{"ALTER TABLE shop.t_adddef ADD COLUMN channel VARCHAR(16) NOT NULL DEFAULT 'web' AFTER grp, ADD COLUMN score DECIMAL(6,2) NULL DEFAULT 1.50"},
		groupBy: []string{"channel", "grp"}, measures: []string{"count()", "sum(score)", "sum(amount)"}},
	{table: "t_drop", ddl: []string{"ALTER TABLE shop.t_drop DROP COLUMN note"},
		groupBy: []string{"grp"}, measures: []string{"count()", "sum(amount)"}},
	{table: "t_widen", history: true,
		ddl:     []string{"ALTER TABLE shop.t_widen MODIFY qty BIGINT NULL, MODIFY note VARCHAR(64) NULL, MODIFY amount DECIMAL(14,3) NULL"},
		groupBy: []string{"grp"}, measures: []string{"count()", "sum(qty)", "sum(amount)"}},
	{table: "t_nopk", ddl: []string{"ALTER TABLE shop.t_nopk ADD COLUMN channel VARCHAR(16) NOT NULL DEFAULT 'web', MODIFY qty BIGINT NULL"},
		groupBy: []string{"channel"}, measures: []string{"count()", "sum(qty)"}},
	{table: "t_len", ddl: []string{"ALTER TABLE shop.t_len MODIFY note VARCHAR(40) NULL"},
		groupBy: []string{"note"}, measures: []string{"count()"}},
	{table: "t_rename", history: true, reextract: true, ddl: []string{"ALTER TABLE shop.t_rename RENAME COLUMN note TO remark"},
		groupBy: []string{"remark"}, measures: []string{"count()", "sum(qty)"}},
	{table: "t_narrow", reextract: true, ddl: []string{"ALTER TABLE shop.t_narrow MODIFY qty SMALLINT NULL"},
		groupBy: []string{"grp"}, measures: []string{"count()", "sum(qty)"}},
}

func (c ddlCase) id() formats.TableID { return formats.TableID{DB: "shop", Table: c.table} }

// TestRebuildAcrossDDL: after ADD COLUMN (NULL, and NOT NULL with a
// DEFAULT), DROP COLUMN, MODIFY to wider types, RENAME COLUMN, a narrowing
// MODIFY, an ADD COLUMN whose DEFAULT changed again later, a table without
// a primary key, and a table new
// to the batch, a rebuild rolling the previous generation forward succeeds
// on its own: derivable changes are rolled forward, the others re-extract
// their table alone. Every table read by DuckDB equals the source, every
// view equals the source's answer to the view's verify SQL, every history
// is exact at the cut; and the next rebuild rolls the result forward.
func TestRebuildAcrossDDL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := stack.MariaDB(t)
	src := m.DB(t, "")
	m.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.heartbeat (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)",
		"INSERT INTO shop.heartbeat VALUES (1, NOW(6))")
	tables := append(slices.Clone(ddlCases), ddlCase{table: "t_setdef", reextract: true,
		ddl:     []string{"ALTER TABLE shop.t_setdef ADD COLUMN channel VARCHAR(16) NOT NULL DEFAULT 'web'"},
		groupBy: []string{"channel"}, measures: []string{"count()", "sum(qty)"}})
	for _, c := range tables {
		pk := "PRIMARY KEY"
		if c.table == "t_nopk" {
			pk = "" // rolled forward per whole row
		}
		m.Exec(t, fmt.Sprintf(`CREATE TABLE shop.%s (id BIGINT %s, grp VARCHAR(8) NOT NULL, qty INT NULL,
			amount DECIMAL(10,2) NULL, note VARCHAR(16) NULL, created_at DATETIME(6) NOT NULL)`, c.table, pk))
	}
	write := func(from, to int, updates, deletes []int) {
		t.Helper()
		for _, c := range tables {
			var stmts []string
			for id := from; id < to; id++ {
				stmts = append(stmts, fmt.Sprintf("INSERT INTO shop.%s (id, grp, qty, amount, note, created_at) VALUES (%d, 'g%d', %d, %d.%02d, 'n%d', '2024-05-%02d 10:00:00.123456')",
					c.table, id, id%3, id*7%50, id*13%1000, id%100, id%5, id%28+1))
			}
			for _, id := range updates {
				stmts = append(stmts, fmt.Sprintf("UPDATE shop.%s SET qty = qty + 1, amount = amount * 2, note = 'u%d' WHERE id = %d", c.table, id, id))
			}
			for _, id := range deletes {
				stmts = append(stmts, fmt.Sprintf("DELETE FROM shop.%s WHERE id = %d", c.table, id))
			}
			m.Exec(t, stmts...)
		}
	}
	write(1, 41, nil, nil)

	capt, err := capture.New(capture.Config{Flavor: capture.FlavorMariaDB, Host: m.Host, Port: m.Port,
		User: m.User, Password: m.Password, ServerID: 4243, Databases: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Close()
	dir := t.TempDir()
	store, _ := lake.OpenDir(dir)
	logs := &lockedBuffer{}
	options := func(cases []ddlCase, after bool) batch.Options {
		o := batch.Options{SourceName: "shop", ArchiveWait: time.Minute,
			Logger: slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelInfo}))}
		for _, c := range cases {
			bt := batch.Table{ID: c.id(), History: c.history}
			if c.table == "t_adddef" {
				bt.Partition = []string{"grp"}
			}
			o.Tables = append(o.Tables, bt)
			spec := formats.ViewSpec{Name: "v_" + c.table, From: c.id().String(), GroupBy: []string{"grp"}, Measures: []string{"count()", "sum(qty)"}}
			if after {
				spec.GroupBy, spec.Measures = c.groupBy, c.measures
			}
			v, err := formats.ParseView(spec)
			if err != nil {
				t.Fatal(err)
			}
			o.Views = append(o.Views, v)
		}
		return o
	}
	bsrc := serving.BatchSource{C: capt}
	gen0, err := batch.Rebuild(ctx, store, bsrc, options(tables, false))
	if err != nil {
		t.Fatal(err)
	}
	p0, _ := gen0.CutPosition()
	arch, err := changelog.NewArchiver(store, changelog.Options{Source: "shop", SegmentSeconds: 1, Start: p0})
	if err != nil {
		t.Fatal(err)
	}
	txns := make(chan *formats.Txn, 64)
	streamErr, archErr := make(chan error, 1), make(chan error, 1)
	go func() { streamErr <- capt.Stream(ctx, p0, txns) }()
	go func() { archErr <- arch.Run(ctx, txns) }()

	// seal waits until the archive has sealed every change written so far.
	seal := func() {
		t.Helper()
		end, err := capt.CurrentPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			time.Sleep(300 * time.Millisecond)
			m.Exec(t, "UPDATE shop.heartbeat SET at = NOW(6) WHERE id = 1")
			pos, _, err := arch.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if pos.Compare(end) >= 0 {
				return
			}
			select {
			case err := <-streamErr:
				t.Fatalf("capture stopped: %v", err)
			case err := <-archErr:
				t.Fatalf("archiver stopped: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("the archive did not seal past %s (checkpoint %s)", end, pos)
			}
		}
	}
	// rebuild runs a rebuild with a heartbeat beating beside it, as a
	// running speed layer's idle segments would: an extract waits for a
	// sealed segment past it.
	rebuild := func(o batch.Options) *batch.Generation {
		t.Helper()
		hctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for hctx.Err() == nil {
				src.ExecContext(hctx, "UPDATE shop.heartbeat SET at = NOW(6) WHERE id = 1")
				time.Sleep(200 * time.Millisecond)
			}
		}()
		g, err := batch.Rebuild(ctx, store, bsrc, o)
		stop()
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		return g
	}

	write(41, 51, []int{1, 2, 3}, []int{4})
	seal()
	gen1 := rebuild(options(tables, false))
	if gen1.Base != "generation 0" {
		t.Fatalf("generation 1: base %q", gen1.Base)
	}

	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	compareWithSource(t, duck, dir, gen1, src)
	// The history of t_adddef at generation 1's cut, for later.
	var adddef1 []formats.Row
	for _, ts := range gen1.Tables {
		if ts.Table == "shop.t_adddef" {
			s, _ := ts.Schema()
			adddef1 = duckRows(t, duck, s, fmt.Sprintf("SELECT %s FROM read_parquet('%s/%s/**/*.parquet', hive_partitioning = true)",
				quotedColumns(s.Columns), dir, ts.Prefix))
		}
	}

	// Changes before the DDL, the DDL, changes after it.
	write(51, 61, []int{5, 6, 41}, []int{7, 42})
	for _, c := range tables {
		m.Exec(t, c.ddl...)
	}
	for _, c := range tables {
		var stmts []string
		for id := 61; id < 71; id++ {
			stmts = append(stmts, fmt.Sprintf("INSERT INTO shop.%s (id, grp, qty, amount, created_at) VALUES (%d, 'g%d', %d, %d.25, '2024-06-01 00:00:00')",
				c.table, id, id%3, id%20, id))
		}
		stmts = append(stmts, fmt.Sprintf("UPDATE shop.%s SET qty = qty + 3 WHERE id IN (8, 9, 43)", c.table),
			fmt.Sprintf("DELETE FROM shop.%s WHERE id IN (10, 44)", c.table))
		switch c.table {
		case "t_addnull", "t_adddef", "t_setdef", "t_nopk":
			stmts = append(stmts, fmt.Sprintf("UPDATE shop.%s SET channel = 'app' WHERE id IN (11, 61, 62)", c.table))
		case "t_rename":
			stmts = append(stmts, "UPDATE shop.t_rename SET remark = 'r' WHERE id IN (11, 61)")
		case "t_len":
			stmts = append(stmts, "UPDATE shop.t_len SET note = 'a note longer than sixteen' WHERE id IN (12, 62)")
		case "t_widen":
			stmts = append(stmts, "UPDATE shop.t_widen SET qty = 5000000000, note = 'a note longer than sixteen', amount = 12345678901.125 WHERE id IN (11, 61)")
		}
		m.Exec(t, stmts...)
	}
	// t_setdef's default changes after its first change under the new
	// column: information_schema no longer says what older rows got.
	time.Sleep(1100 * time.Millisecond)
	m.Exec(t, "ALTER TABLE shop.t_setdef ALTER COLUMN channel SET DEFAULT 'app'",
		"INSERT INTO shop.t_setdef (id, grp, qty, created_at) VALUES (99, 'g0', 1, '2024-06-02 00:00:00')")
	// A table new to the batch, with rows from before and after the cut
	// of generation 1.
	m.Exec(t, "CREATE TABLE shop.t_new (id INT PRIMARY KEY, grp VARCHAR(8) NOT NULL, qty INT NULL)",
		"INSERT INTO shop.t_new VALUES (1, 'a', 1), (2, 'b', 2), (3, 'a', NULL)",
		"UPDATE shop.t_new SET qty = 7 WHERE id = 2")
	seal()

	all := append(slices.Clone(tables), ddlCase{table: "t_new", reextract: true, groupBy: []string{"grp"}, measures: []string{"count()", "sum(qty)"}})
	o2 := options(all, true)
	gen2 := rebuild(o2)
	if gen2.Base != "generation 1" {
		t.Fatalf("generation 2: base %q, want generation 1 rolled forward", gen2.Base)
	}
	for _, c := range all {
		var ts *batch.TableSnapshot
		for i := range gen2.Tables {
			if gen2.Tables[i].Table == c.id().String() {
				ts = &gen2.Tables[i]
			}
		}
		if ts == nil {
			t.Fatalf("generation 2 has no table %s", c.id())
		}
		if got := strings.HasPrefix(ts.Base, "source at "); got != c.reextract {
			t.Errorf("%s: base %q; re-extracted %v, want %v", c.table, ts.Base, got, c.reextract)
		}
	}
	for _, want := range []string{"table shop.t_rename re-extracted after DDL at ", "RENAME COLUMN",
		"table shop.t_new re-extracted as a table new to the batch layer", "history=shop.t_rename event=HistoryRestarted",
		`event=TableSchemaEvolved table=shop.t_adddef`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the rebuild's log does not say %q", want)
		}
	}
	checkAgainstSource(t, duck, dir, gen2, src, o2)
	for _, c := range all {
		if !c.history {
			continue
		}
		want := sourceRows(t, src, c.id())
		cuts, wants := []string{gen2.Cut}, [][]formats.Row{want}
		if c.table == "t_adddef" {
			// Versions from before the ADD COLUMN hold its default.
			var old []formats.Row
			for _, r := range adddef1 {
				old = append(old, slices.Concat(r[:2], formats.Row{"web"}, r[2:], formats.Row{formats.Decimal("1.50")}))
			}
			cuts, wants = append(cuts, gen1.Cut), append(wants, old)
		}
		checkHistoryWithDuckDB(t, duck, dir, gen2, c.id().String(), cuts, wants)
	}

	// The next rebuild rolls the carried generation forward, nothing
	// re-extracted.
	for _, c := range all {
		m.Exec(t, fmt.Sprintf("UPDATE shop.%s SET qty = 1 WHERE id IN (1, 61)", c.table),
			fmt.Sprintf("DELETE FROM shop.%s WHERE id = 2", c.table))
	}
	seal()
	gen3 := rebuild(options(all, true))
	for _, ts := range gen3.Tables {
		if ts.Base != "" {
			t.Errorf("generation 3 %s: base %q, want generation 2 rolled forward", ts.Table, ts.Base)
		}
	}
	checkAgainstSource(t, duck, dir, gen3, src, options(all, true))
	cancel()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// sourceRows reads a table's rows from the source.
func sourceRows(t *testing.T, src *sql.DB, id formats.TableID) []formats.Row {
	t.Helper()
	var rows []formats.Row
	if _, err := (sqlSource{src}).Snapshot(context.Background(), []formats.TableID{id}, func(_ context.Context, _ *formats.TableSchema, r formats.Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkAgainstSource: every table of gen has the source's columns and rows
// (DuckDB), and every view the rows the source answers to its verify SQL
// (what `tidemark verify` runs).
func checkAgainstSource(t *testing.T, duck *sql.DB, dir string, gen *batch.Generation, src *sql.DB, o batch.Options) {
	t.Helper()
	ctx := context.Background()
	compareWithSource(t, duck, dir, gen, src)
	schemas := map[formats.TableID]*formats.TableSchema{}
	for _, ts := range gen.Tables {
		s, err := ts.Schema()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := src.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tableSchema(ctx, conn, s.Table)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		var gc, wc []string
		for _, c := range s.Columns {
			gc = append(gc, c.Name+" "+c.Type.String())
		}
		for _, c := range want.Columns {
			wc = append(wc, c.Name+" "+c.Type.String())
		}
		if !slices.Equal(gc, wc) {
			t.Fatalf("generation %d %s: columns %v, the source has %v", gen.Generation, ts.Table, gc, wc)
		}
		schemas[s.Table] = s
	}
	views := map[string]*batch.ViewSnapshot{}
	for i := range gen.Views {
		views[gen.Views[i].View] = &gen.Views[i]
	}
	for _, v := range o.Views {
		vs := views[v.Name]
		if vs == nil {
			t.Fatalf("generation %d has no view %s", gen.Generation, v.Name)
		}
		bv, err := v.Bind(schemas[v.From])
		if err != nil {
			t.Fatal(err)
		}
		rows, err := src.QueryContext(ctx, bv.VerifySQL())
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var want []formats.Row
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
				if r != nil {
					vals[i] = append([]byte{}, r...)
				}
			}
			_, row, err := bv.ParseVerifyRow(vals)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, row)
		}
		rows.Close()
		vsch := &formats.TableSchema{}
		for _, c := range vs.Columns {
			typ, err := formats.ParseColumnType(c.Type)
			if err != nil {
				t.Fatal(err)
			}
			vsch.Columns = append(vsch.Columns, formats.Column{Name: c.Name, Type: typ, Nullable: true})
		}
		var got []formats.Row
		if len(vs.Files) > 0 {
			got = duckRows(t, duck, vsch, fmt.Sprintf("SELECT %s FROM read_parquet('%s/%s/**/*.parquet')", quotedColumns(vsch.Columns), dir, vs.Prefix))
		}
		if gs, ws := rowSums(vsch, got), rowSums(vsch, want); !slices.Equal(gs, ws) || len(ws) == 0 {
			t.Fatalf("generation %d view %s: the lake has\n%s\nthe source's verify SQL answers\n%s", gen.Generation, v.Name,
				strings.Join(gs, "\n"), strings.Join(ws, "\n"))
		}
		t.Logf("generation %d view %s: %d groups equal the source's", gen.Generation, v.Name, len(got))
	}
}
