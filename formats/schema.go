package formats

import "strings"

// Kind is a MySQL/MariaDB column type family. The type map (types.go) gives,
// per Kind, the canonical Go value and the Arrow, Parquet, PostgreSQL,
// Redshift and Athena types.
type Kind uint8

const (
	KindInvalid   Kind = iota
	KindTinyInt        // TINYINT (1 byte)
	KindSmallInt       // SMALLINT
	KindMediumInt      // MEDIUMINT
	KindInt            // INT
	KindBigInt         // BIGINT
	KindDecimal        // DECIMAL(P,S): exact
	KindFloat          // FLOAT
	KindDouble         // DOUBLE
	KindDate           // DATE
	KindDateTime       // DATETIME(fsp)
	KindTimestamp      // TIMESTAMP(fsp)
	KindTime           // TIME(fsp)
	KindYear           // YEAR
	KindChar           // CHAR
	KindVarChar        // VARCHAR
	KindText           // TINYTEXT..LONGTEXT
	KindBinary         // BINARY
	KindVarBinary      // VARBINARY
	KindBlob           // TINYBLOB..LONGBLOB
	KindEnum           // ENUM
	KindSet            // SET
	KindBit            // BIT(M)
	KindJSON           // JSON
	KindGeometry       // GEOMETRY and its subtypes, as WKB
)

// Type is a column's full type: its Kind and the attributes that change how
// values decode or map.
type Type struct {
	Kind      Kind
	Unsigned  bool     // integer kinds
	Precision int      // DECIMAL precision; BIT width; CHAR/BINARY length in characters/bytes
	Scale     int      // DECIMAL scale
	FSP       int      // fractional seconds precision of DATETIME/TIMESTAMP/TIME (0..6)
	Elems     []string // ENUM / SET members, in declaration order
}

// Column is one column of a table schema.
type Column struct {
	Name     string
	Type     Type
	Nullable bool
}

// TableSchema is a table's columns, in ordinal order, and its primary key.
// A schema value is immutable once built: a DDL produces a new one, so an
// event keeps pointing at the schema it was written under.
type TableSchema struct {
	Table   TableID
	Columns []Column
	// PK holds the ordinals of the primary key columns, in key order; empty
	// when the table has none (such tables can feed aggregates but not
	// mirrors).
	PK []int
}

// ColumnIndex returns the ordinal of the named column (case-insensitive, as
// MySQL column names are), or -1.
func (s *TableSchema) ColumnIndex(name string) int {
	for i, c := range s.Columns {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}
