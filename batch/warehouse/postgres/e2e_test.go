package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/internal/workload"
	"github.com/tidemark/tidemark/realtime/capture"
)

// pipeline is a MariaDB source captured and archived into a MinIO lake,
// with the batch options of the shop workload's tables and views.
type pipeline struct {
	m     *stack.MariaDBServer
	src   *sql.DB
	capt  *capture.Capture
	store lake.Store
	opts  batch.Options
	arch  *changelog.Archiver
	gen   *workload.Generator
	errs  chan error
}

func newPipeline(t *testing.T, ctx context.Context) *pipeline {
	t.Helper()
	p := &pipeline{m: stack.MariaDB(t), errs: make(chan error, 2)}
	p.src = p.m.DB(t, "")
	if err := workload.CreateSchema(ctx, p.src, "shop"); err != nil {
		t.Fatal(err)
	}
	p.m.Exec(t, "CREATE TABLE shop.heartbeat (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)",
		"INSERT INTO shop.heartbeat VALUES (1, NOW(6))")
	p.gen = workload.New(p.src, "shop", 17, 0)
	if err := p.gen.Seed(ctx, 30, 200); err != nil {
		t.Fatal(err)
	}
	capt, err := capture.New(capture.Config{Flavor: capture.FlavorMariaDB, Host: p.m.Host, Port: p.m.Port,
		User: p.m.User, Password: p.m.Password, ServerID: 4243, Databases: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { capt.Close() })
	p.capt = capt
	var specs []formats.ViewSpec
	if err := yaml.Unmarshal([]byte(workload.Views("shop")), &specs); err != nil {
		t.Fatal(err)
	}
	var vs []*formats.View
	for _, s := range specs {
		v, err := formats.ParseView(s)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	mio := stack.MinIO(t)
	p.store, err = lake.Open(ctx, "s3://"+mio.Bucket+"/tm", lake.S3Options{Endpoint: mio.Endpoint, Region: mio.Region,
		AccessKeyID: mio.AccessKey, SecretAccessKey: mio.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	p.opts = batch.Options{
		SourceName: "shop",
		Tables: []batch.Table{
			{ID: formats.TableID{DB: "shop", Table: "customers"}, Partition: []string{"country"}},
			{ID: formats.TableID{DB: "shop", Table: "orders"}, Partition: []string{"month(created_at) AS m"}, History: true},
			{ID: formats.TableID{DB: "shop", Table: "alltypes"}},
		},
		Views: vs, Codec: "zstd", RowGroupRows: 64,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	return p
}

// bootstrap writes generation 0 from the source and starts the archive
// after it.
func (p *pipeline) bootstrap(t *testing.T, ctx context.Context) *batch.Generation {
	t.Helper()
	gen0, err := batch.Rebuild(ctx, p.store, serving.BatchSource{C: p.capt}, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	p0, _ := gen0.CutPosition()
	p.arch, err = changelog.NewArchiver(p.store, changelog.Options{Source: "shop", SegmentSeconds: 1, Start: p0})
	if err != nil {
		t.Fatal(err)
	}
	txns := make(chan *formats.Txn, 64)
	go func() { p.errs <- p.capt.Stream(ctx, p0, txns) }()
	go func() { p.errs <- p.arch.Run(ctx, txns) }()
	return gen0
}

// rebuild waits for the archive to seal past the source's position, then
// rolls the previous generation forward.
func (p *pipeline) rebuild(t *testing.T, ctx context.Context) *batch.Generation {
	t.Helper()
	end, err := p.capt.CurrentPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		// A heartbeat opens a new segment, which seals the last one.
		p.m.Exec(t, "UPDATE shop.heartbeat SET at = NOW(6) WHERE id = 1")
		pos, _, err := p.arch.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pos.Compare(end) >= 0 {
			break
		}
		select {
		case err := <-p.errs:
			t.Fatalf("capture or archive stopped: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive did not seal past %s (checkpoint %s)", end, pos)
		}
	}
	g, err := batch.Rebuild(ctx, p.store, nil, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// sourceRows reads a table's rows from the source, as the snapshot does.
func sourceRows(t *testing.T, ctx context.Context, db *sql.DB, id formats.TableID, cols []warehouse.Column) []formats.Row {
	t.Helper()
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = formats.SelectExpr(formats.Column{Name: c.Name, Type: c.Type, Nullable: c.Nullable})
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(exprs, ", "), formats.QuoteIdent(id.DB), formats.QuoteIdent(id.Table)))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []formats.Row
	raw := make([]sql.RawBytes, len(cols))
	dst := make([]any, len(raw))
	for i := range raw {
		dst[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		r := make(formats.Row, len(cols))
		for i, c := range cols {
			if r[i], err = formats.FromText(c.Type, raw[i]); err != nil {
				t.Fatalf("%s.%s: %v", id, c.Name, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lakeRows reads a warehouse table's rows from its Parquet files.
func lakeRows(t *testing.T, ctx context.Context, store lake.Store, tbl *warehouse.Table) []formats.Row {
	t.Helper()
	var out []formats.Row
	err := warehouse.ReadTable(ctx, store, tbl, func(rec arrow.Record) error {
		for i := 0; i < int(rec.NumRows()); i++ {
			r := make(formats.Row, len(tbl.Columns))
			for j, c := range tbl.Columns {
				v, err := formats.ArrowValue(rec.Column(j), i, c.Type)
				if err != nil {
					return err
				}
				r[j] = v
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRows fails the test unless got and want hold the same rows (in any
// order), comparing counts and per-row checksums.
func sameRows(t *testing.T, what string, cols []warehouse.Column, got, want []formats.Row) {
	t.Helper()
	gs, ws := make([]string, len(got)), make([]string, len(want))
	for i, r := range got {
		gs[i] = canon(cols, r)
	}
	for i, r := range want {
		ws[i] = canon(cols, r)
	}
	slices.Sort(gs)
	slices.Sort(ws)
	if len(gs) != len(ws) {
		t.Fatalf("%s: PostgreSQL has %d rows, want %d", what, len(gs), len(ws))
	}
	for i := range gs {
		if gs[i] != ws[i] {
			t.Fatalf("%s: rows differ:\nPostgreSQL %s\nwant       %s", what, gs[i], ws[i])
		}
	}
}

// checkTarget compares every table, history and view PostgreSQL holds for
// generation g with the source (tables and views: the source is quiet at
// g's cut) and the lake (histories).
func checkTarget(t *testing.T, ctx context.Context, p *pipeline, c *pgx.Conn, schema string, g *warehouse.Generation) {
	t.Helper()
	var loaded int64
	if err := c.QueryRow(ctx, "SELECT max(generation) FROM "+ident(schema, warehouse.ControlTable)).Scan(&loaded); err != nil || uint64(loaded) != g.Number {
		t.Fatalf("the control table says generation %d (%v), want %d", loaded, err, g.Number)
	}
	kinds := map[warehouse.Kind]int{}
	for i := range g.Tables {
		tbl := &g.Tables[i]
		kinds[tbl.Kind]++
		got := pgRows(t, c, schema, tbl.Name, tbl.Columns, "")
		switch tbl.Kind {
		case warehouse.KindTable:
			id, _ := formats.ParseTableID(tbl.Source)
			sameRows(t, fmt.Sprintf("generation %d table %s", g.Number, tbl.Source), tbl.Columns, got, sourceRows(t, ctx, p.src, id, tbl.Columns))
		case warehouse.KindHistory:
			sameRows(t, fmt.Sprintf("generation %d history %s", g.Number, tbl.Source), tbl.Columns, got, lakeRows(t, ctx, p.store, tbl))
			if tbl.Rows == 0 {
				t.Fatalf("history %s is empty", tbl.Source)
			}
		case warehouse.KindView:
			checkView(t, ctx, p, tbl, got)
		}
		t.Logf("generation %d %s %s: %d rows equal", g.Number, tbl.Kind, tbl.Source, len(got))
	}
	if kinds[warehouse.KindTable] != 3 || kinds[warehouse.KindHistory] != 1 || kinds[warehouse.KindView] != 4 {
		t.Fatalf("generation %d loaded %v, want 3 tables, 1 history, 4 views", g.Number, kinds)
	}
}

// checkView holds a view table against verify's answer on the source.
func checkView(t *testing.T, ctx context.Context, p *pipeline, tbl *warehouse.Table, got []formats.Row) {
	t.Helper()
	var v *formats.View
	for _, x := range p.opts.Views {
		if x.Name == tbl.Source {
			if fresh, err := formats.ParseView(x.Spec()); err == nil {
				v = fresh
			}
		}
	}
	if v == nil {
		t.Fatalf("view %s is not configured", tbl.Source)
	}
	conn, err := p.src.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var cols []warehouse.Column
	s := tableSchemaOf(t, ctx, p.src, v.From)
	bv, err := v.Bind(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, oc := range bv.Columns() {
		cols = append(cols, warehouse.Column{Name: oc.Name, Type: oc.Type, Nullable: true})
	}
	rows, err := p.src.QueryContext(ctx, bv.VerifySQL())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[formats.GroupKey]formats.Row{}
	raw := make([]sql.RawBytes, len(cols))
	dst := make([]any, len(raw))
	for i := range raw {
		dst[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		bs := make([][]byte, len(raw))
		for i, r := range raw {
			if r != nil {
				bs[i] = slices.Clone([]byte(r))
			}
		}
		k, row, err := bv.ParseVerifyRow(bs)
		if err != nil {
			t.Fatal(err)
		}
		want[k] = row
	}
	nkeys := len(v.GroupBy)
	if len(got) != len(want) {
		t.Fatalf("view %s: PostgreSQL has %d groups, the source %d", v.Name, len(got), len(want))
	}
	for _, r := range got {
		k, err := bv.EncodeKey(r[:nkeys])
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[k]
		if !ok || !bv.RowsEqual(r, w) {
			t.Fatalf("view %s group %v: PostgreSQL %v, source %v", v.Name, r[:nkeys], r, w)
		}
	}
}

func tableSchemaOf(t *testing.T, ctx context.Context, db *sql.DB, id formats.TableID) *formats.TableSchema {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, id.DB, id.Table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	s := &formats.TableSchema{Table: id}
	for rows.Next() {
		var name, typ, null, key string
		if err := rows.Scan(&name, &typ, &null, &key); err != nil {
			t.Fatal(err)
		}
		ft, err := formats.ParseColumnType(typ)
		if err != nil {
			t.Fatal(err)
		}
		if key == "PRI" {
			s.PK = append(s.PK, len(s.Columns))
		}
		s.Columns = append(s.Columns, formats.Column{Name: name, Type: ft, Nullable: null == "YES"})
	}
	return s
}

// TestGenerationsEqualSource: after a workload over every type (NULLs,
// deletes, primary key moves) each generation rolled forward and loaded
// into PostgreSQL equals the source at its cut; the history equals the
// archive's versions, the views verify's answer. Then a column added on
// the source reaches PostgreSQL with the next generation.
func TestGenerationsEqualSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB, MinIO and PostgreSQL")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newPipeline(t, ctx)
	pg := stack.Postgres(t)
	l := openLoader(t, pg, p.store, "tidemark")
	r := warehouse.NewRunner(p.store, []warehouse.Target{{Name: "pg", Kind: "postgres", Loader: l}}, warehouse.RunnerOptions{Keep: 2})
	c := pg.Conn(t)

	gen0 := p.bootstrap(t, ctx)
	if st, err := r.Load(ctx, "pg", 0, 0); err != nil || st.Loaded != gen0.Generation || st.Phase != warehouse.PhaseLoaded {
		t.Fatalf("loading generation 0: %+v %v", st, err)
	}
	g0, _ := warehouse.FromBatch(gen0)
	checkTarget(t, ctx, p, c, "tidemark", g0)

	if err := p.gen.Run(ctx, 400, 0); err != nil {
		t.Fatal(err)
	}
	gen1 := p.rebuild(t, ctx)
	st, err := r.Load(ctx, "pg", 0, 0)
	if err != nil || st.Loaded != gen1.Generation || st.Rows == 0 {
		t.Fatalf("loading generation 1: %+v %v", st, err)
	}
	g1, _ := warehouse.FromBatch(gen1)
	checkTarget(t, ctx, p, c, "tidemark", g1)

	// ADD COLUMN on the source; the next generation (re-extracted) brings it.
	p.m.Exec(t, "ALTER TABLE shop.customers ADD COLUMN vip VARCHAR(8) NULL",
		"UPDATE shop.customers SET vip = 'gold' WHERE id % 3 = 0")
	o := p.opts
	o.FromSource, o.ArchiveWait = true, 45*time.Second
	beat, stopBeat := context.WithCancel(ctx)
	go func() { // the archive seals past the extract only when the source moves
		for beat.Err() == nil {
			p.src.ExecContext(beat, "UPDATE shop.heartbeat SET at = NOW(6) WHERE id = 1")
			time.Sleep(300 * time.Millisecond)
		}
	}()
	gen2, err := batch.Rebuild(ctx, p.store, serving.BatchSource{C: p.capt}, o)
	stopBeat()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Load(ctx, "pg", 0, 0); err != nil {
		t.Fatal(err)
	}
	var gold int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM tidemark.shop_customers WHERE vip = 'gold'").Scan(&gold); err != nil || gold == 0 {
		t.Fatalf("the added column vip in PostgreSQL: %d gold rows, %v", gold, err)
	}
	g2, _ := warehouse.FromBatch(gen2)
	checkTarget(t, ctx, p, c, "tidemark", g2)
	// DROP COLUMN, rolled forward through the archive: vip leaves PostgreSQL.
	// (A row event after the DDL carries the new layout into the archive.)
	p.m.Exec(t, "ALTER TABLE shop.customers DROP COLUMN vip",
		"INSERT INTO shop.customers (id, name, country, created_at) VALUES (-7, 'after the drop', 'SE', NOW())")
	if err := p.gen.Run(ctx, 50, 0); err != nil {
		t.Fatal(err)
	}
	gen3 := p.rebuild(t, ctx)
	if _, err := r.Load(ctx, "pg", 0, 0); err != nil {
		t.Fatal(err)
	}
	var vip int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tidemark' AND table_name = 'shop_customers' AND column_name = 'vip'").Scan(&vip); err != nil || vip != 0 {
		t.Fatalf("the dropped column vip is still in PostgreSQL (%d, %v)", vip, err)
	}
	g3, _ := warehouse.FromBatch(gen3)
	checkTarget(t, ctx, p, c, "tidemark", g3)
	// Retention 2: generation 0's and 1's tables are gone.
	gen1 = gen2
	names, _ := l.GenTables(ctx)
	for _, n := range names {
		if g, _ := warehouse.ParseGenTable(n); g < gen1.Generation {
			t.Errorf("per-generation table %s outlived retention", n)
		}
	}
}
