package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

type arrowRecord = arrow.Record

// rowBatcher turns canonical rows into Arrow record batches.
type rowBatcher struct {
	b     *array.RecordBuilder
	cols  []formats.Column
	n     int
	max   int
	write func(arrow.Record) error
}

func newRowBatcher(sch *snapshot.Schema, s *formats.TableSchema, max int, write func(arrow.Record) error) *rowBatcher {
	return &rowBatcher{b: array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow()), cols: s.Columns, max: max, write: write}
}

func (rb *rowBatcher) add(r formats.Row) error {
	if len(r) != len(rb.cols) {
		return fmt.Errorf("row has %d values for %d columns", len(r), len(rb.cols))
	}
	for j, c := range rb.cols {
		if err := formats.AppendArrow(rb.b.Field(j), c.Type, r[j]); err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	if rb.n++; rb.n >= rb.max {
		return rb.flush()
	}
	return nil
}

func (rb *rowBatcher) flush() error {
	if rb.n == 0 {
		return nil
	}
	rec := rb.b.NewRecord()
	defer rec.Release()
	rb.n = 0
	return rb.write(rec)
}

func (rb *rowBatcher) release() { rb.b.Release() }

// tableChanges is the net effect of a table's archived changes: per
// primary key the last image (or its deletion); for a table without a
// primary key, per whole row the net count of copies added or removed.
type tableChanges struct {
	schema *formats.TableSchema
	// baseEvo turns the base's rows into rows of schema when DDL came
	// between them (ddl.go); nil when the base has schema's columns.
	baseEvo *evolution
	final   map[string]*keyed
	counts  map[string]*counted
	buf     []byte
}

type keyed struct {
	row     formats.Row // nil: deleted
	deleted bool
}

type counted struct {
	row formats.Row
	n   int64
}

func newTableChanges(s *formats.TableSchema) *tableChanges {
	return &tableChanges{schema: s, final: map[string]*keyed{}, counts: map[string]*counted{}}
}

func (tc *tableChanges) size() int64 { return int64(len(tc.final) + len(tc.counts)) }

func (tc *tableChanges) apply(ev *formats.Event) error {
	if tc.schema == nil {
		tc.schema = ev.Schema
	} else if ev.Schema != tc.schema && columnsChanged(tc.schema, ev.Schema) {
		// replay evolves tc first; this is a guard.
		return fmt.Errorf("table %s changed its columns at %s and its changes were not carried across", ev.Table, ev.Pos)
	}
	if len(tc.schema.PK) > 0 {
		if ev.Before != nil {
			tc.final[tc.key(ev.Before)] = &keyed{deleted: true}
		}
		if ev.After != nil {
			tc.final[tc.key(ev.After)] = &keyed{row: ev.After}
		}
		return nil
	}
	if ev.Before != nil {
		tc.count(ev.Before, -1)
	}
	if ev.After != nil {
		tc.count(ev.After, 1)
	}
	return nil
}

// evolve carries the changes so far across a DDL: their rows become rows
// of e.to, and so will the base's.
func (tc *tableChanges) evolve(e *evolution) error {
	for _, k := range tc.final {
		if k.row != nil {
			r, err := e.row(k.row)
			if err != nil {
				return err
			}
			k.row = r
		}
	}
	old := tc.counts
	tc.schema = e.to
	tc.counts = map[string]*counted{}
	for _, c := range old {
		r, err := e.row(c.row)
		if err != nil {
			return err
		}
		tc.count(r, c.n)
	}
	if tc.baseEvo == nil {
		tc.baseEvo = e
	} else {
		tc.baseEvo = tc.baseEvo.then(e)
	}
	return nil
}

func (tc *tableChanges) count(r formats.Row, n int64) {
	k := tc.rowKey(r)
	c := tc.counts[k]
	if c == nil {
		c = &counted{row: r}
		tc.counts[k] = c
	}
	c.n += n
}

// key encodes r's primary key values.
func (tc *tableChanges) key(r formats.Row) string {
	tc.buf = appendKey(tc.buf[:0], tc.schema, r)
	return string(tc.buf)
}

// appendKey appends the key of row r of schema s: its primary key values
// as JSON, comma-separated.
func appendKey(b []byte, s *formats.TableSchema, r formats.Row) []byte {
	for i, ci := range s.PK {
		if i > 0 {
			b = append(b, ',')
		}
		b = formats.AppendJSON(b, s.Columns[ci].Type, r[ci])
	}
	return b
}

func (tc *tableChanges) rowKey(r formats.Row) string {
	tc.buf = tc.buf[:0]
	for i, c := range tc.schema.Columns {
		if i > 0 {
			tc.buf = append(tc.buf, ',')
		}
		tc.buf = formats.AppendJSON(tc.buf, c.Type, r[i])
	}
	return string(tc.buf)
}

// compatibleSchema reports whether rows of b decode as rows of a: the same
// columns with the same value types. Display attributes (lengths,
// precision of non-decimal types) may differ between the binlog's and
// information_schema's descriptions and do not matter here.
func compatibleSchema(a, b *formats.TableSchema) bool {
	if len(a.Columns) != len(b.Columns) {
		return false
	}
	for i, c := range a.Columns {
		d := b.Columns[i]
		if !strings.EqualFold(c.Name, d.Name) || c.Type.Kind != d.Type.Kind || c.Type.Unsigned != d.Type.Unsigned ||
			c.Type.Scale != d.Type.Scale || formats.ArrowType(c.Type).ID() != formats.ArrowType(d.Type).ID() {
			return false
		}
	}
	return true
}

// merger streams a table's base records through its net changes: a base
// row whose key changed is replaced by its last image (through row) or
// dropped; unchanged rows go to keep column by column, as selections of
// the base records; keys the base did not have are emitted through row at
// the end, in key order. Canonical rows are built only for a table without
// a primary key that has changes; the views read keep's records
// column-wise.
type merger struct {
	schema *formats.TableSchema
	tc     *tableChanges
	keep   func(rec arrow.Record, rows []int32) error
	row    func(formats.Row) error
	sel    []int32
	kb     []byte
}

func (m *merger) record(rec arrow.Record) error {
	n := int(rec.NumRows())
	pk := len(m.schema.PK) > 0
	byKey := pk && len(m.tc.final) > 0
	byRow := !pk && len(m.tc.counts) > 0
	if !byKey && !byRow {
		return m.keep(rec, nil)
	}
	m.sel = m.sel[:0]
	for i := 0; i < n; i++ {
		if byKey {
			if err := m.key(rec, i); err != nil {
				return err
			}
			if c, ok := m.tc.final[string(m.kb)]; ok {
				delete(m.tc.final, string(m.kb))
				if !c.deleted {
					if err := m.row(c.row); err != nil {
						return err
					}
				}
				continue
			}
		}
		if byRow {
			r, err := rowOf(rec, i, m.schema)
			if err != nil {
				return err
			}
			if c := m.tc.counts[m.tc.rowKey(r)]; c != nil && c.n < 0 {
				c.n++
				continue
			}
		}
		m.sel = append(m.sel, int32(i))
	}
	switch len(m.sel) {
	case 0: // m.sel may be nil, which keep would take for every row
		return nil
	case n:
		return m.keep(rec, nil)
	}
	return m.keep(rec, m.sel)
}

// key encodes row i's primary key into m.kb as tableChanges.key does.
// Integer keys, the common case, are read from their arrays without a
// boxed value: AppendJSON writes an int64 or uint64 in decimal too.
func (m *merger) key(rec arrow.Record, i int) error {
	m.kb = m.kb[:0]
	for j, ci := range m.schema.PK {
		if j > 0 {
			m.kb = append(m.kb, ',')
		}
		arr := rec.Column(ci)
		if !arr.IsNull(i) {
			switch a := arr.(type) {
			case *array.Int64:
				m.kb = strconv.AppendInt(m.kb, a.Value(i), 10)
				continue
			case *array.Uint64:
				m.kb = strconv.AppendUint(m.kb, a.Value(i), 10)
				continue
			}
		}
		c := m.schema.Columns[ci]
		v, err := formats.ArrowValue(arr, i, c.Type)
		if err != nil {
			return err
		}
		m.kb = formats.AppendJSON(m.kb, c.Type, v)
	}
	return nil
}

// rest emits the changed keys the base did not have.
func (m *merger) rest() error {
	for _, k := range slices.Sorted(maps.Keys(m.tc.final)) {
		if c := m.tc.final[k]; !c.deleted {
			if err := m.row(c.row); err != nil {
				return err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.tc.counts)) {
		c := m.tc.counts[k]
		for ; c.n > 0; c.n-- {
			if err := m.row(c.row); err != nil {
				return err
			}
		}
	}
	return nil
}

func rowOf(rec arrow.Record, i int, s *formats.TableSchema) (formats.Row, error) {
	r := make(formats.Row, len(s.Columns))
	for j, c := range s.Columns {
		v, err := formats.ArrowValue(rec.Column(j), i, c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		r[j] = v
	}
	return r, nil
}

// tableRecords calls fn with the record batches of Parquet files written
// from s's columns, file after file.
func tableRecords(ctx context.Context, store lake.Store, files []string, s *formats.TableSchema, fn func(arrow.Record) error) error {
	sch, err := snapshot.SchemaOf(s.Columns)
	if err != nil {
		return err
	}
	for _, key := range files {
		f, size, cleanup, err := openLocal(ctx, store, key)
		if err != nil {
			return fmt.Errorf("reading %s: %w", key, err)
		}
		err = snapshot.ReadRecords(f, size, sch, fn)
		cleanup()
		if err != nil {
			return fmt.Errorf("reading %s: %w", key, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// tableRows yields the canonical rows of Parquet files written from s's
// columns, file after file.
func tableRows(ctx context.Context, store lake.Store, files []string, s *formats.TableSchema) iter.Seq2[formats.Row, error] {
	return func(yield func(formats.Row, error) bool) {
		stop := errors.New("stopped")
		err := tableRecords(ctx, store, files, s, func(rec arrow.Record) error {
			for i := 0; i < int(rec.NumRows()); i++ {
				r, err := rowOf(rec, i, s)
				if err != nil {
					return err
				}
				if !yield(r, nil) {
					return stop
				}
			}
			return nil
		})
		if err != nil && err != stop {
			yield(nil, err)
		}
	}
}

// openLocal gives random access to key: the file itself in a local lake,
// else a spooled copy in a temporary file (bounded memory, whatever the
// object's size).
func openLocal(ctx context.Context, store lake.Store, key string) (io.ReaderAt, int64, func(), error) {
	if d, ok := store.(*lake.Dir); ok {
		f, err := os.Open(d.Path(key))
		if err != nil {
			return nil, 0, nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, nil, err
		}
		return f, st.Size(), func() { f.Close() }, nil
	}
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, 0, nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "tidemark-spool-*.parquet")
	if err != nil {
		return nil, 0, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(f, rc)
	if err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	return f, n, cleanup, nil
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
