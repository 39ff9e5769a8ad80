package batch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

// extract takes a consistent snapshot of the tables from src into staging
// Parquet files (staged by the tables' partitions), the base of a
// from-source rebuild or of the tables a rebuild re-extracts, and returns
// its position; every returned baseTable is exact at it.
func extract(ctx context.Context, store lake.Store, src Source, g uint64, which []Table, o Options, log *slog.Logger) (formats.Position, map[formats.TableID]*baseTable, error) {
	type staged struct {
		schema  *formats.TableSchema
		w       *snapshot.Writer
		batcher *rowBatcher
		prog    *progress
	}
	tables := map[formats.TableID]*staged{}
	ids := make([]formats.TableID, len(which))
	partitions := map[formats.TableID][]string{}
	for i, t := range which {
		ids[i] = t.ID
		tables[t.ID] = &staged{}
		partitions[t.ID] = t.Partition
	}
	abort := func() {
		for _, st := range tables {
			if st.w != nil {
				st.w.Abort()
				st.batcher.release()
				st.w = nil
			}
		}
	}
	var current *staged
	finishTable := func(st *staged) error {
		if err := st.batcher.flush(); err != nil {
			return err
		}
		st.prog.finish("TableExtracted")
		return nil
	}
	start := time.Now()
	emit := func(ctx context.Context, s *formats.TableSchema, r formats.Row) error {
		st := tables[s.Table]
		if st == nil {
			return fmt.Errorf("the source emitted a row of %s, which was not asked for", s.Table)
		}
		if st.schema == nil {
			sch, err := snapshot.SchemaOf(s.Columns)
			if err != nil {
				return fmt.Errorf("table %s: %w", s.Table, err)
			}
			// Staged by the table's own partitions: the snapshot then reads
			// the extract partition by partition and writes one file per
			// partition, whatever order the source returned rows in.
			spec, err := snapshot.ParsePartitionSpec(partitions[s.Table], s)
			if err != nil {
				return err
			}
			w, err := snapshot.NewWriter(store, stagingTable(g, s.Table), sch,
				spec, snapshot.Options{FileOptions: snapshot.FileOptions{Codec: snapshot.Snappy, RowGroupRows: o.RowGroupRows},
					MaxOpenFiles: 4 * max(o.MaxOpenFiles, 16)})
			if err != nil {
				return err
			}
			st.schema, st.w = s, w
			st.batcher = newRowBatcher(sch, s, o.BatchRows, func(rec arrow.Record) error { return w.Write(ctx, rec) })
			st.prog = newProgress(log, "table", s.Table.String(), 0, o.ProgressEvery)
		} else if s != st.schema && !compatibleSchema(st.schema, s) {
			return fmt.Errorf("table %s: the source changed its schema during the extract", s.Table)
		}
		if current != st && current != nil {
			if err := finishTable(current); err != nil {
				return err
			}
		}
		current = st
		st.prog.add(1)
		return st.batcher.add(r)
	}
	// A table extracted again within one rebuild starts from an empty
	// staging folder.
	for _, id := range ids {
		if _, err := deleteUnder(ctx, store, stagingTable(g, id)+"/"); err != nil {
			return formats.Position{}, nil, err
		}
	}
	log.Info("ExtractStarted", "event", "ExtractStarted", "tables", len(ids))
	pos, err := src.Snapshot(ctx, ids, emit)
	if err == nil && current != nil {
		err = finishTable(current)
	}
	if err != nil {
		abort()
		return formats.Position{}, nil, fmt.Errorf("extracting the tables from the source: %w", err)
	}
	var empty []formats.TableID
	for _, t := range which {
		if tables[t.ID].schema == nil {
			empty = append(empty, t.ID)
		}
	}
	known := map[formats.TableID]*formats.TableSchema{}
	if ss, ok := src.(SchemaSource); ok && len(empty) > 0 {
		if known, err = ss.Schemas(ctx, empty); err != nil {
			abort()
			return formats.Position{}, nil, fmt.Errorf("reading the schemas of empty tables: %w", err)
		}
	}
	out := map[formats.TableID]*baseTable{}
	var rows int64
	for _, t := range which {
		st := tables[t.ID]
		bt := &baseTable{schema: st.schema, pos: pos, desc: "source"}
		if bt.schema == nil {
			bt.schema = known[t.ID] // nil when the source cannot say
		}
		if st.w != nil {
			files, err := st.w.Close()
			st.batcher.release()
			st.w = nil
			if err != nil {
				abort()
				return formats.Position{}, nil, fmt.Errorf("extracting %s: %w", t.ID, err)
			}
			for _, f := range files {
				bt.files = append(bt.files, f.Key)
				bt.rows += f.Rows
			}
		}
		rows += bt.rows
		out[t.ID] = bt
	}
	log.Info("ExtractCompleted", "event", "ExtractCompleted", "position", pos.String(), "tables", len(ids), "rows", rows,
		"seconds", time.Since(start).Seconds())
	return pos, out, nil
}

func stagingTable(g uint64, t formats.TableID) string {
	return fmt.Sprintf("%s/%s/%s", stagingPrefix(g), t.DB, t.Table)
}
