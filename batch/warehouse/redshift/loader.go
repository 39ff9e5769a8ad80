package redshift

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
)

// Hook points, for crash tests: Options.Hook is called with each as the
// load reaches it.
const (
	HookManifest   = "manifest"    // a table's COPY manifest written, its COPY not sent
	HookBeforeSwap = "before-swap" // every table prepared, the swap not sent
	HookAfterSwap  = "after-swap"  // the swap committed, old tables not dropped
)

// Options configure a Loader.
type Options struct {
	// Exec reaches the cluster (NewDataAPI or OpenDSN); the Loader wraps
	// it with Retrying and closes it.
	Exec Executor
	// Retry configures the retries of serialization conflicts.
	Retry RetryOptions
	// Target names the target: manifests go under _warehouse/<Target>/.
	Target string
	// Schema holds the stable names and the control table; per-generation
	// tables go in Schema+"_gen". "" means "tidemark".
	Schema string
	// Store is the lake, LakeRoot its s3://bucket/prefix: COPY reads the
	// files and manifests from there.
	Store    lake.Store
	LakeRoot string
	// IAMRole is the role ARN COPY assumes to read the lake.
	IAMRole string
	// Keys are sort and distribution keys by lake table name (db.table).
	Keys map[string]Keys
	// Now is the clock of loaded_at; nil means time.Now.
	Now func() time.Time
	// Parallel is how many tables load at once; 0 means 4.
	Parallel int
	// Hook, when set, is called at each hook point (from the goroutine
	// that reaches it).
	Hook func(point string)
}

// Loader loads generations into one Redshift database. Its methods may be
// called from one goroutine at a time.
type Loader struct {
	o     Options
	exec  Executor
	gen   string
	ready bool // the schemas and the control table exist
}

var _ warehouse.Loader = (*Loader)(nil)

// New returns a loader; it does not contact the cluster.
func New(o Options) (*Loader, error) {
	if o.Exec == nil {
		return nil, errors.New("redshift loader: no executor")
	}
	if o.Schema == "" {
		o.Schema = "tidemark"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Hook == nil {
		o.Hook = func(string) {}
	}
	if o.Target == "" {
		o.Target = "redshift"
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	return &Loader{o: o, exec: Retrying(o.Exec, o.Retry), gen: o.Schema + "_gen"}, nil
}

// Close closes the executor.
func (l *Loader) Close() { l.exec.Close() }

// Schema returns the stable names' schema; GenSchema the per-generation
// tables'.
func (l *Loader) Schema() string    { return l.o.Schema }
func (l *Loader) GenSchema() string { return l.gen }

// classify maps the executor's kinds to the warehouse's: an unreachable
// cluster or a conflict that outlived its retries is ErrUnavailable (the
// Runner retries the load later).
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrSerialization) {
		return fmt.Errorf("%w: %w", warehouse.ErrUnavailable, err)
	}
	return err
}

func (l *Loader) ensureSchema(ctx context.Context) error {
	if l.ready {
		return nil
	}
	for _, q := range []string{CreateSchemaSQL(l.o.Schema), CreateSchemaSQL(l.gen), ControlTableSQL(l.o.Schema, warehouse.ControlTable)} {
		_, err := l.exec.Exec(ctx, q)
		if err != nil {
			// Two IF NOT EXISTS racing can fail the loser (PostgreSQL's
			// catalog unique index; Redshift's serialization): once the
			// winner committed, the statement is a no-op.
			_, err = l.exec.Exec(ctx, q)
		}
		if err != nil {
			return fmt.Errorf("creating the warehouse schema %s: %w", l.o.Schema, classify(err))
		}
	}
	// A control table of an older version lacks the newer columns: add
	// them one by one, outside any transaction.
	q, err := ListColumnsSQL(l.o.Schema, warehouse.ControlTable)
	if err != nil {
		return err
	}
	rows, err := l.exec.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("reading the control table's columns: %w", classify(err))
	}
	have := map[string]bool{}
	for _, r := range rows {
		have[asString(r[0])] = true
	}
	for _, c := range controlColumns {
		if !have[c.name] {
			if _, err := l.exec.Exec(ctx, AddColumnSQL(l.o.Schema, warehouse.ControlTable, c.name, c.typ)); err != nil {
				return fmt.Errorf("adding column %s to the control table: %w", c.name, classify(err))
			}
		}
	}
	l.ready = true
	return nil
}

// recheckOnError makes the next call check the schemas again after a
// failure (someone may have dropped them).
func (l *Loader) recheckOnError(err *error) {
	if *err != nil {
		l.ready = false
	}
}

func (l *Loader) tables(ctx context.Context, schema string) ([]string, error) {
	q, err := ListTablesSQL(schema)
	if err != nil {
		return nil, err
	}
	rows, err := l.exec.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("listing the tables of %s: %w", schema, classify(err))
	}
	var names []string
	for _, r := range rows {
		names = append(names, asString(r[0]))
	}
	return names, nil
}

// Current returns the loaded generation's control row.
func (l *Loader) Current(ctx context.Context) (*warehouse.Loaded, error) {
	names, err := l.tables(ctx, l.o.Schema)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, warehouse.ControlTable) {
		return nil, warehouse.ErrNotLoaded
	}
	rows, err := l.exec.Query(ctx, CurrentSQL(l.o.Schema, warehouse.ControlTable))
	if err != nil {
		return nil, fmt.Errorf("reading the control table: %w", classify(err))
	}
	if len(rows) == 0 {
		return nil, warehouse.ErrNotLoaded
	}
	r := rows[0]
	if len(r) < 7 {
		return nil, fmt.Errorf("reading the control table: %d columns, want 7", len(r))
	}
	ld := &warehouse.Loaded{Generation: uint64(asInt(r[0])), Cut: asString(r[1]), GTID: asString(r[2]), Fence: uint64(asInt(r[6]))}
	if r[3] != nil {
		if ld.CutTime, err = parseTimestamp(asString(r[3])); err != nil {
			return nil, fmt.Errorf("control row of generation %d: cut_time: %w", ld.Generation, err)
		}
	}
	if r[4] != nil {
		if ld.LoadedAt, err = parseTimestamp(asString(r[4])); err != nil {
			return nil, fmt.Errorf("control row of generation %d: loaded_at: %w", ld.Generation, err)
		}
	}
	if err := json.Unmarshal([]byte(asString(r[5])), &ld.Rows); err != nil {
		return nil, fmt.Errorf("decoding the control row of generation %d: %w", ld.Generation, err)
	}
	return ld, nil
}

// parseTimestamp reads a TIMESTAMPTZ cast to VARCHAR ("2026-12-07
// 22:00:00.5+00" on both Redshift and PostgreSQL in UTC sessions).
func parseTimestamp(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", "2006-01-02 15:04:05.999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable timestamp %q", s)
}

// manifestKey is where the COPY manifest of a table of generation g goes
// in the lake.
func (l *Loader) manifestKey(g uint64, name string) string {
	return fmt.Sprintf("_warehouse/%s/gen=%d/%s.manifest", l.o.Target, g, name)
}

func (l *Loader) url(key string) string { return strings.TrimSuffix(l.o.LakeRoot, "/") + "/" + key }

// Prepare creates and fills g's per-generation tables: per table, its COPY
// manifest in the lake, then ONE batch (DROP TABLE IF EXISTS, CREATE
// TABLE, COPY, a row-count guard), so a per-generation table exists only
// complete and is reused by a later Prepare of g.
func (l *Loader) Prepare(ctx context.Context, g *warehouse.Generation) (p warehouse.Prepared, err error) {
	defer l.recheckOnError(&err)
	if !strings.HasPrefix(l.o.LakeRoot, "s3://") {
		return p, fmt.Errorf("redshift loads from S3, but the lake is %q: use an s3://bucket/prefix lake", l.o.LakeRoot)
	}
	if err := l.ensureSchema(ctx); err != nil {
		return p, err
	}
	cur, err := l.Current(ctx)
	switch {
	case errors.Is(err, warehouse.ErrNotLoaded):
	case err != nil:
		return p, err
	case cur.Generation >= g.Number:
		p.Reused = true
		return p, nil
	}
	existing, err := l.tables(ctx, l.gen)
	if err != nil {
		return p, err
	}
	// Tables load side by side (each its own transaction): Redshift
	// runs COPYs of different tables in parallel.
	p.Reused = true
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(l.o.Parallel)
	for i := range g.Tables {
		t := &g.Tables[i]
		name := warehouse.GenTable(t.Name, g.Number)
		if slices.Contains(existing, name) {
			continue
		}
		p.Reused = false
		p.Rows += t.Rows
		p.Bytes += t.Bytes
		eg.Go(func() error {
			if err := l.loadTable(ectx, g, t, name); err != nil {
				return fmt.Errorf("loading %s %s into %s.%s: %w", t.Kind, t.Source, l.gen, name, err)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return warehouse.Prepared{}, err
	}
	return p, nil
}

func (l *Loader) loadTable(ctx context.Context, g *warehouse.Generation, t *warehouse.Table, name string) error {
	if err := Preflight(ctx, l.o.Store, t); err != nil {
		return err
	}
	var keys Keys
	if t.Kind == warehouse.KindTable {
		keys = l.o.Keys[t.Source]
	}
	create, err := CreateTableSQL(l.gen, name, t.FormatsColumns(), t.PK, keys)
	if err != nil {
		return err
	}
	sqls := []string{DropTableSQL(l.gen, name), create}
	if len(t.Files) > 0 {
		files := make([]ManifestFile, len(t.Files))
		for i, f := range t.Files {
			files[i] = ManifestFile{URL: l.url(f.Key), Bytes: f.Bytes}
		}
		m, err := ManifestJSON(files)
		if err != nil {
			return err
		}
		key := l.manifestKey(g.Number, t.Name)
		if err := l.o.Store.Put(ctx, key, bytes.NewReader(m)); err != nil {
			return fmt.Errorf("writing the COPY manifest %s: %w", key, err)
		}
		l.o.Hook(HookManifest)
		cp, err := CopySQL(l.gen, name, l.url(key), l.o.IAMRole)
		if err != nil {
			return err
		}
		sqls = append(sqls, cp)
	}
	sqls = append(sqls, CountGuardSQL(l.gen, name, t.Rows))
	res, err := l.exec.Batch(ctx, sqls)
	if err != nil {
		// A concurrent loader of the same generation may have created the
		// table first (the batch then fails on it): a table that exists is
		// complete, so that is success.
		if names, lerr := l.tables(ctx, l.gen); lerr == nil && slices.Contains(names, name) {
			return nil
		}
		return classify(err)
	}
	if len(t.Files) > 0 && res[2].Rows >= 0 && res[2].Rows != t.Rows {
		return fmt.Errorf("COPY loaded %d rows, the manifest lists %d", res[2].Rows, t.Rows)
	}
	return nil
}

// Swap re-points every stable name of g in one BatchExecuteStatement.
func (l *Loader) Swap(ctx context.Context, g *warehouse.Generation, fence uint64) (_ bool, err error) {
	defer l.recheckOnError(&err)
	l.o.Hook(HookBeforeSwap)
	if err := l.ensureSchema(ctx); err != nil {
		return false, err
	}
	cur, err := l.Current(ctx)
	if err != nil && !errors.Is(err, warehouse.ErrNotLoaded) {
		return false, err
	}
	if swapped, done, err := l.refuse(ctx, g, fence, cur); done {
		return swapped, err
	}
	s := Swap{Schema: l.o.Schema, GenSchema: l.gen, Control: warehouse.ControlTable, Generation: g.Number,
		Cut: g.Cut, GTID: g.GTID, CutTime: g.CutTime, LoadedAt: l.o.Now(), Fence: fence}
	have := map[string]bool{}
	for i := range g.Tables {
		t := &g.Tables[i]
		cols := make([]string, len(t.Columns))
		for j, c := range t.Columns {
			cols[j] = c.Name
		}
		s.Tables = append(s.Tables, SwapTable{Name: t.Name, GenTable: warehouse.GenTable(t.Name, g.Number), Columns: cols, Rows: t.Rows})
		have[t.Name] = true
	}
	if cur != nil {
		s.StoredFence = cur.Fence
		for name := range cur.Rows {
			if !have[name] {
				s.Drop = append(s.Drop, name)
			}
		}
		slices.Sort(s.Drop)
	}
	plan, err := SwapSQL(s)
	if err != nil {
		return false, err
	}
	for _, q := range plan.Procedures {
		if _, err := l.exec.Exec(ctx, q); err != nil {
			return false, fmt.Errorf("creating the swap procedure of generation %d: %w", g.Number, classify(err))
		}
	}
	defer func() {
		for _, q := range plan.Cleanup {
			_, _ = l.exec.Exec(context.WithoutCancel(ctx), q) // a left-over procedure is harmless; the next swap replaces it
		}
	}()
	if _, err := l.exec.Batch(ctx, plan.Batch); err != nil {
		// The guard (or a concurrent loader) may have refused it: the
		// control table says which.
		var se *StatementError
		if errors.As(err, &se) && se.Index == 1 {
			if now, cerr := l.Current(ctx); cerr == nil {
				if swapped, done, rerr := l.refuse(ctx, g, fence, now); done {
					return swapped, rerr
				}
			}
		}
		return false, fmt.Errorf("swapping in generation %d: %w", g.Number, classify(err))
	}
	l.o.Hook(HookAfterSwap)
	return true, nil
}

// refuse decides a swap that must not happen from the control row: a
// replay (no-op, raising the stored fence if fence is higher), an older
// generation (ErrStale) or a superseded fence (ErrFenced). done is false
// when the swap may go ahead.
func (l *Loader) refuse(ctx context.Context, g *warehouse.Generation, fence uint64, cur *warehouse.Loaded) (swapped, done bool, err error) {
	if cur == nil {
		return false, false, nil
	}
	if fence != 0 && fence < cur.Fence {
		return false, true, fmt.Errorf("swapping in generation %d with fencing token %d: the target has seen token %d: %w",
			g.Number, fence, cur.Fence, warehouse.ErrFenced)
	}
	switch {
	case cur.Generation == g.Number:
		if fence > cur.Fence {
			ctl := qualified(l.o.Schema, warehouse.ControlTable)
			if _, err := l.exec.Batch(ctx, []string{"LOCK " + ctl, FenceSQL(l.o.Schema, warehouse.ControlTable, g.Number, fence)}); err != nil {
				return false, true, fmt.Errorf("raising the fence of generation %d: %w", g.Number, classify(err))
			}
		}
		return false, true, nil
	case cur.Generation > g.Number:
		return false, true, fmt.Errorf("swapping in generation %d: the target holds generation %d: %w", g.Number, cur.Generation, warehouse.ErrStale)
	}
	return false, false, nil
}

// DropOld drops the per-generation tables of generations past the
// retention, one statement each outside any transaction, and the COPY
// manifests of generations up to the loaded one that are not kept.
func (l *Loader) DropOld(ctx context.Context, keep int) error {
	if keep <= 0 {
		keep = 1
	}
	cur, err := l.Current(ctx)
	if errors.Is(err, warehouse.ErrNotLoaded) {
		return nil
	}
	if err != nil {
		return err
	}
	rows, err := l.exec.Query(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY 1 DESC LIMIT %d",
		quoteIdent("generation"), qualified(l.o.Schema, warehouse.ControlTable), keep))
	if err != nil {
		return fmt.Errorf("reading the control table: %w", classify(err))
	}
	kept := map[uint64]bool{}
	for _, r := range rows {
		kept[uint64(asInt(r[0]))] = true
	}
	names, err := l.tables(ctx, l.gen)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		g, ok := warehouse.ParseGenTable(name)
		if !ok || g > cur.Generation || kept[g] {
			continue
		}
		if _, err := l.exec.Exec(ctx, DropTableSQL(l.gen, name)); err != nil {
			errs = append(errs, fmt.Errorf("dropping %s.%s of generation %d: %w", l.gen, name, g, classify(err)))
		}
	}
	// Manifests of generations whose tables are gone (dropped now, or
	// never committed: a load that failed or was superseded).
	objs, err := l.o.Store.List(ctx, fmt.Sprintf("_warehouse/%s/", l.o.Target))
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var keys []string
	for _, o := range objs {
		var g uint64
		rest := strings.TrimPrefix(o.Key, fmt.Sprintf("_warehouse/%s/", l.o.Target))
		if _, err := fmt.Sscanf(rest, "gen=%d/", &g); err != nil || path.Ext(o.Key) != ".manifest" {
			continue
		}
		if g <= cur.Generation && !kept[g] {
			keys = append(keys, o.Key)
		}
	}
	if err := l.o.Store.Delete(ctx, keys...); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// GenTables lists the per-generation tables present (for status and tests).
func (l *Loader) GenTables(ctx context.Context) ([]string, error) { return l.tables(ctx, l.gen) }

// Check reports what keeps the target from loading, each with its fix.
func (l *Loader) Check(ctx context.Context) []error {
	var errs []error
	if l.o.IAMRole == "" {
		errs = append(errs, errors.New("iam_role is not set: COPY needs a role Redshift may assume to read the lake; create one with s3:GetObject and s3:ListBucket on the lake's bucket, attach it to the cluster or workgroup, and set iam_role to its ARN (docs/warehouse-redshift.md)"))
	}
	if !strings.HasPrefix(l.o.LakeRoot, "s3://") {
		errs = append(errs, fmt.Errorf("the lake is %q: Redshift's COPY reads only from S3; set lake.root to s3://bucket/prefix", l.o.LakeRoot))
	}
	if _, err := l.exec.Exec(ctx, "SELECT 1"); err != nil {
		return append(errs, fmt.Errorf("reaching Redshift: %w: check data_api (workgroup_name or cluster_identifier, database, region, db_user or secret_arn) or the dsn, and that the caller may use the Data API (redshift-data:ExecuteStatement, BatchExecuteStatement, DescribeStatement, GetStatementResult, and redshift-serverless:GetCredentials or redshift:GetClusterCredentials)", err))
	}
	for _, s := range []string{l.o.Schema, l.gen} {
		check := qualified(s, "tidemark_check")
		if _, err := l.exec.Batch(ctx, []string{CreateSchemaSQL(s), "CREATE TABLE " + check + " (x BIGINT)", "DROP TABLE " + check}); err != nil {
			errs = append(errs, fmt.Errorf("creating schema %s and a table in it: %w: GRANT CREATE ON DATABASE <db> TO <user>, or CREATE SCHEMA %s AUTHORIZATION <user>", s, err, s))
		}
	}
	if len(errs) == 0 && l.o.Store != nil {
		if err := l.checkCopy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// checkCopy proves COPY can read the lake with the role: a one-row Parquet
// file and its manifest under _warehouse/<target>/check/, COPYed into a
// table created and dropped in the same batch, then removed.
func (l *Loader) checkCopy(ctx context.Context) error {
	typ := formats.Type{Kind: formats.KindBigInt}
	cols := []formats.Column{{Name: "x", Type: typ}}
	sch, err := snapshot.SchemaOf(cols)
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("_warehouse/%s/check", l.o.Target)
	w, err := snapshot.NewWriter(l.o.Store, prefix, sch, snapshot.PartitionSpec{}, snapshot.Options{})
	if err != nil {
		return err
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.Append(1)
	arr := b.NewArray()
	rec := array.NewRecord(sch.Arrow(), []arrow.Array{arr}, 1)
	werr := w.Write(ctx, rec)
	rec.Release()
	arr.Release()
	b.Release()
	if werr != nil {
		w.Abort()
		return fmt.Errorf("writing a check file to the lake: %w", werr)
	}
	files, err := w.Close()
	if err != nil {
		return fmt.Errorf("writing a check file to the lake: %w", err)
	}
	keys := []string{prefix + "/check.manifest"}
	mf := make([]ManifestFile, len(files))
	for i, f := range files {
		mf[i] = ManifestFile{URL: l.url(f.Key), Bytes: f.Bytes}
		keys = append(keys, f.Key)
	}
	defer l.o.Store.Delete(context.WithoutCancel(ctx), keys...)
	m, err := ManifestJSON(mf)
	if err != nil {
		return err
	}
	if err := l.o.Store.Put(ctx, keys[0], bytes.NewReader(m)); err != nil {
		return fmt.Errorf("writing a check manifest to the lake: %w", err)
	}
	table := "tidemark_check_copy"
	cp, err := CopySQL(l.gen, table, l.url(keys[0]), l.o.IAMRole)
	if err != nil {
		return err
	}
	create, err := CreateTableSQL(l.gen, table, cols, nil, Keys{})
	if err != nil {
		return err
	}
	if _, err := l.exec.Batch(ctx, []string{DropTableSQL(l.gen, table), create, cp, DropTableSQL(l.gen, table)}); err != nil {
		return fmt.Errorf("COPY from the lake with iam_role %s: %w: attach the role to the cluster (or the Serverless namespace), let redshift.amazonaws.com (and redshift-serverless.amazonaws.com) assume it, and grant it s3:GetObject on the lake's prefix and s3:ListBucket on its bucket, in the cluster's region", l.o.IAMRole, err)
	}
	return nil
}

// formatKey renders a row's key for messages: col=value, ...
func formatKey(names []string, vals []string) string {
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = names[i] + "=" + strconv.Quote(vals[i])
	}
	return strings.Join(parts, ", ")
}

// ComputeView computes an aggregate view of generation g in Redshift, over
// the view's source table as Prepare loaded it (its per-generation table,
// so the answer is g's whether or not g is swapped in yet): the SQL of
// formats.BoundView.WarehouseSQL, read back by ParseWarehouseRow into the
// rows the local engine computes. b must be bound to the source table's
// schema in g. formats.ErrNotPushable says the view must be computed
// locally.
func (l *Loader) ComputeView(ctx context.Context, b *formats.BoundView, g uint64) (map[formats.GroupKey]formats.Row, error) {
	src := warehouse.StableName(warehouse.KindTable, b.View().From.String())
	q, err := b.WarehouseSQL(formats.DialectRedshift, qualified(l.gen, warehouse.GenTable(src, g)))
	if err != nil {
		return nil, err
	}
	rows, err := l.exec.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("computing view %s of generation %d: %w", b.View().Name, g, classify(err))
	}
	out := make(map[formats.GroupKey]formats.Row, len(rows))
	for _, r := range rows {
		raw := make([]*string, len(r))
		for i, v := range r {
			if v != nil {
				s := asString(v)
				raw[i] = &s
			}
		}
		k, row, err := b.ParseWarehouseRow(formats.DialectRedshift, raw)
		if err != nil {
			return nil, err
		}
		out[k] = row
	}
	return out, nil
}
