package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	pq "github.com/parquet-go/parquet-go"

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
	final  map[string]*keyed
	counts map[string]*counted
	buf    []byte
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
	} else if ev.Schema != tc.schema && !compatibleSchema(tc.schema, ev.Schema) {
		return fmt.Errorf("table %s changed its columns at %s, after the base was taken; rebuild with --from-source so that the extract has the new columns", ev.Table, ev.Pos)
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
	tc.buf = tc.buf[:0]
	for i, ci := range tc.schema.PK {
		if i > 0 {
			tc.buf = append(tc.buf, ',')
		}
		tc.buf = formats.AppendJSON(tc.buf, tc.schema.Columns[ci].Type, r[ci])
	}
	return string(tc.buf)
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

// mergeTable streams the base files' rows through the net changes: a base
// row whose key changed is replaced by its last image or dropped, and keys
// the base did not have are emitted at the end, in key order.
func mergeTable(ctx context.Context, store lake.Store, files []string, s *formats.TableSchema, tc *tableChanges, emit func(formats.Row) error) error {
	pk := len(s.PK) > 0
	for r, err := range tableRows(ctx, store, files, s) {
		if err != nil {
			return err
		}
		if pk {
			k := tc.key(r)
			if c, ok := tc.final[k]; ok {
				delete(tc.final, k)
				if !c.deleted {
					if err := emit(c.row); err != nil {
						return err
					}
				}
				continue
			}
		} else if len(tc.counts) > 0 {
			if c := tc.counts[tc.rowKey(r)]; c != nil && c.n < 0 {
				c.n++
				continue
			}
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tc.final)) {
		if c := tc.final[k]; !c.deleted {
			if err := emit(c.row); err != nil {
				return err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tc.counts)) {
		c := tc.counts[k]
		for ; c.n > 0; c.n-- {
			if err := emit(c.row); err != nil {
				return err
			}
		}
	}
	return nil
}

// tableRows yields the canonical rows of Parquet files written from s's
// columns (snapshot.SchemaOf), file after file.
func tableRows(ctx context.Context, store lake.Store, files []string, s *formats.TableSchema) iter.Seq2[formats.Row, error] {
	return func(yield func(formats.Row, error) bool) {
		for _, key := range files {
			if !fileRows(ctx, store, key, s, yield) {
				return
			}
		}
	}
}

func fileRows(ctx context.Context, store lake.Store, key string, s *formats.TableSchema, yield func(formats.Row, error) bool) bool {
	fail := func(err error) bool {
		yield(nil, fmt.Errorf("reading %s: %w", key, err))
		return false
	}
	f, size, cleanup, err := openLocal(ctx, store, key)
	if err != nil {
		return fail(err)
	}
	defer cleanup()
	pf, err := pq.OpenFile(f, size)
	if err != nil {
		return fail(err)
	}
	if n := len(pf.Schema().Fields()); n != len(s.Columns) {
		return fail(fmt.Errorf("file has %d columns, the table %d", n, len(s.Columns)))
	}
	buf := make([]pq.Row, 256)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, pr := range buf[:n] {
				r := make(formats.Row, len(s.Columns))
				for _, v := range pr {
					c := v.Column()
					x, cerr := formats.FromParquet(s.Columns[c].Type, v)
					if cerr != nil {
						rows.Close()
						return fail(cerr)
					}
					r[c] = x
				}
				if !yield(r, nil) {
					rows.Close()
					return false
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rows.Close()
				return fail(err)
			}
		}
		rows.Close()
	}
	return true
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
