package realtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// Difference is one group (or mirrored row) where a view and the source
// disagree. A side that has no such group is "(absent)".
type Difference struct {
	View     string
	Key      string
	Source   string
	Tidemark string
}

func (d Difference) String() string {
	return fmt.Sprintf("%s [%s]: source %s, tidemark %s", d.View, d.Key, d.Source, d.Tidemark)
}

// VerifyOptions bounds Verify's waiting.
type VerifyOptions struct {
	// CatchUp is how long to wait for the view's checkpoint to reach the
	// source's position; 0 means 60s.
	CatchUp time.Duration
	// Attempts is how often to compare again when a difference may come
	// from writes racing the comparison (the view moved past the source
	// snapshot); 0 means 5.
	Attempts int
	// Masked holds the source's types of the columns of the view's table
	// that the capture masks, by lower-case name
	// (capture.Capture.MaskedColumns); nil when it masks none. The source
	// holds clear values and the view their hashes, so the source query
	// reads these columns as a snapshot does (formats.SelectExpr of the
	// source type: the view's schema says VARCHAR(64)) and Mask turns each
	// value into its hash before the comparison.
	Masked map[string]formats.Type
	// Mask turns the source's text of a value of a masked column of
	// source type t into its masked form (capture.Capture.MaskText).
	// Required with Masked.
	Mask func(t formats.Type, raw []byte) ([]byte, error)
}

// Verify compares one view with the same query run on the source at one
// consistent point: the source answer is read inside a consistent snapshot
// whose binlog position is known, and the view is read once its
// checkpoint has reached that position. When the source is quiet the two
// describe the same state and must be equal; when writes race the
// comparison, a difference found while the view is past the snapshot is
// re-checked, and reported only if it persists. Counts and DECIMAL sums
// must be exactly equal, FLOAT/DOUBLE sums within 1e-9 relative.
func Verify(ctx context.Context, source *sql.DB, store *redisview.Store, bv *formats.BoundView, opts VerifyOptions) ([]Difference, error) {
	if opts.CatchUp <= 0 {
		opts.CatchUp = 60 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	name := bv.View().Name
	var diffs []Difference
	for attempt := 1; ; attempt++ {
		pos, want, err := sourceAnswer(ctx, source, bv, opts)
		if err != nil {
			return nil, fmt.Errorf("verifying %s: reading the source: %w", name, err)
		}
		ckpt, err := waitCheckpoint(ctx, store, name, pos, opts.CatchUp)
		if err != nil {
			return nil, fmt.Errorf("verifying %s: %w", name, err)
		}
		got, err := viewAnswer(ctx, store, bv)
		if err != nil {
			return nil, fmt.Errorf("verifying %s: reading the view: %w", name, err)
		}
		diffs = compareAnswers(bv, want, got)
		if len(diffs) == 0 || attempt >= opts.Attempts || ckpt.Compare(pos) == 0 {
			return diffs, nil
		}
		// The view moved past the snapshot: the difference may be a write
		// that landed in between. Compare again.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sourceAnswer runs the view's verify query in a consistent snapshot and
// returns the snapshot's binlog position with the answer by group key.
func sourceAnswer(ctx context.Context, db *sql.DB, bv *formats.BoundView, opts VerifyOptions) (formats.Position, map[formats.GroupKey]formats.Row, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return formats.Position{}, nil, err
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", "START TRANSACTION WITH CONSISTENT SNAPSHOT"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return formats.Position{}, nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	var pos formats.Position
	rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return formats.Position{}, nil, fmt.Errorf("reading the snapshot's binlog position (MariaDB's binlog_snapshot_file/position): %w", err)
	}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return formats.Position{}, nil, err
		}
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			pos.File = v
		case "binlog_snapshot_position":
			var off uint32
			fmt.Sscan(v, &off)
			pos.Offset = off
		}
	}
	rows.Close()
	if pos.File == "" {
		return formats.Position{}, nil, errors.New("the source reports no binlog snapshot position (binlog off, or not MariaDB)")
	}
	var masked func(string) (formats.Type, bool)
	if len(opts.Masked) > 0 {
		if opts.Mask == nil {
			return formats.Position{}, nil, errors.New("VerifyOptions.Masked without Mask")
		}
		masked = func(col string) (formats.Type, bool) {
			t, ok := opts.Masked[strings.ToLower(col)]
			return t, ok
		}
	}
	q := bv.VerifySQLOver(masked)
	rows, err = conn.QueryContext(ctx, q)
	if err != nil {
		return formats.Position{}, nil, fmt.Errorf("running %s: %w", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	raw := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	out := map[formats.GroupKey]formats.Row{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return formats.Position{}, nil, err
		}
		vals := make([][]byte, len(raw))
		for i, r := range raw {
			if r != nil {
				vals[i] = append([]byte{}, r...)
			}
		}
		if masked != nil {
			if err := maskVerifyRow(bv, vals, masked, opts.Mask); err != nil {
				return formats.Position{}, nil, err
			}
		}
		k, row, err := bv.ParseVerifyRow(vals)
		if err != nil {
			return formats.Position{}, nil, err
		}
		out[k] = row
	}
	return pos, out, rows.Err()
}

// waitCheckpoint waits until the view's checkpoint reaches pos and returns
// it.
func waitCheckpoint(ctx context.Context, store *redisview.Store, view string, pos formats.Position, wait time.Duration) (formats.Position, error) {
	deadline := time.Now().Add(wait)
	for {
		m, err := store.Meta(ctx, view)
		if err != nil && !errors.Is(err, redisview.ErrStateMissing) {
			return formats.Position{}, fmt.Errorf("reading its checkpoint: %w", err)
		}
		if err == nil && m.Checkpoint.Compare(pos) >= 0 {
			return m.Checkpoint, nil
		}
		if time.Now().After(deadline) {
			return formats.Position{}, fmt.Errorf("its checkpoint %s did not reach the source position %s within %s (is `tidemark run` running and caught up?)", m.Checkpoint, pos, wait)
		}
		select {
		case <-ctx.Done():
			return formats.Position{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// viewAnswer reads the view's current answer by group key.
func viewAnswer(ctx context.Context, store *redisview.Store, bv *formats.BoundView) (map[formats.GroupKey]formats.Row, error) {
	out := map[formats.GroupKey]formats.Row{}
	if !bv.View().Mirror {
		snap, err := store.ReadAgg(ctx, bv.View())
		if err != nil {
			return nil, err
		}
		for k, a := range snap.Groups {
			if row, ok := bv.Result(k, a); ok {
				out[k] = row
			}
		}
		return out, nil
	}
	cols := bv.Columns()
	for r, err := range store.ScanMirror(ctx, bv.View().Name) {
		if err != nil {
			return nil, err
		}
		row, err := DecodeMirrorRow(cols, r.Values)
		if err != nil {
			return nil, fmt.Errorf("row %q: %w", r.PK, err)
		}
		out[formats.GroupKey(r.PK)] = row
	}
	return out, nil
}

// DecodeMirrorRow decodes a mirror row stored as a JSON array of the
// mirror's columns.
func DecodeMirrorRow(cols []formats.OutputColumn, b []byte) (formats.Row, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decoding mirror row: %w", err)
	}
	if len(raw) != len(cols) {
		return nil, fmt.Errorf("decoding mirror row: %d values, want %d", len(raw), len(cols))
	}
	row := make(formats.Row, len(cols))
	for i, c := range cols {
		v, err := formats.ParseJSON(c.Type, raw[i])
		if err != nil {
			return nil, fmt.Errorf("decoding mirror row: column %s: %w", c.Name, err)
		}
		row[i] = v
	}
	return row, nil
}

func compareAnswers(bv *formats.BoundView, want, got map[formats.GroupKey]formats.Row) []Difference {
	name := bv.View().Name
	cols := bv.Columns()
	var diffs []Difference
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, Difference{View: name, Key: keyText(bv, k), Source: rowText(cols, w), Tidemark: "(absent)"})
		case !bv.RowsEqual(w, g):
			diffs = append(diffs, Difference{View: name, Key: keyText(bv, k), Source: rowText(cols, w), Tidemark: rowText(cols, g)})
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, Difference{View: name, Key: keyText(bv, k), Source: "(absent)", Tidemark: rowText(cols, g)})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].Key < diffs[j].Key })
	return diffs
}

func keyText(bv *formats.BoundView, k formats.GroupKey) string {
	vals, err := bv.DecodeKey(k)
	if err != nil {
		return fmt.Sprintf("%q", string(k))
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = fmt.Sprint(v)
		if v == nil {
			parts[i] = "NULL"
		}
	}
	return strings.Join(parts, ", ")
}

func rowText(cols []formats.OutputColumn, r formats.Row) string {
	b := []byte{'{'}
	for i, c := range cols {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, c.Name...)
		b = append(b, ": "...)
		b = formats.AppendJSON(b, c.Type, r[i])
	}
	return string(append(b, '}'))
}

// maskVerifyRow masks, in place, the values of a verify row that are a
// masked source column as it is: a mirror's columns and the group keys
// without a transform (config refuses transforms, filters and sums of
// masked columns). masked gives such a column's source type.
func maskVerifyRow(bv *formats.BoundView, vals [][]byte, masked func(string) (formats.Type, bool), mask func(formats.Type, []byte) ([]byte, error)) error {
	v := bv.View()
	for i := range vals {
		if vals[i] == nil {
			continue
		}
		var col string
		switch {
		case v.Mirror:
			col = bv.Columns()[i].Name
		case i < len(v.GroupBy) && v.GroupBy[i].Transform == formats.TransformNone:
			col = v.GroupBy[i].Column
		default:
			continue
		}
		t, ok := masked(col)
		if !ok {
			continue
		}
		m, err := mask(t, vals[i])
		if err != nil {
			return fmt.Errorf("column %s: %w", col, err)
		}
		vals[i] = m
	}
	return nil
}
