package formats

import (
	"fmt"
	"time"
)

// Op is the kind of a row change.
type Op uint8

const (
	OpInsert Op = iota + 1
	OpUpdate
	OpDelete
)

func (o Op) String() string {
	switch o {
	case OpInsert:
		return "insert"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// TableID names a source table.
type TableID struct {
	DB    string
	Table string
}

func (t TableID) String() string { return t.DB + "." + t.Table }

// ParseTableID parses "db.table".
func ParseTableID(s string) (TableID, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			if i == 0 || i == len(s)-1 {
				break
			}
			return TableID{DB: s[:i], Table: s[i+1:]}, nil
		}
	}
	return TableID{}, fmt.Errorf("table %q: want db.table", s)
}

// Row is one row's values in its schema's column order. Each value has the
// canonical Go type the type map gives its column (see types.go); nil is SQL
// NULL.
type Row []any

// Event is one committed row change: the envelope every layer speaks.
//
// Before is nil for an insert, After is nil for a delete; an update has both.
// Schema is the table's schema as of the write (from the binlog's table map
// with binlog_row_metadata=FULL, or the snapshot), never today's live schema.
type Event struct {
	Table  TableID
	Op     Op
	Before Row
	After  Row
	Schema *TableSchema
	Pos    Position
}

// Txn is one committed source transaction: its row changes in binlog order
// and its commit position. Capture emits only committed transactions; a
// rolled-back one never appears.
type Txn struct {
	// Pos is the commit position (Row == 0); Events[i].Pos.Row == i+1.
	Pos Position
	// CommitTime is the source's commit timestamp (second precision, as the
	// binlog event header carries it).
	CommitTime time.Time
	// Stamp is the best-known time of the commit, for the lag: CommitTime
	// unless the capture knew better (see Clock). Segments are cut on
	// CommitTime, never on Stamp, so every sink cuts them alike.
	Stamp Stamp
	// Behind reports that the capture held more of the binlog than this
	// transaction when it delivered it (a backlog is being read): a
	// consumer may gather more before it writes, where it would otherwise
	// hurry for the lag's sake.
	Behind bool
	Events []Event
}
