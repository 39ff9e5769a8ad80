package capture

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// TableDefaults are a table's column defaults as information_schema has
// them now (see ColumnDefaults).
type TableDefaults struct {
	// Columns are keyed by lower-case column name.
	Columns map[string]ColumnDefault
	// DefinedAt is when the table's definition last changed, zero when the
	// server cannot say.
	DefinedAt time.Time
}

// ColumnDefault is one column's default.
type ColumnDefault struct {
	// Default is COLUMN_DEFAULT as the server spells it; nil: no default.
	Default *string
	// Generated: a generated (VIRTUAL, PERSISTENT/STORED) or
	// AUTO_INCREMENT column.
	Generated bool
}

// ColumnDefaults reads table's column defaults from
// information_schema.COLUMNS, and on MariaDB when its definition last
// changed: TABLES.CREATE_TIME, which every ALTER TABLE moves (ALTER COLUMN
// ... SET DEFAULT included). MySQL's data dictionary does not move it on
// every ALTER, so there DefinedAt stays zero. The batch layer reads the
// value older rows got in a column a DDL added from it.
func (c *Capture) ColumnDefaults(ctx context.Context, table formats.TableID) (*TableDefaults, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, table.DB, table.Table)
	if err != nil {
		return nil, fmt.Errorf("reading the column defaults of %s: %w", table, err)
	}
	defer rows.Close()
	td := &TableDefaults{Columns: map[string]ColumnDefault{}}
	for rows.Next() {
		var name, extra string
		var def sql.NullString
		if err := rows.Scan(&name, &def, &extra); err != nil {
			return nil, fmt.Errorf("reading the column defaults of %s: %w", table, err)
		}
		cd := ColumnDefault{}
		if def.Valid {
			cd.Default = &def.String
		}
		ex := strings.ToUpper(extra)
		cd.Generated = strings.Contains(ex, "GENERATED") || strings.Contains(ex, "VIRTUAL") ||
			strings.Contains(ex, "PERSISTENT") || strings.Contains(ex, "STORED") || strings.Contains(ex, "AUTO_INCREMENT")
		td.Columns[strings.ToLower(name)] = cd
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the column defaults of %s: %w", table, err)
	}
	if len(td.Columns) == 0 {
		return nil, fmt.Errorf("reading the column defaults of %s: no such table on the source %s", table, c.addr())
	}
	if c.cfg.Flavor != FlavorMariaDB {
		return td, nil
	}
	var at sql.NullInt64
	if err := c.db.QueryRowContext(ctx, `SELECT UNIX_TIMESTAMP(CREATE_TIME) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, table.DB, table.Table).Scan(&at); err != nil {
		return nil, fmt.Errorf("reading when %s was last altered: %w", table, err)
	}
	if at.Valid {
		td.DefinedAt = time.Unix(at.Int64, 0)
	}
	return td, nil
}
