package snapshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/tidemark/tidemark/batch/lake"
)

// Options configure a partitioned snapshot Writer.
type Options struct {
	FileOptions
	// MaxOpenFiles bounds the partition files open at once, each holding
	// its current row group in memory. Writing a row of another partition
	// when this many are open finishes the least recently written file; the
	// partition's later rows go to a new part file. 0 means 16.
	MaxOpenFiles int
	// MaxFileRows starts a new part file of a partition after this many
	// rows. 0 means no limit.
	MaxFileRows int64
}

// File is one Parquet file a Writer stored.
type File struct {
	Key       string `json:"key"`       // the object key in the lake
	Partition string `json:"partition"` // its folder path below the prefix ("dt=2024-05-01"), "" when unpartitioned
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
}

// Writer writes a table's rows, given as Arrow record batches, as Parquet
// files under prefix/<partition folders>/part-NNNNN.parquet, streaming each
// file to the lake as it is written: memory is bounded by MaxOpenFiles row
// groups, never a whole table.
//
// A Writer is not safe for concurrent use. Close or Abort must be called.
// Files become visible one by one as they finish; the caller publishes
// the set through a manifest written after Close (see package batch).
type Writer struct {
	store  lake.Store
	prefix string
	schema *Schema
	part   *partitioner
	opts   Options
	open   map[string]*partFile
	groups []rowGroup     // scratch of Write
	index  map[string]int // scratch of Write
	tick   int64
	seq    map[string]int
	files  []File
}

type partFile struct {
	partition string
	key       string
	fw        *FileWriter
	bw        *bufio.Writer
	pw        *io.PipeWriter
	count     *countWriter
	done      chan error
	used      int64
}

// NewWriter starts a snapshot under prefix ("tables/shop/orders/gen=3").
func NewWriter(store lake.Store, prefix string, s *Schema, spec PartitionSpec, o Options) (*Writer, error) {
	p, err := newPartitioner(spec, s.arrow)
	if err != nil {
		return nil, err
	}
	if _, err := o.Codec.codec(); err != nil {
		return nil, err
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = 16
	}
	return &Writer{
		store: store, prefix: prefix, schema: s, part: p, opts: o,
		open: map[string]*partFile{}, seq: map[string]int{}, index: map[string]int{},
	}, nil
}

// Write appends rec's rows to their partitions' files. Uploads started by
// Write run under ctx until their file is finished.
func (w *Writer) Write(ctx context.Context, rec arrow.Record) error {
	return w.WriteRows(ctx, rec, nil)
}

// WriteRows appends the rows of rec at the given indexes (nil: every row)
// to their partitions' files.
func (w *Writer) WriteRows(ctx context.Context, rec arrow.Record, rows []int32) error {
	n := int(rec.NumRows())
	if rows != nil {
		n = len(rows)
	}
	if n == 0 {
		return nil
	}
	if len(w.part.fields) == 0 {
		f, err := w.file(ctx, "")
		if err != nil {
			return err
		}
		return w.writeRows(ctx, f, rec, rows)
	}
	// Group the rows by partition first, then write group by group: a
	// file is done with this batch before the next one opens, so at most
	// MaxOpenFiles are ever open.
	groups := w.groups[:0]
	index := w.index
	clear(index)
	for j := 0; j < n; j++ {
		i := j
		if rows != nil {
			i = int(rows[j])
		}
		p, err := w.part.path(rec, i)
		if err != nil {
			return fmt.Errorf("partitioning %s: %w", w.prefix, err)
		}
		gi, ok := index[string(p)]
		if !ok {
			gi = len(groups)
			index[string(p)] = gi
			if gi < cap(groups) {
				groups = groups[:gi+1]
				groups[gi].path, groups[gi].rows = string(p), groups[gi].rows[:0]
			} else {
				groups = append(groups, rowGroup{path: string(p)})
			}
		}
		groups[gi].rows = append(groups[gi].rows, int32(i))
	}
	w.groups = groups
	for _, g := range groups {
		f, err := w.file(ctx, g.path)
		if err != nil {
			return err
		}
		if err := w.writeRows(ctx, f, rec, g.rows); err != nil {
			return err
		}
	}
	return nil
}

type rowGroup struct {
	path string
	rows []int32
}

func (w *Writer) writeRows(ctx context.Context, f *partFile, rec arrow.Record, rows []int32) error {
	for {
		take := rows
		if max := w.opts.MaxFileRows; max > 0 {
			room := max - f.fw.Rows()
			n := int64(len(rows))
			if rows == nil {
				n = rec.NumRows()
			}
			if room < n {
				if rows == nil {
					rows = make([]int32, n)
					for i := range rows {
						rows[i] = int32(i)
					}
				}
				take = rows[:room]
			}
		}
		if err := f.fw.WriteRows(rec, take); err != nil {
			return fmt.Errorf("writing %s: %w", f.key, err)
		}
		if take == nil || len(take) == len(rows) {
			return nil
		}
		rows = rows[len(take):]
		partition := f.partition
		if err := w.finish(f); err != nil {
			return err
		}
		var err error
		if f, err = w.file(ctx, partition); err != nil {
			return err
		}
	}
}

// file returns the open file of partition, opening one (and finishing the
// least recently used file if too many are open).
func (w *Writer) file(ctx context.Context, partition string) (*partFile, error) {
	w.tick++
	if f := w.open[partition]; f != nil {
		f.used = w.tick
		return f, nil
	}
	if len(w.open) >= w.opts.MaxOpenFiles {
		var lru *partFile
		for _, f := range w.open {
			if lru == nil || f.used < lru.used {
				lru = f
			}
		}
		if err := w.finish(lru); err != nil {
			return nil, err
		}
	}
	seq := w.seq[partition]
	w.seq[partition] = seq + 1
	key := path.Join(w.prefix, partition, fmt.Sprintf("part-%05d.parquet", seq))
	pr, pw := io.Pipe()
	f := &partFile{partition: partition, key: key, pw: pw, done: make(chan error, 1), used: w.tick}
	f.count = &countWriter{w: pw}
	f.bw = bufio.NewWriterSize(f.count, 256<<10)
	fw, err := NewFileWriter(f.bw, w.schema, w.opts.FileOptions)
	if err != nil {
		return nil, err
	}
	f.fw = fw
	go func() {
		err := w.store.Put(ctx, key, pr)
		pr.CloseWithError(err) // unblock the writer if Put gave up early
		f.done <- err
	}()
	w.open[partition] = f
	return f, nil
}

// finish completes f's Parquet file and waits until the lake has it.
func (w *Writer) finish(f *partFile) error {
	delete(w.open, f.partition)
	err := f.fw.Close()
	if err == nil {
		err = f.bw.Flush()
	}
	if err != nil {
		f.pw.CloseWithError(err)
		<-f.done
		return fmt.Errorf("finishing %s: %w", f.key, err)
	}
	f.pw.Close()
	if err := <-f.done; err != nil {
		return fmt.Errorf("storing %s: %w", f.key, err)
	}
	w.files = append(w.files, File{Key: f.key, Partition: f.partition, Rows: f.fw.Rows(), Bytes: f.count.n})
	return nil
}

// Close finishes every open file and returns all files written, sorted by
// key. A snapshot with no rows has no files.
func (w *Writer) Close() ([]File, error) {
	var errs []error
	for _, f := range w.openFiles() {
		if err := w.finish(f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(w.files, func(i, j int) bool { return w.files[i].Key < w.files[j].Key })
	return w.files, nil
}

// Abort stops every open file's upload, so that none becomes visible.
// Files already finished stay in the lake; the caller removes the prefix.
func (w *Writer) Abort() {
	for _, f := range w.openFiles() {
		delete(w.open, f.partition)
		f.pw.CloseWithError(errAborted)
		<-f.done
	}
}

var errAborted = errors.New("snapshot writer aborted")

func (w *Writer) openFiles() []*partFile {
	fs := make([]*partFile, 0, len(w.open))
	for _, f := range w.open {
		fs = append(fs, f)
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].key < fs[j].key })
	return fs
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
