package redshift

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// This file builds every SQL text the loader sends, as pure functions of
// their inputs, so that testdata/*.sql holds them (golden tests).

// maxIdentifier is Redshift's identifier limit in bytes; longer names are
// truncated by Redshift silently, so they are refused here instead.
const maxIdentifier = 127

// ErrUnsafeLiteral: a value the loader would put in a SQL literal holds a
// character it does not quote (a backslash or a control character:
// Redshift reads backslash escapes in literals, PostgreSQL does not).
var ErrUnsafeLiteral = errors.New("unsafe character in a SQL literal")

// quoteIdent quotes a Redshift identifier, doubling any '"'.
func quoteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// qualified is "schema"."name".
func qualified(schema, name string) string { return quoteIdent(schema) + "." + quoteIdent(name) }

// literal quotes s as a string literal, refusing what Redshift and
// PostgreSQL would read differently.
func literal(s string) (string, error) {
	for _, r := range s {
		if r == '\\' || r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: %q", ErrUnsafeLiteral, s)
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

// Keys are a table's Redshift sort and distribution keys; empty means
// Redshift's AUTO choices.
type Keys struct {
	SortKeys []string
	DistKey  string
}

// CreateTableSQL is the CREATE TABLE of a per-generation table: the
// columns in the Parquet files' order with formats.RedshiftType (COPY
// matches columns by position and count), NOT NULL where the source has
// it, and the keys. A key naming no column is refused.
//
// pk (indexes into cols) becomes a PRIMARY KEY: Redshift does not enforce
// it, its planner uses it; the rows are unique by construction.
func CreateTableSQL(schema, table string, cols []formats.Column, pk []int, keys Keys) (string, error) {
	if len(table) > maxIdentifier {
		return "", fmt.Errorf("table name %q is longer than Redshift's %d bytes", table, maxIdentifier)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (", qualified(schema, table))
	names := make([]string, len(cols))
	for i, c := range cols {
		typ := formats.RedshiftType(c.Type)
		if typ == "" {
			return "", fmt.Errorf("column %s: type %v has no Redshift mapping", c.Name, c.Type)
		}
		if len(c.Name) > maxIdentifier {
			return "", fmt.Errorf("column name %q is longer than Redshift's %d bytes", c.Name, maxIdentifier)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.Name) + " " + typ)
		if !c.Nullable {
			b.WriteString(" NOT NULL")
		}
		names[i] = c.Name
	}
	if len(pk) > 0 {
		q := make([]string, len(pk))
		for i, k := range pk {
			if k < 0 || k >= len(cols) {
				return "", fmt.Errorf("primary key column %d of %d", k, len(cols))
			}
			q[i] = quoteIdent(cols[k].Name)
		}
		fmt.Fprintf(&b, ", PRIMARY KEY (%s)", strings.Join(q, ", "))
	}
	b.WriteString(")")
	if keys.DistKey != "" {
		if !slices.Contains(names, keys.DistKey) {
			return "", fmt.Errorf("dist_key %q is not a column of the table", keys.DistKey)
		}
		fmt.Fprintf(&b, " DISTSTYLE KEY DISTKEY(%s)", quoteIdent(keys.DistKey))
	}
	if len(keys.SortKeys) > 0 {
		q := make([]string, len(keys.SortKeys))
		for i, k := range keys.SortKeys {
			if !slices.Contains(names, k) {
				return "", fmt.Errorf("sort_keys: %q is not a column of the table", k)
			}
			q[i] = quoteIdent(k)
		}
		fmt.Fprintf(&b, " COMPOUND SORTKEY(%s)", strings.Join(q, ", "))
	}
	return b.String(), nil
}

// DropTableSQL drops a per-generation table; it never runs inside the swap.
func DropTableSQL(schema, table string) string {
	return "DROP TABLE IF EXISTS " + qualified(schema, table)
}

// CreateSchemaSQL creates a schema when it is missing.
func CreateSchemaSQL(schema string) string {
	return "CREATE SCHEMA IF NOT EXISTS " + quoteIdent(schema)
}

// ManifestEntry is one file of a COPY manifest.
type ManifestEntry struct {
	URL       string `json:"url"`
	Mandatory bool   `json:"mandatory"`
	Meta      struct {
		ContentLength int64 `json:"content_length"`
	} `json:"meta"`
}

// Manifest is a COPY manifest: exactly the files listed, each once
// (Redshift loads a file listed twice twice), each mandatory (a missing
// file fails the COPY rather than loading fewer rows), each with
// meta.content_length (required for Parquet).
type Manifest struct {
	Entries []ManifestEntry `json:"entries"`
}

// ManifestFile is a Parquet file for a manifest: its s3:// URL and size.
type ManifestFile struct {
	URL   string
	Bytes int64
}

// ManifestJSON renders the manifest of files, refusing a file listed twice
// or without a size.
func ManifestJSON(files []ManifestFile) ([]byte, error) {
	m := Manifest{Entries: []ManifestEntry{}}
	seen := map[string]bool{}
	for _, f := range files {
		if !strings.HasPrefix(f.URL, "s3://") {
			return nil, fmt.Errorf("manifest file %q: not an s3:// URL", f.URL)
		}
		if seen[f.URL] {
			return nil, fmt.Errorf("manifest file %s listed twice", f.URL)
		}
		if f.Bytes <= 0 {
			return nil, fmt.Errorf("manifest file %s: size %d, want the object's content length", f.URL, f.Bytes)
		}
		seen[f.URL] = true
		e := ManifestEntry{URL: f.URL, Mandatory: true}
		e.Meta.ContentLength = f.Bytes
		m.Entries = append(m.Entries, e)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// CopySQL loads a per-generation table from a manifest of Parquet files.
// COPY from Parquet takes no column list semantics beyond position, no
// MAXERROR and no TRUNCATECOLUMNS: the table's columns must be the files'.
func CopySQL(schema, table, manifestURL, iamRole string) (string, error) {
	m, err := literal(manifestURL)
	if err != nil {
		return "", err
	}
	r, err := literal(iamRole)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("COPY %s FROM %s IAM_ROLE %s FORMAT AS PARQUET MANIFEST", qualified(schema, table), m, r), nil
}

// ControlTableSQL creates the control table: one row per swapped-in
// generation; the loaded generation is the highest, the fence the highest
// token any swap carried.
func ControlTableSQL(schema, table string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", qualified(schema, table))
	for i, c := range controlColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(c.name) + " " + c.typ)
	}
	b.WriteString(")")
	return b.String()
}

// controlColumns are the control table's columns. A column added in a
// later version is added to an existing table by AddColumnSQL; so every
// column but generation is nullable (Redshift cannot add a NOT NULL column
// without a default).
var controlColumns = []struct{ name, typ string }{
	{"generation", "BIGINT NOT NULL"},
	{"cut", "VARCHAR(1024)"},
	{"gtid", "VARCHAR(65535)"},
	{"cut_time", "TIMESTAMPTZ"},
	{"loaded_at", "TIMESTAMPTZ"},
	{"rows", "VARCHAR(65535)"},
	{"fence", "BIGINT"},
}

// AddColumnSQL adds one column to a table, outside any transaction
// (Redshift takes one column per ALTER TABLE and refuses ALTER TABLE ADD
// COLUMN of a column already there, hence the caller's check first).
func AddColumnSQL(schema, table, column, typ string) string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", qualified(schema, table), quoteIdent(column), typ)
}

// FenceSQL raises the stored fence of the loaded generation (a replay
// with a higher token), in a batch after LOCK.
func FenceSQL(schema, table string, generation, fence uint64) string {
	return fmt.Sprintf("UPDATE %s SET %s = %d WHERE %s = %d", qualified(schema, table), quoteIdent("fence"), fence, quoteIdent("generation"), generation)
}

// CountGuardSQL fails the transaction unless table holds rows rows: a
// per-generation table is committed only with exactly the manifest's rows.
func CountGuardSQL(schema, table string, rows int64) string {
	return fmt.Sprintf("SELECT CAST(CASE WHEN COUNT(*) <> %d THEN 'tidemark: %s holds another row count than the generation manifest''s %d' ELSE '0' END AS INTEGER) FROM %s",
		rows, strings.ReplaceAll(table, "'", "''"), rows, qualified(schema, table))
}

// SwapTable is one stable name a swap points at its per-generation table.
type SwapTable struct {
	Name     string // the stable name, in the schema readers query
	GenTable string // the per-generation table, in the gen schema
	Columns  []string
	Rows     int64
}

// Swap is what one swap transaction does.
type Swap struct {
	Schema     string // the stable names' and the control table's schema
	GenSchema  string // the per-generation tables' schema
	Control    string // the control table's name
	Generation uint64
	Cut, GTID  string
	CutTime    time.Time
	LoadedAt   time.Time
	// Fence is the caller's fencing token (0: none); the control row keeps
	// max(Fence, the highest seen), StoredFence.
	Fence, StoredFence uint64
	Tables             []SwapTable
	// Drop are stable names of the loaded generation that this one lacks.
	Drop []string
}

// MaxBatchStatements is the Data API's limit on one BatchExecuteStatement.
const MaxBatchStatements = 40

// maxProcedureBytes keeps a swap procedure's CREATE below the Data API's
// 100 kB limit on one statement's text.
const maxProcedureBytes = 90 << 10

// SwapPlan is a swap: Procedures run first, each on its own (outside any
// transaction; they change nothing a reader sees), then Batch as ONE
// transaction, then Cleanup, each on its own.
type SwapPlan struct {
	Procedures []string
	Batch      []string
	Cleanup    []string
}

// SwapSQL returns the swap as the statements of one transaction (one
// BatchExecuteStatement):
//
//  1. LOCK the control table first, so that two loaders serialize on it
//     before either takes its snapshot (a lock taken later still lets
//     Redshift abort one with error 1023);
//  2. a guard that fails the transaction (an invalid integer cast) when the
//     target holds this generation or a newer one, or a higher fencing
//     token: nothing after it runs, nothing changes;
//  3. drop the stable views (this generation's names and those it lacks),
//     then create each as a late-binding view (WITH NO SCHEMA BINDING:
//     it names no table's identity, so the per-generation tables can be
//     dropped later) over its per-generation table;
//  4. insert the control row.
//
// It never holds TRUNCATE, ALTER TABLE APPEND or VACUUM, which commit
// implicitly or cannot run in a transaction.
//
// A swap of more names than one batch holds (MaxBatchStatements) puts the
// view statements of step 3 into stored procedures in the gen schema,
// created before the batch and CALLed inside it: a procedure called in a
// transaction block runs in that transaction, so the swap stays one
// transaction of any size. Cleanup drops them.
func SwapSQL(s Swap) (SwapPlan, error) {
	ctl := qualified(s.Schema, s.Control)
	sqls := []string{"LOCK " + ctl}
	guard := fmt.Sprintf("SELECT CAST(CASE WHEN MAX(%[1]s) >= %[2]d THEN 'tidemark: the target holds generation %[2]d or a newer one'",
		quoteIdent("generation"), s.Generation)
	if s.Fence > 0 {
		guard += fmt.Sprintf(" WHEN MAX(%s) > %d THEN 'tidemark: fencing token %d is superseded'", quoteIdent("fence"), s.Fence, s.Fence)
	}
	guard += " ELSE '0' END AS INTEGER) FROM " + ctl
	sqls = append(sqls, guard)
	var names []string
	for _, t := range s.Tables {
		names = append(names, qualified(s.Schema, t.Name))
	}
	for _, n := range s.Drop {
		names = append(names, qualified(s.Schema, n))
	}
	var views []string
	if len(names) > 0 {
		views = append(views, "DROP VIEW IF EXISTS "+strings.Join(names, ", "))
	}
	counts := map[string]int64{}
	for _, t := range s.Tables {
		if len(t.Columns) == 0 {
			return SwapPlan{}, fmt.Errorf("swap of %s: no columns", t.Name)
		}
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = quoteIdent(c)
		}
		views = append(views, fmt.Sprintf("CREATE VIEW %s AS SELECT %s FROM %s WITH NO SCHEMA BINDING",
			qualified(s.Schema, t.Name), strings.Join(cols, ", "), qualified(s.GenSchema, t.GenTable)))
		counts[t.Name] = t.Rows
	}
	rows, err := json.Marshal(counts)
	if err != nil {
		return SwapPlan{}, err
	}
	vals := make([]string, 0, 4)
	for _, v := range []string{s.Cut, s.GTID, string(rows)} {
		l, err := literal(v)
		if err != nil {
			return SwapPlan{}, fmt.Errorf("control row: %w", err)
		}
		vals = append(vals, l)
	}
	cutTime := "NULL"
	if !s.CutTime.IsZero() {
		cutTime = timestampLiteral(s.CutTime)
	}
	insert := fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s, %s, %s, %s) VALUES (%d, %s, %s, %s, %s, %s, %d)", ctl,
		quoteIdent("generation"), quoteIdent("cut"), quoteIdent("gtid"), quoteIdent("cut_time"), quoteIdent("loaded_at"),
		quoteIdent("rows"), quoteIdent("fence"),
		s.Generation, vals[0], vals[1], cutTime, timestampLiteral(s.LoadedAt), vals[2], max(s.Fence, s.StoredFence))
	var plan SwapPlan
	if len(sqls)+len(views)+1 <= MaxBatchStatements {
		plan.Batch = append(append(sqls, views...), insert)
		return plan, nil
	}
	// Too many for one batch: the view statements go into procedures.
	var body strings.Builder
	flush := func() {
		if body.Len() == 0 {
			return
		}
		proc := qualified(s.GenSchema, fmt.Sprintf("tidemark_swap_g%d_%d", s.Generation, len(plan.Procedures)+1))
		plan.Procedures = append(plan.Procedures, "CREATE OR REPLACE PROCEDURE "+proc+"() AS $$\nBEGIN\n"+body.String()+"END;\n$$ LANGUAGE plpgsql")
		sqls = append(sqls, "CALL "+proc+"()")
		plan.Cleanup = append(plan.Cleanup, "DROP PROCEDURE "+proc+"()")
		body.Reset()
	}
	for _, v := range views {
		if strings.Contains(v, "$$") {
			return SwapPlan{}, fmt.Errorf("swap of generation %d: a name holds \"$$\", which a procedure body cannot: %s", s.Generation, v)
		}
		if body.Len()+len(v) > maxProcedureBytes {
			flush()
		}
		body.WriteString("  " + v + ";\n")
	}
	flush()
	if len(sqls)+1 > MaxBatchStatements {
		return SwapPlan{}, fmt.Errorf("swap of generation %d: %d procedures, more than one batch holds: load fewer tables into this target or reach it by dsn", s.Generation, len(plan.Procedures))
	}
	plan.Batch = append(sqls, insert)
	return plan, nil
}

// timestampLiteral is t as a TIMESTAMPTZ literal in UTC, microseconds.
func timestampLiteral(t time.Time) string {
	return "CAST('" + t.UTC().Format("2006-01-02 15:04:05.999999") + "+00' AS TIMESTAMPTZ)"
}

// CurrentSQL reads the loaded generation's control row and the highest
// fence.
func CurrentSQL(schema, table string) string {
	ctl := qualified(schema, table)
	return fmt.Sprintf("SELECT %s, %s, %s, %s, %s, %s, (SELECT MAX(%s) FROM %s) FROM %s ORDER BY %s DESC LIMIT 1",
		quoteIdent("generation"), quoteIdent("cut"), quoteIdent("gtid"),
		"CAST("+quoteIdent("cut_time")+" AS VARCHAR)", "CAST("+quoteIdent("loaded_at")+" AS VARCHAR)", quoteIdent("rows"),
		quoteIdent("fence"), ctl, ctl, quoteIdent("generation"))
}

// ListTablesSQL lists the tables of a schema (information_schema works on
// provisioned and Serverless Redshift alike).
func ListTablesSQL(schema string) (string, error) {
	l, err := literal(schema)
	if err != nil {
		return "", err
	}
	return "SELECT table_name FROM information_schema.tables WHERE table_schema = " + l + " AND table_type = 'BASE TABLE' ORDER BY table_name", nil
}

// ListColumnsSQL lists a table's column names.
func ListColumnsSQL(schema, table string) (string, error) {
	ls, err := literal(schema)
	if err != nil {
		return "", err
	}
	lt, err := literal(table)
	if err != nil {
		return "", err
	}
	return "SELECT column_name FROM information_schema.columns WHERE table_schema = " + ls + " AND table_name = " + lt + " ORDER BY ordinal_position", nil
}

// LoadErrorsSQL reads the rows sys_load_error_detail has for a COPY's
// query id.
func LoadErrorsSQL(queryID int64) string {
	return fmt.Sprintf("SELECT TRIM(file_name), line_number, TRIM(column_name), TRIM(column_type), error_code, TRIM(error_message) FROM sys_load_error_detail WHERE query_id = %d ORDER BY start_time LIMIT 10", queryID)
}
