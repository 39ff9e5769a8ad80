package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
)

// Hook points, for crash tests: Options.Hook is called with each as the
// load reaches it.
const (
	HookCopy       = "copy"        // inside a table's COPY, after its first batch was sent
	HookBeforeSwap = "before-swap" // every table prepared, the swap not begun
	HookInSwap     = "in-swap"     // the swap's statements done, before its COMMIT
	HookAfterSwap  = "after-swap"  // the swap committed, old tables not dropped
)

// Options configure a Loader.
type Options struct {
	// DSN is the connection string (pgx: URL or key=value).
	DSN string
	// Schema holds the stable names and the control table; per-generation
	// tables go in Schema+"_gen". "" means "tidemark".
	Schema string
	// Store is the lake the Parquet files are read from.
	Store lake.Store
	// LockTimeout bounds DropOld's wait for readers of an old generation;
	// 0 means 10s.
	LockTimeout time.Duration
	// Parallel is how many tables are loaded at once, each on its own
	// connection; 0 means 2.
	Parallel int
	// MaintenanceWorkMem is the maintenance_work_mem of the primary key
	// builds (PostgreSQL's default 64MB spills a large table's sort to
	// disk); "" means 256MB.
	MaintenanceWorkMem string
	// Hook, when set, is called at each hook point (tests kill the process
	// there).
	Hook func(point string)
	// MaintenanceWorkers is the max_parallel_maintenance_workers of the
	// primary key builds; 0 keeps the server's setting (PostgreSQL's
	// default 2), -1 builds without workers.
	MaintenanceWorkers int
	// keyFirst declares the primary key in the CREATE TABLE, so COPY
	// maintains it row by row (a benchmark variant, not a setting).
	keyFirst bool
	// noFreeze leaves FREEZE out of the COPY (a benchmark variant).
	noFreeze bool
	// Trace, when set, is called with the duration of each phase of a load
	// (the Phase* constants), per table ("" for the swap's phases); tables
	// loading at once call it concurrently.
	Trace func(table, phase string, d time.Duration)
}

// Phases of a load, as Options.Trace reports them.
const (
	PhaseCreate  = "create"  // CREATE TABLE of the per-generation table
	PhaseCopy    = "copy"    // Parquet decoded, encoded and streamed by binary COPY (overlapped)
	PhaseKey     = "key"     // the primary key (or history index) build
	PhaseCommit  = "commit"  // the load transaction's COMMIT
	PhaseSwap    = "swap"    // the swap transaction, until its COMMIT returned: readable
	PhaseAnalyze = "analyze" // ANALYZE of the new tables, after the swap
)

// phase starts timing a phase; the returned func reports it.
func (l *Loader) phase(table, name string) func() {
	if l.o.Trace == nil {
		return func() {}
	}
	start := time.Now()
	return func() { l.o.Trace(table, name, time.Since(start)) }
}

// errConcurrentLoad: another loader filled the table meanwhile.
var errConcurrentLoad = errors.New("loaded concurrently")

// Loader loads generations into one PostgreSQL database. It keeps a pool
// of connections (Options.Parallel + 2); Current, Check and GenTables are
// safe to call during a load.
type Loader struct {
	o    Options
	pool *pgxpool.Pool
	gen  string // the per-generation schema
}

var _ warehouse.Loader = (*Loader)(nil)

// New returns a loader; it connects lazily, so a target that is down does
// not fail here (Check and the loads report it).
func New(o Options) (*Loader, error) {
	if o.Schema == "" {
		o.Schema = "tidemark"
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 10 * time.Second
	}
	if o.Hook == nil {
		o.Hook = func(string) {}
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.MaintenanceWorkMem == "" {
		o.MaintenanceWorkMem = "256MB"
	}
	cfg, err := pgxpool.ParseConfig(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL dsn: %w", err)
	}
	cfg.MaxConns = int32(o.Parallel) + 2 // the loads, the one holding the generation's lock, status
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("configuring the PostgreSQL pool: %w", err)
	}
	return &Loader{o: o, pool: pool, gen: o.Schema + "_gen"}, nil
}

// Close closes the connections.
func (l *Loader) Close() { l.pool.Close() }

// Schema returns the stable names' schema.
func (l *Loader) Schema() string { return l.o.Schema }

// GenSchema returns the per-generation tables' schema.
func (l *Loader) GenSchema() string { return l.gen }

func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

func (l *Loader) control() string { return ident(l.o.Schema, warehouse.ControlTable) }

// classify marks connection failures ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return fmt.Errorf("%w: %w", warehouse.ErrUnavailable, err)
	case errors.As(err, &pe):
		if strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300" {
			return fmt.Errorf("%w: %w", warehouse.ErrUnavailable, err)
		}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %w", warehouse.ErrUnavailable, err)
	}
	return err
}

func (l *Loader) ensureSchema(ctx context.Context, c *pgxpool.Conn) error {
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + ident(l.o.Schema),
		"CREATE SCHEMA IF NOT EXISTS " + ident(l.gen),
		`CREATE TABLE IF NOT EXISTS ` + l.control() + ` (
			generation bigint PRIMARY KEY,
			cut text NOT NULL,
			gtid text NOT NULL DEFAULT '',
			cut_time timestamptz,
			loaded_at timestamptz NOT NULL DEFAULT now(),
			rows jsonb NOT NULL,
			fence bigint NOT NULL DEFAULT 0)`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" { // a concurrent IF NOT EXISTS won
				continue
			}
			return fmt.Errorf("creating the warehouse schema %s: %w", l.o.Schema, classify(err))
		}
	}
	return nil
}

func (l *Loader) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	c, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", classify(err))
	}
	return c, nil
}

// Current returns the loaded generation's control row.
func (l *Loader) Current(ctx context.Context) (*warehouse.Loaded, error) {
	c, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	return l.current(ctx, c)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (l *Loader) current(ctx context.Context, q querier) (*warehouse.Loaded, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", l.control()).Scan(&exists); err != nil {
		return nil, fmt.Errorf("reading the control table: %w", classify(err))
	}
	if !exists {
		return nil, warehouse.ErrNotLoaded
	}
	var (
		r       warehouse.Loaded
		rows    []byte
		cutTime *time.Time
		fence   int64
		gen     int64
	)
	err := q.QueryRow(ctx, `SELECT generation, cut, gtid, cut_time, loaded_at, rows,
			(SELECT coalesce(max(fence), 0) FROM `+l.control()+`)
		FROM `+l.control()+` ORDER BY generation DESC LIMIT 1`).
		Scan(&gen, &r.Cut, &r.GTID, &cutTime, &r.LoadedAt, &rows, &fence)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, warehouse.ErrNotLoaded
	}
	if err != nil {
		return nil, fmt.Errorf("reading the control table: %w", classify(err))
	}
	r.Generation, r.Fence = uint64(gen), uint64(fence)
	if cutTime != nil {
		r.CutTime = cutTime.UTC()
	}
	r.LoadedAt = r.LoadedAt.UTC()
	if err := json.Unmarshal(rows, &r.Rows); err != nil {
		return nil, fmt.Errorf("decoding the control row of generation %d: %w", gen, err)
	}
	return &r, nil
}

// Prepare creates and fills g's per-generation tables.
func (l *Loader) Prepare(ctx context.Context, g *warehouse.Generation) (warehouse.Prepared, error) {
	var p warehouse.Prepared
	c, err := l.acquire(ctx)
	if err != nil {
		return p, err
	}
	defer c.Release()
	if err := l.ensureSchema(ctx, c); err != nil {
		return p, err
	}
	cur, err := l.current(ctx, c)
	switch {
	case errors.Is(err, warehouse.ErrNotLoaded):
	case err != nil:
		return p, err
	case cur.Generation >= g.Number:
		p.Reused = true // Swap says whether it is a replay or stale
		return p, nil
	}
	// One Prepare of a generation at a time per target: two loaders (the
	// batch role and `tidemark warehouse load`) creating the same table at
	// once would collide in PostgreSQL's catalog. A session lock: it goes
	// with the connection if the process dies.
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1), $2)", "tidemark prepare "+l.gen, int32(g.Number)); err != nil {
		return p, fmt.Errorf("locking generation %d for its load: %w", g.Number, classify(err))
	}
	defer c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext($1), $2)", "tidemark prepare "+l.gen, int32(g.Number))
	p.Reused = true
	var todo []*warehouse.Table
	for i := range g.Tables {
		t := &g.Tables[i]
		name := warehouse.GenTable(t.Name, g.Number)
		var exists bool
		if err := c.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", ident(l.gen, name)).Scan(&exists); err != nil {
			return p, fmt.Errorf("looking for %s.%s: %w", l.gen, name, classify(err))
		}
		if !exists { // one that exists was created in one transaction with its rows: complete
			todo = append(todo, t)
		}
	}
	if len(todo) == 0 {
		return p, nil
	}
	p.Reused = false
	// The largest first, Parallel at a time, each on its own connection.
	slices.SortStableFunc(todo, func(a, b *warehouse.Table) int { return cmp.Compare(b.Bytes, a.Bytes) })
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(l.o.Parallel)
	for _, t := range todo {
		eg.Go(func() error {
			name := warehouse.GenTable(t.Name, g.Number)
			tc, err := l.acquire(ectx)
			if err != nil {
				return err
			}
			defer tc.Release()
			n, err := l.loadTable(ectx, tc, t, name)
			if errors.Is(err, errConcurrentLoad) { // committed meanwhile, complete
				return nil
			}
			if err != nil {
				return fmt.Errorf("loading %s %s into %s.%s: %w", t.Kind, t.Source, l.gen, name, err)
			}
			mu.Lock()
			p.Rows += n
			p.Bytes += t.Bytes
			mu.Unlock()
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return p, err
	}
	return p, nil
}

// columnDefs is the CREATE TABLE column list of t.
func columnDefs(t *warehouse.Table) (string, error) {
	defs := make([]string, len(t.Columns))
	for i, col := range t.Columns {
		typ := formats.PostgresType(col.Type)
		if typ == "" {
			return "", fmt.Errorf("column %s: no PostgreSQL type for %s", col.Name, col.Type)
		}
		defs[i] = ident(col.Name) + " " + typ
		if !col.Nullable && t.Kind != warehouse.KindView {
			defs[i] += " NOT NULL"
		}
	}
	return strings.Join(defs, ", "), nil
}

func (l *Loader) loadTable(ctx context.Context, c *pgxpool.Conn, t *warehouse.Table, name string) (int64, error) {
	defs, err := columnDefs(t)
	if err != nil {
		return 0, err
	}
	enc, err := newRowEncoder(t.FormatsColumns())
	if err != nil {
		return 0, err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return 0, classify(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	qname := ident(l.gen, name)
	done := l.phase(t.Name, PhaseCreate)
	if l.o.keyFirst && len(t.PK) > 0 && t.Kind != warehouse.KindHistory {
		defs += ", PRIMARY KEY (" + strings.Join(keyCols(t), ", ") + ")"
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE "+qname+" ("+defs+")"); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P07" {
			// Another loader's transaction created it and committed (the
			// CREATE waited for it): the table is complete.
			return 0, errConcurrentLoad
		}
		return 0, classify(err)
	}
	done()
	done = l.phase(t.Name, PhaseCopy)
	n, err := l.copyRows(ctx, tx.Conn().PgConn(), t, qname, enc)
	done()
	if err != nil {
		return 0, err
	}
	if n != t.Rows {
		return 0, fmt.Errorf("COPY loaded %d rows, the manifest has %d", n, t.Rows)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL maintenance_work_mem = "+quoteLiteral(l.o.MaintenanceWorkMem)); err != nil {
		return 0, fmt.Errorf("maintenance_work_mem %q: %w", l.o.MaintenanceWorkMem, classify(err))
	}
	if w := l.o.MaintenanceWorkers; w != 0 {
		if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL max_parallel_maintenance_workers = %d", max(w, 0))); err != nil {
			return 0, fmt.Errorf("max_parallel_maintenance_workers %d: %w", w, classify(err))
		}
	}
	if len(t.PK) > 0 && !(l.o.keyFirst && t.Kind != warehouse.KindHistory) {
		cols := keyCols(t)
		q := "ALTER TABLE " + qname + " ADD PRIMARY KEY (" + strings.Join(cols, ", ") + ")"
		if t.Kind == warehouse.KindHistory { // versions of a key: ordered, not unique by contract
			q = "CREATE INDEX ON " + qname + " (" + strings.Join(cols, ", ") + ")"
		}
		done := l.phase(t.Name, PhaseKey)
		if _, err := tx.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("building the key: %w", classify(err))
		}
		done()
	}
	done = l.phase(t.Name, PhaseCommit)
	if err := tx.Commit(ctx); err != nil {
		return 0, classify(err)
	}
	done()
	return n, nil
}

// keyCols are t's key columns, quoted.
func keyCols(t *warehouse.Table) []string {
	cols := make([]string, len(t.PK))
	for i, k := range t.PK {
		cols[i] = ident(t.Columns[k].Name)
	}
	return cols
}

// copyRows streams t's Parquet rows into qname with binary COPY, in three
// stages that overlap: Parquet row groups decoded to Arrow records, the
// records encoded into COPY buffers, the buffers sent by pgconn. Memory is
// two records and three buffers.
func (l *Loader) copyRows(ctx context.Context, pc *pgconn.PgConn, t *warehouse.Table, qname string, enc *rowEncoder) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan arrow.Record, 1)
	src := &bufReader{full: make(chan []byte, 2), free: make(chan []byte, 3), ctx: ctx, sent: func() { l.o.Hook(HookCopy) }}
	for range 3 {
		src.free <- make([]byte, 0, copyBufSize+64<<10)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // decode
		defer wg.Done()
		defer close(recs)
		err := warehouse.ReadTable(ctx, l.o.Store, t, func(rec arrow.Record) error {
			rec.Retain()
			select {
			case recs <- rec:
				return nil
			case <-ctx.Done():
				rec.Release()
				return ctx.Err()
			}
		})
		if err != nil {
			src.fail(err)
		}
	}()
	go func() { // encode
		defer wg.Done()
		defer close(src.full)
		var buf []byte
		select {
		case buf = <-src.free:
		case <-ctx.Done():
			return
		}
		buf = append(buf[:0], copyHeader...)
		send := func() bool {
			select {
			case src.full <- buf:
			case <-ctx.Done():
				return false
			}
			select {
			case buf = <-src.free:
				buf = buf[:0]
				return true
			case <-ctx.Done():
				return false
			}
		}
		for rec := range recs {
			n := int(rec.NumRows())
			for i := 0; i < n; i++ {
				buf = enc.appendRow(buf, rec, i)
				if len(buf) >= copyBufSize && !send() {
					rec.Release()
					for rec := range recs {
						rec.Release()
					}
					return
				}
			}
			rec.Release()
		}
		if src.err() == nil {
			buf = append(buf, copyTrailer...)
			send()
		}
	}()
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = ident(c.Name)
	}
	with := "FORMAT binary, FREEZE"
	if l.o.noFreeze {
		with = "FORMAT binary"
	}
	tag, err := pc.CopyFrom(ctx, src, "COPY "+qname+" ("+strings.Join(cols, ", ")+") FROM STDIN WITH ("+with+")")
	cancel()
	for range src.full { // let the encoder finish
	}
	wg.Wait()
	if err != nil {
		return 0, fmt.Errorf("COPY: %w", classify(err))
	}
	return tag.RowsAffected(), nil
}

// copyBufSize is the size of a COPY buffer handed from the encoder to
// pgconn.
const copyBufSize = 1 << 20

// bufReader is the io.Reader pgconn's CopyFrom reads: the encoder's full
// buffers in order, each given back to the free list once read. A failure
// of the decoder ends the stream with its error (pgconn then aborts the
// COPY).
type bufReader struct {
	full, free chan []byte
	cur        []byte
	off        int
	ctx        context.Context // the copy's, cancelled when it ends
	// sent is called once, when pgconn has read the first buffer: the
	// COPY is under way.
	sent func()

	mu     sync.Mutex
	failed error
}

func (r *bufReader) fail(err error) {
	r.mu.Lock()
	if r.failed == nil {
		r.failed = err
	}
	r.mu.Unlock()
}

func (r *bufReader) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *bufReader) Read(p []byte) (int, error) {
	for r.cur == nil || r.off == len(r.cur) {
		if r.cur != nil {
			r.free <- r.cur // never blocks: three buffers, three slots
			r.cur = nil
			if r.sent != nil {
				r.sent()
				r.sent = nil
			}
		}
		b, ok := <-r.full
		if !ok {
			if err := r.err(); err != nil {
				return 0, err
			}
			if err := r.ctx.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		r.cur, r.off = b, 0
	}
	n := copy(p, r.cur[r.off:])
	r.off += n
	return n, nil
}

// Swap re-points the stable names to g's tables in one transaction.
func (l *Loader) Swap(ctx context.Context, g *warehouse.Generation, fence uint64) (bool, error) {
	l.o.Hook(HookBeforeSwap)
	c, err := l.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer c.Release()
	if err := l.ensureSchema(ctx, c); err != nil {
		return false, err
	}
	swapped := l.phase("", PhaseSwap)
	tx, err := c.Begin(ctx)
	if err != nil {
		return false, classify(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "LOCK TABLE "+l.control()+" IN EXCLUSIVE MODE"); err != nil {
		return false, fmt.Errorf("locking the control table: %w", classify(err))
	}
	cur, err := l.current(ctx, tx)
	if err != nil && !errors.Is(err, warehouse.ErrNotLoaded) {
		return false, err
	}
	newFence := fence
	if cur != nil {
		if fence != 0 && fence < cur.Fence {
			return false, fmt.Errorf("swapping in generation %d with fencing token %d: the target has seen token %d: %w",
				g.Number, fence, cur.Fence, warehouse.ErrFenced)
		}
		newFence = max(fence, cur.Fence)
		switch {
		case cur.Generation == g.Number:
			if fence > cur.Fence {
				if _, err := tx.Exec(ctx, "UPDATE "+l.control()+" SET fence = $1 WHERE generation = $2", int64(fence), int64(g.Number)); err != nil {
					return false, classify(err)
				}
				return false, classify(tx.Commit(ctx))
			}
			return false, nil
		case cur.Generation > g.Number:
			return false, fmt.Errorf("swapping in generation %d: the target holds generation %d: %w", g.Number, cur.Generation, warehouse.ErrStale)
		}
	}
	rows := map[string]int64{}
	for i := range g.Tables {
		t := &g.Tables[i]
		if err := l.pointView(ctx, tx, t, warehouse.GenTable(t.Name, g.Number)); err != nil {
			return false, fmt.Errorf("re-pointing %s.%s to generation %d: %w", l.o.Schema, t.Name, g.Number, err)
		}
		rows[t.Name] = t.Rows
	}
	if cur != nil {
		for name := range cur.Rows {
			if _, ok := rows[name]; ok {
				continue
			}
			if _, err := tx.Exec(ctx, "DROP VIEW IF EXISTS "+ident(l.o.Schema, name)); err != nil {
				return false, fmt.Errorf("dropping %s.%s, which generation %d no longer has: %w", l.o.Schema, name, g.Number, classify(err))
			}
		}
	}
	rj, err := json.Marshal(rows)
	if err != nil {
		return false, err
	}
	var cutTime *time.Time
	if !g.CutTime.IsZero() {
		cutTime = &g.CutTime
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+l.control()+" (generation, cut, gtid, cut_time, rows, fence) VALUES ($1, $2, $3, $4, $5, $6)",
		int64(g.Number), g.Cut, g.GTID, cutTime, rj, int64(newFence)); err != nil {
		return false, fmt.Errorf("writing the control row: %w", classify(err))
	}
	l.o.Hook(HookInSwap)
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("committing the swap of generation %d: %w", g.Number, classify(err))
	}
	swapped()
	l.o.Hook(HookAfterSwap)
	defer l.phase("", PhaseAnalyze)()
	// Planner statistics for the new tables, once readers already have
	// them: not on the path to readable, and autovacuum would do it later.
	for i := range g.Tables {
		if _, err := c.Exec(ctx, "ANALYZE "+ident(l.gen, warehouse.GenTable(g.Tables[i].Name, g.Number))); err != nil {
			return true, fmt.Errorf("analyzing generation %d (it is swapped in): %w", g.Number, classify(err))
		}
	}
	return true, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

type attr struct {
	name   string
	typ    uint32
	typmod int32
}

func attrs(ctx context.Context, tx pgx.Tx, rel string) ([]attr, string, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname, a.atttypid, a.atttypmod, c.relkind::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, rel)
	if err != nil {
		return nil, "", classify(err)
	}
	defer rows.Close()
	var (
		out  []attr
		kind string
	)
	for rows.Next() {
		var a attr
		if err := rows.Scan(&a.name, &a.typ, &a.typmod, &kind); err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	return out, kind, classify(rows.Err())
}

// pointView makes the stable view of t select from table (in the
// per-generation schema).
func (l *Loader) pointView(ctx context.Context, tx pgx.Tx, t *warehouse.Table, table string) error {
	src, _, err := attrs(ctx, tx, ident(l.gen, table))
	if err != nil {
		return err
	}
	if len(src) == 0 {
		return fmt.Errorf("%s.%s does not exist: Prepare did not run or failed", l.gen, table)
	}
	view := ident(l.o.Schema, t.Name)
	old, kind, err := attrs(ctx, tx, view)
	if err != nil {
		return err
	}
	if len(old) > 0 && kind != "v" {
		return fmt.Errorf("%s exists and is not a view (relkind %s): Tidemark keeps a view of that name there; move the object away", view, kind)
	}
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = ident(c.Name)
	}
	def := " AS SELECT " + strings.Join(cols, ", ") + " FROM " + ident(l.gen, table)
	if len(old) > 0 && !slices.Equal(old, src) {
		// CREATE OR REPLACE VIEW may only append columns; a dropped,
		// renamed or retyped one needs the view dropped, in this same
		// transaction.
		if _, err := tx.Exec(ctx, "DROP VIEW "+view); err != nil {
			return classify(err)
		}
	}
	_, err = tx.Exec(ctx, "CREATE OR REPLACE VIEW "+view+def)
	return classify(err)
}

// DropOld drops per-generation tables no longer needed.
func (l *Loader) DropOld(ctx context.Context, keep int) error {
	if keep <= 0 {
		keep = 1
	}
	c, err := l.acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	cur, err := l.current(ctx, c)
	if errors.Is(err, warehouse.ErrNotLoaded) {
		return nil
	}
	if err != nil {
		return err
	}
	kept := map[uint64]bool{}
	rows, err := c.Query(ctx, "SELECT generation FROM "+l.control()+" ORDER BY generation DESC LIMIT $1", keep)
	if err != nil {
		return classify(err)
	}
	for rows.Next() {
		var g int64
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return err
		}
		kept[uint64(g)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	names, err := l.genTables(ctx, c)
	if err != nil {
		return err
	}
	if _, err := c.Exec(ctx, fmt.Sprintf("SET lock_timeout = %d", l.o.LockTimeout.Milliseconds())); err != nil {
		return classify(err)
	}
	defer c.Exec(context.WithoutCancel(ctx), "RESET lock_timeout")
	var errs []error
	for _, name := range names {
		g, ok := warehouse.ParseGenTable(name)
		if !ok || g > cur.Generation || kept[g] {
			continue
		}
		if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS "+ident(l.gen, name)); err != nil {
			errs = append(errs, fmt.Errorf("dropping %s.%s of generation %d: %w", l.gen, name, g, classify(err)))
		}
	}
	return errors.Join(errs...)
}

func (l *Loader) genTables(ctx context.Context, c *pgxpool.Conn) ([]string, error) {
	rows, err := c.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", l.gen)
	if err != nil {
		return nil, classify(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, classify(err)
}

// GenTables lists the per-generation tables present (for status and tests).
func (l *Loader) GenTables(ctx context.Context) ([]string, error) {
	c, err := l.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	return l.genTables(ctx, c)
}

// Check reports what keeps the target from loading, each with its fix.
func (l *Loader) Check(ctx context.Context) []error {
	c, err := l.acquire(ctx)
	if err != nil {
		return []error{fmt.Errorf("%w: check the dsn (host, port, user, password, database) and that PostgreSQL accepts connections from this host (listen_addresses, pg_hba.conf)", err)}
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return []error{classify(err)}
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var errs []error
	for _, s := range []string{l.o.Schema, l.gen} {
		if _, err := tx.Exec(ctx, "SAVEPOINT s"); err != nil {
			return append(errs, classify(err))
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident(s)); err != nil {
			errs = append(errs, fmt.Errorf("creating schema %s: %w: GRANT CREATE ON DATABASE <db> TO <user>, or create it as an owner: CREATE SCHEMA %s AUTHORIZATION <user>", s, err, s))
			tx.Exec(ctx, "ROLLBACK TO SAVEPOINT s")
			continue
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE "+ident(s, "tidemark_check")+" (x int)"); err != nil {
			errs = append(errs, fmt.Errorf("creating a table in schema %s: %w: GRANT CREATE, USAGE ON SCHEMA %s TO <user>", s, err, s))
			tx.Exec(ctx, "ROLLBACK TO SAVEPOINT s")
			continue
		}
		tx.Exec(ctx, "RELEASE SAVEPOINT s")
	}
	return errs
}
