package redshift

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
)

// generation builds generation g of shop.alltypes (n rows) and a small
// aggregate view, written to the lake as the batch layer writes them.
func generation(t *testing.T, e *env, g uint64, cols []formats.Column, rows []formats.Row, withView bool) *warehouse.Generation {
	t.Helper()
	gen := &warehouse.Generation{Number: g, Cut: "mariadb-bin.000042:" + itoa(1000+g) + ":0@0-1-" + itoa(g), GTID: "0-1-" + itoa(g),
		CutTime: time.Date(2026, 12, 7, 22, 0, int(g), 250000000, time.UTC)}
	gen.Tables = append(gen.Tables, writeTable(t, e.store, "shop.alltypes", warehouse.KindTable, cols, cols, []int{0}, rows,
		"tables/shop/alltypes/gen="+itoa(g)))
	if withView {
		vcols := viewColumns(t)
		gen.Tables = append(gen.Tables, writeTable(t, e.store, "types_by_color", warehouse.KindView, vcols, vcols, nil, viewRows(),
			"views/types_by_color/gen="+itoa(g)))
	}
	return gen
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func viewColumns(t *testing.T) []formats.Column {
	var cols []formats.Column
	for _, s := range []struct{ name, typ string }{{"en", "enum('red','green','blue')"}, {"count", "bigint"}, {"sum_biu", "decimal(40,0)"}, {"sum_dc", "decimal(38,6)"}} {
		typ, err := formats.ParseColumnType(s.typ)
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, formats.Column{Name: s.name, Type: typ, Nullable: s.name != "count"})
	}
	return cols
}

func viewRows() []formats.Row {
	return []formats.Row{
		{"blue", int64(3), formats.Decimal("36893488147419103230"), formats.Decimal("-0.000001")},
		{"red", int64(1), nil, formats.Decimal("12345.500000")},
		{nil, int64(2), formats.Decimal("1"), nil},
	}
}

func TestLoadAllTypesEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := e.loader(t, Options{Keys: map[string]Keys{"shop.alltypes": {SortKeys: []string{"grp", "id"}, DistKey: "id"}}})
	defer l.Close()
	c := e.conn(t)
	cols := allTypesColumns(t)

	if _, err := l.Current(ctx); !errors.Is(err, warehouse.ErrNotLoaded) {
		t.Fatalf("Current before any load: %v, want ErrNotLoaded", err)
	}
	if errs := l.Check(ctx); len(errs) != 0 {
		t.Fatalf("Check: %v", errs)
	}

	rows1 := allTypesRows(t, cols, 1, 200, 1)
	g1 := generation(t, e, 1, cols, rows1, true)
	p, err := l.Prepare(ctx, g1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Reused || p.Rows != 203 {
		t.Fatalf("Prepare: %+v, want 203 rows copied", p)
	}
	// The manifest lists exactly the generation's files with their sizes.
	var m Manifest
	b, err := lake.ReadAll(ctx, e.store, "_warehouse/rs/gen=1/shop_alltypes.manifest")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != len(g1.Tables[0].Files) || len(m.Entries) < 3 {
		t.Fatalf("manifest has %d entries, the table %d files (want several)", len(m.Entries), len(g1.Tables[0].Files))
	}
	for i, en := range m.Entries {
		f := g1.Tables[0].Files[i]
		if en.URL != "s3://lake/tm/"+f.Key || en.Meta.ContentLength != f.Bytes || !en.Mandatory {
			t.Errorf("manifest entry %d = %+v, want %s with %d bytes, mandatory", i, en, f.Key, f.Bytes)
		}
	}
	// Nothing a reader sees changed yet.
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.views WHERE table_schema = 'tidemark'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("views before the swap: %d (%v), want none", n, err)
	}
	if swapped, err := l.Swap(ctx, g1, 0); err != nil || !swapped {
		t.Fatalf("Swap of generation 1: %t, %v", swapped, err)
	}
	checkRows(t, "generation 1 shop_alltypes", cols, readView(t, c, "tidemark", "shop_alltypes", cols), rows1)
	checkRows(t, "generation 1 types_by_color", viewColumns(t), readView(t, c, "tidemark", "types_by_color", viewColumns(t)), sortedViewRows())
	cur, err := l.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Generation != 1 || cur.Cut != g1.Cut || cur.GTID != g1.GTID || !cur.CutTime.Equal(g1.CutTime) ||
		cur.Rows["shop_alltypes"] != 200 || cur.Rows["types_by_color"] != 3 || time.Since(cur.LoadedAt) > time.Hour {
		t.Fatalf("control row %+v does not describe generation 1", cur)
	}

	checkComputedViews(t, l, cols, rows1, 1)

	// A replay is a no-op; a second Prepare of it reuses.
	if p, err := l.Prepare(ctx, g1); err != nil || !p.Reused {
		t.Fatalf("Prepare replay: %+v, %v", p, err)
	}
	if swapped, err := l.Swap(ctx, g1, 0); err != nil || swapped {
		t.Fatalf("Swap replay: %t, %v, want a no-op", swapped, err)
	}

	// Generation 2: column mt dropped, the view gone, other rows.
	cols2 := slices.DeleteFunc(slices.Clone(cols), func(c formats.Column) bool { return c.Name == "mt" })
	rows2 := allTypesRows(t, cols2, 500, 120, 2)
	g2 := generation(t, e, 2, cols2, rows2, false)
	if _, err := l.Prepare(ctx, g2); err != nil {
		t.Fatal(err)
	}
	if swapped, err := l.Swap(ctx, g2, 5); err != nil || !swapped {
		t.Fatalf("Swap of generation 2: %t, %v", swapped, err)
	}
	checkRows(t, "generation 2 shop_alltypes", cols2, readView(t, c, "tidemark", "shop_alltypes", cols2), rows2)
	if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.views WHERE table_schema = 'tidemark' AND table_name = 'types_by_color'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the view generation 2 lacks is still there (%d, %v)", n, err)
	}

	// Older generation, lower fence: refused, nothing changed.
	if _, err := l.Swap(ctx, g1, 0); !errors.Is(err, warehouse.ErrStale) {
		t.Fatalf("Swap back to generation 1: %v, want ErrStale", err)
	}
	g3 := generation(t, e, 3, cols2, rows2[:10], false)
	if _, err := l.Prepare(ctx, g3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Swap(ctx, g3, 4); !errors.Is(err, warehouse.ErrFenced) {
		t.Fatalf("Swap with fence 4 after 5: %v, want ErrFenced", err)
	}
	if cur, err := l.Current(ctx); err != nil || cur.Generation != 2 || cur.Fence != 5 {
		t.Fatalf("after refusals: %+v, %v, want generation 2 fence 5", cur, err)
	}
	// The guard inside the swap refuses on its own, when the pre-check
	// is passed by (another loader swapped meanwhile).
	plan, err := SwapSQL(Swap{Schema: "tidemark", GenSchema: "tidemark_gen", Control: warehouse.ControlTable, Generation: 2,
		LoadedAt: time.Now(), Tables: []SwapTable{{Name: "shop_alltypes", GenTable: warehouse.GenTable("shop_alltypes", 1), Columns: []string{"id"}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.api.Batch(ctx, plan.Batch)
	var se *StatementError
	if !errors.As(err, &se) || se.Index != 1 || !strings.Contains(se.Message, "generation 2 or a newer one") {
		t.Fatalf("a stale swap batch: %v, want the guard (statement 1) to fail it", err)
	}
	checkRows(t, "generation 2 after a refused swap", cols2, readView(t, c, "tidemark", "shop_alltypes", cols2), rows2)

	if swapped, err := l.Swap(ctx, g3, 6); err != nil || !swapped {
		t.Fatalf("Swap of generation 3: %t, %v", swapped, err)
	}
	if err := l.DropOld(ctx, 2); err != nil {
		t.Fatal(err)
	}
	names, err := l.GenTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{warehouse.GenTable("shop_alltypes", 2), warehouse.GenTable("shop_alltypes", 3)}
	if !slices.Equal(names, want) {
		t.Fatalf("per-generation tables after DropOld(2): %v, want %v", names, want)
	}
	if _, err := e.store.Get(ctx, "_warehouse/rs/gen=1/shop_alltypes.manifest"); err == nil {
		t.Error("generation 1's manifest survived its tables")
	}
	if _, err := e.store.Get(ctx, "_warehouse/rs/gen=3/shop_alltypes.manifest"); err != nil {
		t.Errorf("the loaded generation's manifest is gone: %v", err)
	}
	checkRows(t, "generation 3 shop_alltypes", cols2, readView(t, c, "tidemark", "shop_alltypes", cols2), rows2[:10])
}

// checkComputedViews computes views of generation g in the stand-in with
// the Redshift SQL of the view language and holds them against the local
// engine.
func checkComputedViews(t *testing.T, l *Loader, cols []formats.Column, rows []formats.Row, g uint64) {
	t.Helper()
	s := &formats.TableSchema{Table: formats.TableID{DB: "shop", Table: "alltypes"}, Columns: cols, PK: []int{0}}
	for _, spec := range []formats.ViewSpec{
		{Name: "types_by_color", From: "shop.alltypes", GroupBy: []string{"en", "grp"},
			Measures: []string{"count()", "sum(biu)", "sum(bi)", "sum(d)", "sum(f)", "avg(dc)", "count(js)", "sum(iu)", "avg(i)", "avg(biu)"}},
		{Name: "by_time", From: "shop.alltypes", Where: "vc <> 'hello' OR dc > 0 OR ts < '2030-01-01' OR tm > '00:00:00'",
			GroupBy: []string{"day(ts)", "year(dt)", "truncate(3, vc)", "hour(dtm6)", "truncate(100, ti)"}, Measures: []string{"count()", "sum(dc)", "avg(tiu)"}},
		{Name: "raw", From: "shop.alltypes", GroupBy: []string{"dtm", "tm", "biu", "dc", "c", "st"}, Measures: []string{"count()"}},
	} {
		v, err := formats.ParseView(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, err := v.Bind(s)
		if err != nil {
			t.Fatal(err)
		}
		d := formats.Delta{}
		for _, r := range rows {
			if err := b.AccumulateRow(r, 1, d); err != nil {
				t.Fatal(err)
			}
		}
		got, err := l.ComputeView(context.Background(), b, g)
		if err != nil {
			t.Fatalf("view %s: %v", spec.Name, err)
		}
		n := 0
		for k, a := range d {
			want, ok := b.Result(k, a)
			if !ok {
				continue
			}
			n++
			if !b.RowsEqual(got[k], want) {
				t.Errorf("view %s group %q: Redshift SQL %v, local %v", spec.Name, k, got[k], want)
			}
		}
		if n != len(got) || n == 0 {
			t.Errorf("view %s: %d groups computed in the warehouse, %d locally", spec.Name, len(got), n)
		}
		// The aggregate states batch.engine redshift publishes.
		states, err := l.ComputeViewState(context.Background(), b, g)
		if err != nil {
			t.Fatalf("view %s states: %v", spec.Name, err)
		}
		for k, a := range d {
			want, ok := b.Result(k, a)
			if !ok {
				continue
			}
			if got, ok := b.Result(k, states[k]); !ok || states[k].Count != a.Count || !b.RowsEqual(got, want) {
				t.Errorf("view %s group %q: Redshift state SQL %v, local %v", spec.Name, k, got, want)
			}
		}
		if len(states) != n {
			t.Errorf("view %s: %d group states computed in the warehouse, %d locally", spec.Name, len(states), n)
		}
	}
}

func sortedViewRows() []formats.Row {
	rows := viewRows()
	// ORDER BY 1 on the view: en as text, NULL last.
	slices.SortFunc(rows, func(a, b formats.Row) int {
		switch {
		case a[0] == nil:
			return 1
		case b[0] == nil:
			return -1
		}
		return strings.Compare(a[0].(string), b[0].(string))
	})
	return rows
}

// A type-mapping mistake (here: a table typed BIGINT over files holding
// BIGINT UNSIGNED, and text longer than the column) fails the COPY in the
// stand-in as it would on Redshift, rolled back and reported with the
// statement and sys_load_error_detail's rows.
func TestCopyRulesCatchMappingMistakes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := e.loader(t, Options{})
	defer l.Close()
	typ := func(s string) formats.Type {
		ty, err := formats.ParseColumnType(s)
		if err != nil {
			t.Fatal(err)
		}
		return ty
	}
	fileCols := []formats.Column{{Name: "id", Type: typ("bigint")}, {Name: "u", Type: typ("bigint unsigned"), Nullable: true}}
	rows := []formats.Row{{int64(1), uint64(18446744073709551615)}, {int64(2), nil}}

	// Declared BIGINT, the file has DECIMAL(20,0): incompatible schema.
	wrong := []formats.Column{fileCols[0], {Name: "u", Type: typ("bigint"), Nullable: true}}
	g := &warehouse.Generation{Number: 1, Cut: "f:1:0"}
	g.Tables = []warehouse.Table{writeTable(t, e.store, "shop.u", warehouse.KindTable, fileCols, wrong, []int{0}, rows, "tables/shop/u/gen=1")}
	_, err := l.Prepare(ctx, g)
	var se *StatementError
	if !errors.As(err, &se) || !isCopy(se.SQL) || !strings.Contains(se.Message, "incompatible Parquet schema") {
		t.Fatalf("loading DECIMAL(20,0) into BIGINT: %v, want COPY's incompatible-schema error", err)
	}
	// Column count differs.
	g.Tables = []warehouse.Table{writeTable(t, e.store, "shop.u", warehouse.KindTable, fileCols, fileCols[:1], []int{0}, rows, "tables/shop/u2/gen=1")}
	if _, err := l.Prepare(ctx, g); !errors.As(err, &se) || !strings.Contains(se.Message, "Unmatched number of columns") {
		t.Fatalf("one column declared, two in the file: %v", err)
	}
	// Declared varchar(2) (8 bytes), the file holds 10 bytes: a value
	// error with its sys_load_error_detail row.
	sCols := []formats.Column{fileCols[0], {Name: "s", Type: typ("varchar(64)"), Nullable: true}}
	short := []formats.Column{fileCols[0], {Name: "s", Type: typ("varchar(2)"), Nullable: true}}
	g.Tables = []warehouse.Table{writeTable(t, e.store, "shop.s", warehouse.KindTable, sCols, short, []int{0}, []formats.Row{{int64(1), "ok"}, {int64(2), "ten bytes!"}}, "tables/shop/s/gen=1")}
	_, err = l.Prepare(ctx, g)
	if !errors.As(err, &se) || len(se.LoadErrors) != 1 || se.LoadErrors[0].Column != "s" || se.LoadErrors[0].Line != 2 ||
		!strings.Contains(se.LoadErrors[0].Message, "exceeds DDL length") {
		t.Fatalf("a value over VARCHAR(8): %v, want the COPY's load error for column s line 2", err)
	}
	// None of the failed tables exists: each was one rolled-back batch.
	if names, err := l.GenTables(ctx); err != nil || len(names) != 0 {
		t.Fatalf("per-generation tables after failed COPYs: %v, %v", names, err)
	}
}

func TestPreflightRefusesLongValues(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := e.loader(t, Options{})
	defer l.Close()
	cols := allTypesColumns(t)
	rows := allTypesRows(t, cols, 1, 20, 3)
	js := slices.IndexFunc(cols, func(c formats.Column) bool { return c.Name == "js" })
	rows[13][js] = `{"k":"` + strings.Repeat("y", 70000) + `"}`
	g := generation(t, e, 1, cols, rows, false)
	_, err := l.Prepare(ctx, g)
	if !errors.Is(err, ErrValueTooLong) || !strings.Contains(err.Error(), "column js") || !strings.Contains(err.Error(), `id="14"`) {
		t.Fatalf("a 70,000-byte JSON value: %v, want ErrValueTooLong naming column js and id 14", err)
	}
	if n := e.fake.Calls("BatchExecuteStatement"); n != 0 {
		t.Fatalf("%d batches sent: the preflight must refuse before any COPY", n)
	}
}

func TestBatchRollbackAndRetry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A failing statement rolls its whole batch back and is reported.
	_, err := e.api.Batch(ctx, []string{"CREATE TABLE public.b (x BIGINT)", "INSERT INTO public.b VALUES (1)", "INSERT INTO public.nope VALUES (1)"})
	var se *StatementError
	if !errors.As(err, &se) || se.Index != 2 || se.SQL != "INSERT INTO public.nope VALUES (1)" || !strings.Contains(se.Message, "nope") || !errors.Is(err, ErrStatement) {
		t.Fatalf("batch with a failing third statement: %v", err)
	}
	if rows, err := e.api.Query(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'b'"); err != nil || rows[0][0] != int64(0) {
		t.Fatalf("the batch's first statement survived its failure: %v, %v", rows, err)
	}
	// Inside a batch, statements that would commit on Redshift are refused.
	if _, err := e.api.Batch(ctx, []string{"CREATE TABLE public.c (x BIGINT)", "TRUNCATE public.c"}); !errors.Is(err, ErrStatement) {
		t.Fatalf("TRUNCATE in a batch: %v", err)
	}

	// Statements run asynchronously: the client polled.
	if d, x := e.fake.Calls("DescribeStatement"), e.fake.Calls("ExecuteStatement")+e.fake.Calls("BatchExecuteStatement"); d <= x {
		t.Errorf("%d DescribeStatement calls for %d statements: the client did not poll", d, x)
	}

	// 1023 is retried with backoff.
	r := Retrying(e.api, RetryOptions{Attempts: 4, Backoff: 5 * time.Millisecond})
	e.fake.InjectSerializationFailures(2)
	before := e.fake.Calls("BatchExecuteStatement")
	if _, err := r.Batch(ctx, []string{"CREATE TABLE public.r (x BIGINT)", "INSERT INTO public.r VALUES (7)"}); err != nil {
		t.Fatalf("batch after two 1023s: %v", err)
	}
	if n := e.fake.Calls("BatchExecuteStatement") - before; n != 3 {
		t.Fatalf("%d attempts, want 3 (two aborted by 1023, one committed)", n)
	}
	if rows, err := r.Query(ctx, "SELECT x FROM public.r"); err != nil || len(rows) != 1 || rows[0][0] != int64(7) {
		t.Fatalf("rows of the retried batch: %v, %v", rows, err)
	}
	// Without retries the kind says what happened.
	e.fake.InjectSerializationFailures(1)
	if _, err := e.api.Exec(ctx, "INSERT INTO public.r VALUES (8)"); !errors.Is(err, ErrSerialization) {
		t.Fatalf("an injected 1023: %v, want ErrSerialization", err)
	}
	// Attempts are bounded.
	e.fake.InjectSerializationFailures(10)
	if _, err := r.Exec(ctx, "INSERT INTO public.r VALUES (9)"); !errors.Is(err, ErrSerialization) {
		t.Fatalf("1023 past the attempts: %v", err)
	}
	e.fake.InjectSerializationFailures(0)

	// A client signing with the wrong secret is refused.
	bad := e.client(t, "wrong-secret")
	if _, err := bad.Exec(ctx, "SELECT 1"); !errors.Is(err, ErrUnreachable) || e.fake.Refused() == 0 {
		t.Fatalf("a wrongly signed request: %v (refused %d)", err, e.fake.Refused())
	}
}

func TestCheckReportsMissingPieces(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := e.loader(t, Options{})
	l.o.IAMRole, l.o.LakeRoot = "", "file:///var/lib/tidemark/lake"
	errs := l.Check(ctx)
	var all []string
	for _, err := range errs {
		all = append(all, err.Error())
	}
	joined := strings.Join(all, "\n")
	if len(errs) != 2 || !strings.Contains(joined, "iam_role is not set") || !strings.Contains(joined, "only from S3") {
		t.Fatalf("Check without a role and with a local lake: %q", joined)
	}
	// A role the cluster may not assume: the check COPY says so.
	l.o.IAMRole, l.o.LakeRoot = "arn:aws:iam::123456789012:role/not-attached", e.root
	if errs := l.Check(ctx); len(errs) != 1 || !strings.Contains(errs[0].Error(), "not authorized to assume IAM Role") || !strings.Contains(errs[0].Error(), "attach the role") {
		t.Fatalf("Check with a role the cluster cannot assume: %v", errs)
	}
	if objs, err := e.store.List(ctx, "_warehouse/rs/check"); err != nil || len(objs) != 0 {
		t.Fatalf("the check left %v in the lake (%v)", objs, err)
	}
	e.fake.Close()
	if errs := l.Check(ctx); len(errs) != 1 || !strings.Contains(errs[0].Error(), "reaching Redshift") {
		t.Fatalf("Check with the service down: %v", errs)
	}
}

// Two loaders preparing and swapping the same generation at once both
// succeed, and the target ends with it loaded once.
func TestConcurrentLoaders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cols := allTypesColumns(t)[:12]
	rows := allTypesRows(t, cols, 1, 50, 9)
	g := generation(t, e, 1, cols, rows, true)
	errs := make(chan error, 2)
	swaps := make(chan bool, 2)
	for range 2 {
		l := e.loader(t, Options{})
		defer l.Close()
		go func() {
			if _, err := l.Prepare(ctx, g); err != nil {
				errs <- err
				return
			}
			swapped, err := l.Swap(ctx, g, 0)
			swaps <- swapped
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if a, b := <-swaps, <-swaps; a == b {
		t.Fatalf("swapped %t and %t: want exactly one swap and one replay", a, b)
	}
	rs, err := e.api.Query(ctx, `SELECT COUNT(*) FROM "tidemark"."tidemark_generations"`)
	if err != nil || rs[0][0] != int64(1) {
		t.Fatalf("control rows: %v, %v, want one", rs, err)
	}
}

// A control table of an older version gains the newer columns, each by
// its own ALTER TABLE ADD COLUMN outside any transaction.
func TestControlTableGainsColumns(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.api.Batch(ctx, []string{`CREATE SCHEMA "old"`,
		`CREATE TABLE "old"."tidemark_generations" ("generation" BIGINT NOT NULL, "cut" VARCHAR(1024), "gtid" VARCHAR(65535), "cut_time" TIMESTAMPTZ, "loaded_at" TIMESTAMPTZ, "rows" VARCHAR(65535))`}); err != nil {
		t.Fatal(err)
	}
	l := e.loader(t, Options{Schema: "old"})
	defer l.Close()
	cols := allTypesColumns(t)[:3]
	g := generation(t, e, 1, cols, allTypesRows(t, cols, 1, 5, 4), false)
	if _, err := l.Prepare(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Swap(ctx, g, 7); err != nil {
		t.Fatal(err)
	}
	if cur, err := l.Current(ctx); err != nil || cur.Fence != 7 {
		t.Fatalf("Current after the upgrade: %+v, %v", cur, err)
	}
	want := AddColumnSQL("old", warehouse.ControlTable, "fence", "BIGINT")
	if !slices.Contains(e.fake.Executed(), want) {
		t.Fatalf("%q was not run", want)
	}
	for _, b := range e.fake.Batches() {
		for _, q := range b {
			if strings.Contains(q, "ADD COLUMN") {
				t.Fatalf("ADD COLUMN inside a batch (a transaction): %v", b)
			}
		}
	}
}

// A generation of more names than one batch holds swaps through a
// procedure CALLed inside the one transaction.
func TestSwapManyTables(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l := e.loader(t, Options{Schema: "many"})
	defer l.Close()
	c := e.conn(t)
	cols := allTypesColumns(t)[:2]
	gen := func(g uint64, n int) *warehouse.Generation {
		out := &warehouse.Generation{Number: g, Cut: "f:" + itoa(g) + ":0"}
		for i := range n {
			src := "shop.t" + itoa(uint64(i))
			out.Tables = append(out.Tables, writeTable(t, e.store, src, warehouse.KindTable, cols, cols, []int{0},
				allTypesRows(t, cols, 1, i%3+1, uint64(i)), "tables/shop/t"+itoa(uint64(i))+"/gen="+itoa(g)))
		}
		return out
	}
	for _, step := range []struct {
		g uint64
		n int
	}{{1, 45}, {2, 44}} {
		g := gen(step.g, step.n)
		if _, err := l.Prepare(ctx, g); err != nil {
			t.Fatal(err)
		}
		if swapped, err := l.Swap(ctx, g, 0); err != nil || !swapped {
			t.Fatalf("Swap of %d tables: %t, %v", step.n, swapped, err)
		}
		var views int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.views WHERE table_schema = 'many'").Scan(&views); err != nil || views != step.n {
			t.Fatalf("generation %d: %d views (%v), want %d", step.g, views, err, step.n)
		}
		for i := range step.n {
			var rows int
			if err := c.QueryRow(ctx, "SELECT count(*) FROM many.shop_t"+itoa(uint64(i))).Scan(&rows); err != nil || rows != i%3+1 {
				t.Fatalf("generation %d shop_t%d: %d rows (%v), want %d", step.g, i, rows, err, i%3+1)
			}
		}
		var procs int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'tidemark_swap%'").Scan(&procs); err != nil || procs != 0 {
			t.Fatalf("%d swap procedures left (%v)", procs, err)
		}
	}
	if swapped, err := l.Swap(ctx, gen(2, 44), 0); err != nil || swapped {
		t.Fatalf("replay of a many-table swap: %t, %v", swapped, err)
	}
	calls := 0
	for _, b := range e.fake.Batches() {
		if len(b) <= MaxBatchStatements && slices.ContainsFunc(b, func(q string) bool { return strings.HasPrefix(q, "CALL ") }) {
			calls++
		}
	}
	if calls != 2 {
		t.Fatalf("%d swap batches CALLed a procedure, want 2", calls)
	}
}
