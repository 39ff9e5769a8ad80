package capture

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/tidemark/tidemark/formats"
)

// querier is what schema reads need: the pool or one connection (inside a
// snapshot's transaction).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ResolveTables returns the captured tables that exist on the source: the
// base tables of Config.Databases and the tables of Config.Tables, sorted
// and without duplicates. A table named in Config.Tables that does not
// exist is an error.
func (c *Capture) ResolveTables(ctx context.Context) ([]formats.TableID, error) {
	seen := map[formats.TableID]bool{}
	var out []formats.TableID
	if len(c.cfg.Databases) > 0 {
		q := "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA IN (" +
			placeholders(len(c.cfg.Databases)) + ")"
		rows, err := c.db.QueryContext(ctx, q, anys(c.cfg.Databases)...)
		if err != nil {
			return nil, fmt.Errorf("listing tables of %s: %w", strings.Join(c.cfg.Databases, ", "), err)
		}
		recs, err := scanAll(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tables of %s: %w", strings.Join(c.cfg.Databases, ", "), err)
		}
		for _, r := range recs {
			t := formats.TableID{DB: r["TABLE_SCHEMA"], Table: r["TABLE_NAME"]}
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	if len(c.cfg.Tables) > 0 {
		existing, err := c.existingTables(ctx, c.db, c.cfg.Tables)
		if err != nil {
			return nil, err
		}
		for _, t := range c.cfg.Tables {
			if !existing[t] {
				return nil, fmt.Errorf("resolving tables: %s is not a base table on the source %s", t, c.addr())
			}
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	slices.SortFunc(out, compareTableID)
	return out, nil
}

func compareTableID(a, b formats.TableID) int {
	if c := strings.Compare(a.DB, b.DB); c != 0 {
		return c
	}
	return strings.Compare(a.Table, b.Table)
}

func (c *Capture) existingTables(ctx context.Context, q querier, tables []formats.TableID) (map[formats.TableID]bool, error) {
	where, args := tablesWhere(tables)
	rows, err := q.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND ("+where+")", args...)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	recs, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	m := map[formats.TableID]bool{}
	for _, r := range recs {
		m[formats.TableID{DB: r["TABLE_SCHEMA"], Table: r["TABLE_NAME"]}] = true
	}
	return m, nil
}

// Schemas reads the current schemas of tables from information_schema
// (column types through formats.ParseColumnType, the primary key from
// STATISTICS), with the column policy applied (Config.Columns: excluded
// columns absent, masked ones MaskedType). A table that does not exist is
// an error.
func (c *Capture) Schemas(ctx context.Context, tables []formats.TableID) (map[formats.TableID]*formats.TableSchema, error) {
	m, err := c.rawSchemas(ctx, c.db, tables)
	if err != nil {
		return nil, err
	}
	if err := c.captured.policy.applySchemas(m); err != nil {
		return nil, fmt.Errorf("reading schemas: %w", err)
	}
	return m, nil
}

// rawSchemas reads the schemas as the source has them, without the column
// policy.
func (c *Capture) rawSchemas(ctx context.Context, q querier, tables []formats.TableID) (map[formats.TableID]*formats.TableSchema, error) {
	out := map[formats.TableID]*formats.TableSchema{}
	if len(tables) == 0 {
		return out, nil
	}
	where, args := tablesWhere(tables)
	rows, err := q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE
		FROM information_schema.COLUMNS WHERE `+where+` ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading columns: %w", err)
	}
	recs, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("reading columns: %w", err)
	}
	for _, r := range recs {
		id := formats.TableID{DB: r["TABLE_SCHEMA"], Table: r["TABLE_NAME"]}
		s := out[id]
		if s == nil {
			s = &formats.TableSchema{Table: id}
			out[id] = s
		}
		t, err := formats.ParseColumnType(r["COLUMN_TYPE"])
		if err != nil {
			return nil, fmt.Errorf("reading schema of %s: column %s: %w", id, r["COLUMN_NAME"], err)
		}
		s.Columns = append(s.Columns, formats.Column{Name: r["COLUMN_NAME"], Type: t, Nullable: r["IS_NULLABLE"] == "YES"})
	}
	rows, err = q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE INDEX_NAME = 'PRIMARY' AND (`+where+`) ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading primary keys: %w", err)
	}
	recs, err = scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("reading primary keys: %w", err)
	}
	for _, r := range recs {
		id := formats.TableID{DB: r["TABLE_SCHEMA"], Table: r["TABLE_NAME"]}
		if s := out[id]; s != nil {
			if i := s.ColumnIndex(r["COLUMN_NAME"]); i >= 0 {
				s.PK = append(s.PK, i)
			}
		}
	}
	for _, t := range tables {
		if out[t] == nil {
			return nil, fmt.Errorf("reading schema of %s: no such table on the source %s", t, c.addr())
		}
	}
	return out, nil
}

// tablesWhere is a WHERE condition matching the given tables by
// TABLE_SCHEMA and TABLE_NAME.
func tablesWhere(tables []formats.TableID) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(tables))
	for i, t := range tables {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString("(TABLE_SCHEMA = ? AND TABLE_NAME = ?)")
		args = append(args, t.DB, t.Table)
	}
	return b.String(), args
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
