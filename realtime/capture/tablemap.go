package capture

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
)

// tableEntry is what the stream knows about one binlog table id: the table
// map event it came from and, for captured tables, the schema built from it.
type tableEntry struct {
	tm       *replication.TableMapEvent
	table    formats.TableID
	captured bool
	schema   *formats.TableSchema
	// proj is the column policy's projection of schema (rows decode with
	// schema, then leave as rows of proj.out); nil when it changes nothing.
	proj *projection
	// body is the raw table map the entry was built from, when it came
	// through observeRaw (tm's optional metadata is then not decoded, so
	// only tm itself, by pointer, may use the entry).
	body []byte
}

// maxCachedTables bounds the table cache of one replication session.
const maxCachedTables = 4096

// tableCache maps binlog table ids to schemas. A table id is reused by the
// server only for the same table definition in practice, but nothing in the
// protocol promises it, so every table map event is compared with the one
// the cached schema was built from and a difference rebuilds the schema.
// Rows therefore always decode with the schema of the table map that
// precedes them in their own transaction.
type tableCache struct {
	byID     map[uint64]*tableEntry
	captured captureSet
}

func newTableCache(captured captureSet) *tableCache {
	return &tableCache{byID: map[uint64]*tableEntry{}, captured: captured}
}

// observe records a table map event and returns the entry rows events of
// its table id will use.
func (c *tableCache) observe(tm *replication.TableMapEvent) (*tableEntry, error) {
	if e, ok := c.byID[tm.TableID]; ok && e.tm == tm {
		return e, nil
	}
	if e, ok := c.byID[tm.TableID]; ok && e.body != nil {
		// Undecoded maps cannot be compared: rows whose table map never
		// went through observeRaw would decode with a guessed schema.
		return nil, fmt.Errorf("rows of table id %d (%s.%s) with a table map the capture did not see", tm.TableID, tm.Schema, tm.Table)
	}
	if e, ok := c.byID[tm.TableID]; ok && sameTableMap(e.tm, tm) {
		e.tm = tm
		return e, nil
	}
	if len(c.byID) >= maxCachedTables {
		// Table ids only grow (DDL, table cache evictions): forget the old
		// ones rather than grow forever. Every transaction carries the table
		// maps it needs, so nothing is lost but the sharing of schema values.
		clear(c.byID)
	}
	e := &tableEntry{
		tm:    tm,
		table: formats.TableID{DB: string(tm.Schema), Table: string(tm.Table)},
	}
	e.captured = c.captured.has(e.table.DB, e.table.Table)
	if e.captured {
		s, err := schemaFromTableMap(tm)
		if err != nil {
			return nil, err
		}
		e.schema = s
		if e.proj, err = c.captured.policy.plan(s); err != nil {
			return nil, err
		}
	}
	c.byID[tm.TableID] = e
	return e, nil
}

// observeRaw records a table map event tm whose optional metadata go-mysql
// did not decode, body being its raw event body: the entry of its table id
// is kept when it was built from the same bytes (the same definition), and
// rebuilt from full(), tm decoded in full, otherwise. Rows events of tm
// then find the entry by tm's pointer (observe).
func (c *tableCache) observeRaw(tm *replication.TableMapEvent, body []byte, full func() (*replication.TableMapEvent, error)) error {
	if e, ok := c.byID[tm.TableID]; ok && e.body != nil && bytes.Equal(e.body, body) {
		e.tm = tm
		return nil
	}
	ftm, err := full()
	if err != nil {
		return err
	}
	if ftm.TableID != tm.TableID {
		return fmt.Errorf("table map parsed again names table id %d, not %d", ftm.TableID, tm.TableID)
	}
	delete(c.byID, tm.TableID)
	e, err := c.observe(ftm)
	if err != nil {
		return err
	}
	e.tm, e.body = tm, body
	return nil
}

// sameTableMap reports whether two table map events describe the same
// table definition.
func sameTableMap(a, b *replication.TableMapEvent) bool {
	if a.TableID != b.TableID || a.ColumnCount != b.ColumnCount ||
		!bytes.Equal(a.Schema, b.Schema) || !bytes.Equal(a.Table, b.Table) ||
		!bytes.Equal(a.ColumnType, b.ColumnType) || !slices.Equal(a.ColumnMeta, b.ColumnMeta) ||
		!bytes.Equal(a.NullBitmap, b.NullBitmap) || !bytes.Equal(a.SignednessBitmap, b.SignednessBitmap) ||
		!slices.Equal(a.DefaultCharset, b.DefaultCharset) || !slices.Equal(a.ColumnCharset, b.ColumnCharset) ||
		!slices.Equal(a.EnumSetDefaultCharset, b.EnumSetDefaultCharset) ||
		!slices.Equal(a.EnumSetColumnCharset, b.EnumSetColumnCharset) ||
		!slices.Equal(a.PrimaryKey, b.PrimaryKey) ||
		!slices.EqualFunc(a.ColumnName, b.ColumnName, bytes.Equal) ||
		!equalStrValues(a.EnumStrValue, b.EnumStrValue) || !equalStrValues(a.SetStrValue, b.SetStrValue) {
		return false
	}
	return true
}

func equalStrValues(a, b [][][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) })
}

// schemaFromTableMap builds a table's schema from a table map event logged
// with binlog_row_metadata=FULL: names, signedness, charsets, ENUM/SET
// members and the primary key all travel in the event, so the schema is
// exactly the one the rows that follow were written under.
func schemaFromTableMap(tm *replication.TableMapEvent) (*formats.TableSchema, error) {
	table := formats.TableID{DB: string(tm.Schema), Table: string(tm.Table)}
	n := int(tm.ColumnCount)
	if len(tm.ColumnName) != n {
		return nil, fmt.Errorf("%w: the binlog's table map of %s carries no column names: "+
			"set binlog_row_metadata=FULL on the source (SET GLOBAL binlog_row_metadata=FULL and "+
			"binlog_row_metadata=FULL in my.cnf; on RDS, in the parameter group)", ErrPrerequisite, table)
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	s := &formats.TableSchema{Table: table, Columns: make([]formats.Column, n)}
	for i := range n {
		bc := formats.BinlogColumn{Type: tm.ColumnType[i], Meta: tm.ColumnMeta[i], Unsigned: unsigned[i], Collation: collations[i]}
		if e, ok := enums[i]; ok {
			bc.Elems = e
		} else if e, ok := sets[i]; ok {
			bc.Elems = e
		}
		t, err := formats.TypeFromBinlog(bc)
		if err != nil {
			return nil, fmt.Errorf("mapping column %s.%s: %w", table, tm.ColumnName[i], err)
		}
		_, nullable := tm.Nullable(i)
		s.Columns[i] = formats.Column{Name: string(tm.ColumnName[i]), Type: t, Nullable: nullable}
	}
	for _, k := range tm.PrimaryKey {
		if int(k) >= n {
			return nil, fmt.Errorf("table map of %s: primary key column %d out of range", table, k)
		}
		s.PK = append(s.PK, int(k))
	}
	return s, nil
}
