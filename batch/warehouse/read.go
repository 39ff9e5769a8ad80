package warehouse

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
)

// ReadTable calls fn with the Arrow record batches of t's Parquet files,
// file after file, one batch per row group, typed by the type map
// (formats.ArrowType of each column). fn must not keep a record past its
// return. Memory is one row group; a file of an S3 lake is spooled to a
// temporary file first (Parquet needs random access).
func ReadTable(ctx context.Context, store lake.Store, t *Table, fn func(arrow.Record) error) error {
	sch, err := snapshot.SchemaOf(t.FormatsColumns())
	if err != nil {
		return fmt.Errorf("%s %s: %w", t.Kind, t.Source, err)
	}
	for _, f := range t.Files {
		r, size, cleanup, err := openFile(ctx, store, f.Key)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.Key, err)
		}
		err = snapshot.ReadRecords(r, size, sch, fn)
		cleanup()
		if err != nil {
			return fmt.Errorf("reading %s: %w", f.Key, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func openFile(ctx context.Context, store lake.Store, key string) (io.ReaderAt, int64, func(), error) {
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
	f, err := os.CreateTemp("", "tidemark-warehouse-*.parquet")
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
