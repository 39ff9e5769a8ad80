package redshift

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
)

// ErrValueTooLong: a value does not fit its Redshift column (VARCHAR's
// 65,535 bytes, VARBYTE's 16,777,216). COPY from Parquet would fail the
// whole load on it with an opaque error; Preflight names the table, the
// column and the row's key instead. Not retried: the data must change (or
// the table be left out of the target).
var ErrValueTooLong = errors.New("value too long for Redshift")

// Preflight reads, for the columns of t whose source values may be longer
// than their Redshift column holds (formats.RedshiftByteLimit: MEDIUMTEXT,
// LONGTEXT, JSON, long VARCHARs, LONGBLOB, GEOMETRY), every value's length
// from the lake's Parquet, and refuses the first one over the limit with
// the table, the column and the row's primary key. Tables without such
// columns are not read.
func Preflight(ctx context.Context, store lake.Store, t *warehouse.Table) error {
	type check struct {
		col   int
		limit int
	}
	var checks []check
	for i, c := range t.Columns {
		if limit, may := formats.RedshiftByteLimit(c.Type); may {
			checks = append(checks, check{i, limit})
		}
	}
	if len(checks) == 0 || len(t.Files) == 0 {
		return nil
	}
	var found error
	var row int64
	err := warehouse.ReadTable(ctx, store, t, func(rec arrow.Record) error {
		for _, ch := range checks {
			col := rec.Column(ch.col)
			for i := 0; i < col.Len(); i++ {
				if col.IsNull(i) {
					continue
				}
				var n int
				switch a := col.(type) {
				case *array.String:
					n = a.ValueLen(i)
				case *array.Binary:
					n = len(a.Value(i))
				default:
					return fmt.Errorf("column %s: unexpected Arrow array %T", t.Columns[ch.col].Name, col)
				}
				if n > ch.limit {
					found = fmt.Errorf("%s %s column %s: the value of the row with %s is %d bytes, over its Redshift column's %d (%s): %w",
						t.Kind, t.Source, t.Columns[ch.col].Name, rowKey(t, rec, i, row+int64(i)), n, ch.limit,
						formats.RedshiftType(t.Columns[ch.col].Type), ErrValueTooLong)
					return errStop
				}
			}
		}
		row += rec.NumRows()
		return nil
	})
	if found != nil {
		return found
	}
	if err != nil {
		return fmt.Errorf("checking value lengths of %s %s: %w", t.Kind, t.Source, err)
	}
	return nil
}

var errStop = errors.New("stop")

// rowKey renders row i of rec by its primary key, or by its position when
// the table has none.
func rowKey(t *warehouse.Table, rec arrow.Record, i int, pos int64) string {
	if len(t.PK) == 0 {
		return fmt.Sprintf("row number %d (no primary key)", pos+1)
	}
	names := make([]string, len(t.PK))
	vals := make([]string, len(t.PK))
	for j, k := range t.PK {
		names[j] = t.Columns[k].Name
		v, err := formats.ArrowValue(rec.Column(k), i, t.Columns[k].Type)
		if err != nil {
			vals[j] = "?"
			continue
		}
		vals[j] = formats.FormatText(t.Columns[k].Type, v)
	}
	return formatKey(names, vals)
}
