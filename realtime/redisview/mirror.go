package redisview

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
)

// MirrorChange is one row change of a mirror view.
type MirrorChange struct {
	// PK is the row's primary key: formats.BoundView.MirrorKey of the row
	// (EncodeKey of the key values, for a reader).
	PK string
	// Row is the row's values in the mirror's column order as a JSON array
	// (formats.AppendJSON per value); nil means the row was deleted.
	Row []byte
	// Version is the commit position of the change's transaction, so that
	// a change is covered by a cut exactly when its transaction is.
	Version formats.Position
	// Stored, if not nil, is the change's stored form, as
	// AppendStoredChange writes it; Row and Version are then not read. The
	// applier builds it as it takes the change, so that the Redis call,
	// which holds up the next batch, only has to send it.
	Stored []byte
}

// MirrorRow is one row of a mirror as read.
type MirrorRow struct {
	PK string
	// Version is the position of the row's last change, or the published
	// cut for a row that has not changed since.
	Version formats.Position
	// Values is the row's values in the mirror's column order as a JSON
	// array.
	Values []byte
}

// MirrorBatchRow is one row of a mirror generation.
type MirrorBatchRow struct {
	PK     string
	Values []byte // JSON array, as MirrorChange.Row
}

// MirrorApply is one ApplyMirror call: the changes of one mirror view in
// (From, To], in order (a later change of a key wins).
type MirrorApply struct {
	View string
	// Layout is the mirror's fingerprint (MirrorFingerprint); state written
	// under another one is refused with ErrLayoutMismatch.
	Layout   string
	From, To formats.Position
	// ToTime is the commit time of To; zero leaves the stored time as is.
	ToTime time.Time
	// ToClock is how ToTime was measured (see AggApply.ToClock).
	ToClock formats.Clock
	Rows    []MirrorChange
}

// overlayValue is the stored form of a speed-layer row: the JSON array
// ["<version>", v1, v2, ...], or ["<version>"] for a deletion (a tombstone:
// it hides the published generation's row until a later cut covers it).
func overlayValue(c MirrorChange) ([]byte, error) {
	v := c.Version.AppendTo(nil)
	return appendOverlay(make([]byte, 0, len(v)+len(c.Row)+4), v, c)
}

// appendOverlay appends the overlayValue of c to dst, with c's version
// already rendered (the rows of one transaction share it).
func appendOverlay(dst, v []byte, c MirrorChange) ([]byte, error) {
	out := append(dst, `["`...)
	out = append(out, v...)
	out = append(out, '"')
	if c.Row == nil {
		return append(out, ']'), nil
	}
	row := bytes.TrimSpace(c.Row)
	if len(row) < 3 || row[0] != '[' || row[len(row)-1] != ']' {
		return nil, fmt.Errorf("row of key %s: want a non-empty JSON array, got %q", c.PK, c.Row)
	}
	out = append(out, ',')
	return append(out, row[1:]...), nil
}

// overlayEncoder appends a batch's changes as HSET field/value pairs of
// the overlay hash, rendering each transaction's version once (a
// transaction's rows are adjacent in a batch).
type overlayEncoder struct {
	ver   []byte // the version of the previous row rendered
	verOf formats.Position
	have  bool
}

// appendField appends c's primary key and stored overlay value to args.
func (e *overlayEncoder) appendField(args []any, c MirrorChange) ([]any, error) {
	if c.Stored != nil {
		return append(args, c.PK, c.Stored), nil
	}
	if !e.have || c.Version != e.verOf {
		e.ver, e.verOf, e.have = c.Version.AppendTo(e.ver[:0]), c.Version, true
	}
	v, err := appendOverlay(make([]byte, 0, len(e.ver)+len(c.Row)+4), e.ver, c)
	if err != nil {
		return nil, err
	}
	return append(args, c.PK, v), nil
}

// parseOverlay splits a stored overlay value into its version and its
// values array; values is nil for a tombstone.
func parseOverlay(s string) (formats.Position, []byte, error) {
	if !strings.HasPrefix(s, `["`) {
		return formats.Position{}, nil, fmt.Errorf("stored row %q: no version", s)
	}
	end := strings.IndexByte(s[2:], '"')
	if end < 0 {
		return formats.Position{}, nil, fmt.Errorf("stored row %q: no version", s)
	}
	ver, err := formats.ParsePosition(s[2 : 2+end])
	if err != nil {
		return formats.Position{}, nil, fmt.Errorf("stored row: %w", err)
	}
	rest := s[2+end+1:]
	if rest == "]" {
		return ver, nil, nil
	}
	if !strings.HasPrefix(rest, ",") {
		return formats.Position{}, nil, fmt.Errorf("stored row %q: malformed", s)
	}
	return ver, []byte("[" + rest[1:]), nil
}

// MirrorFingerprint identifies a mirror's stored row layout: its output
// columns' names and types. A schema change that alters them (a column
// added to a mirror of all columns) makes ApplyMirror refuse the state with
// ErrLayoutMismatch: the mirror must be re-bootstrapped, not mixed.
func MirrorFingerprint(b *formats.BoundView) string {
	h := sha256.New()
	for _, c := range b.Columns() {
		fmt.Fprintf(h, "%s %s\n", c.Name, c.Type)
	}
	return "mirror#" + hex.EncodeToString(h.Sum(nil)[:8])
}

// AppendStoredChange appends to dst the stored form of a change of
// mirror b (see MirrorChange.Stored): row r, or nil for a deletion, at
// version, a position in its Position.AppendTo form. It is the form
// overlayValue gives the change with Row = AppendMirrorRow(nil, b, r).
func AppendStoredChange(dst, version []byte, b *formats.BoundView, r formats.Row) []byte {
	return NewMirrorEncoder(b).AppendStoredChange(dst, version, r)
}

// MirrorEncoder is AppendStoredChange for one bound mirror, for a caller
// that encodes row after row: the columns are looked up once, and the
// projection reuses one slice. It is not safe for concurrent use.
type MirrorEncoder struct {
	b    *formats.BoundView
	cols []formats.OutputColumn
	proj formats.Row
}

// NewMirrorEncoder returns an encoder for mirror b.
func NewMirrorEncoder(b *formats.BoundView) *MirrorEncoder {
	return &MirrorEncoder{b: b, cols: b.Columns()}
}

// AppendStoredChange is the package's AppendStoredChange for e's mirror.
func (e *MirrorEncoder) AppendStoredChange(dst, version []byte, r formats.Row) []byte {
	dst = append(dst, `["`...)
	dst = append(dst, version...)
	dst = append(dst, '"')
	if r != nil {
		e.proj = e.b.ProjectTo(e.proj, r)
		for i, v := range e.proj {
			dst = append(dst, ',')
			dst = formats.AppendJSON(dst, e.cols[i].Type, v)
		}
		clear(e.proj) // the values belong to r
	}
	return append(dst, ']')
}

// AppendMirrorRow appends the stored form of table row r of mirror b to
// dst: its output columns (BoundView.Project) as a JSON array, each value
// by formats.AppendJSON.
func AppendMirrorRow(dst []byte, b *formats.BoundView, r formats.Row) []byte {
	cols := b.Columns()
	dst = append(dst, '[')
	for i, v := range b.Project(r) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = formats.AppendJSON(dst, cols[i].Type, v)
	}
	return append(dst, ']')
}

// ApplyMirrors applies each mirror batch atomically per view, all in one
// pipeline, with ApplyAgg's checkpoint rule. It returns one error per
// batch (nil for applied or already applied).
func (s *Store) ApplyMirrors(ctx context.Context, batches []MirrorApply) []error {
	return s.ApplyAll(ctx, nil, batches)
}

// ApplyMirror applies one mirror batch; see ApplyMirrors.
func (s *Store) ApplyMirror(ctx context.Context, b MirrorApply) error {
	return s.ApplyMirrors(ctx, []MirrorApply{b})[0]
}

func (s *Store) applyMirrorCall(b MirrorApply) (scriptCall, error) {
	k, err := s.keys(b.View)
	if err != nil {
		return scriptCall{}, err
	}
	args := make([]any, 0, 6+2*len(b.Rows))
	args = append(args, k.base, b.From.String(), b.To.String(), b.Layout, len(b.Rows))
	var enc overlayEncoder
	for _, r := range b.Rows {
		if args, err = enc.appendField(args, r); err != nil {
			return scriptCall{}, err
		}
	}
	args = append(args, formats.Stamp{Time: b.ToTime, Clock: b.ToClock}.String()) // ckpt_time: the script reads the last argument
	return scriptCall{script: s.scripts.applyMirror, keys: []string{k.meta()}, args: args}, nil
}

// txChunk is the number of rows per HSET of applyMirrorTx.
const txChunk = 512

// applyMirrorTx applies mirror batch b as luaApplyMirror does, with the
// same checks in the same order, but as a WATCH/MULTI/EXEC transaction:
// the meta key is watched and read, the checks run here, and the rows and
// the checkpoint go in one MULTI/EXEC, which Redis aborts if anything
// wrote the meta key meanwhile (a publish, a reset, another writer); the
// checks then run again on what is there now. Readers see the batch all
// at once, as with the script. It exists for large batches: a script's
// arguments are copied into Lua strings and back into Redis strings, which
// for plain HSETs of many rows costs Redis more than twice the HSETs
// themselves.
func (s *Store) applyMirrorTx(ctx context.Context, b MirrorApply) error {
	k, err := s.keys(b.View)
	if err != nil {
		return err
	}
	// The commands are built once: a retry sends the same rows.
	cmds := make([][]any, 0, (len(b.Rows)+txChunk-1)/txChunk+1)
	var enc overlayEncoder
	for base := 0; base < len(b.Rows); base += txChunk {
		rows := b.Rows[base:min(base+txChunk, len(b.Rows))]
		args := make([]any, 0, 2+2*len(rows))
		args = append(args, "HSET", k.rows())
		for _, r := range rows {
			if args, err = enc.appendField(args, r); err != nil {
				return err
			}
		}
		cmds = append(cmds, args)
	}
	ckpt := []any{"HSET", k.meta(), "ckpt", b.To.String()}
	if !b.ToTime.IsZero() {
		ckpt = append(ckpt, "ckpt_time", formats.Stamp{Time: b.ToTime, Clock: b.ToClock}.String())
	}
	cmds = append(cmds, ckpt)

	apply := func(tx *redis.Tx) error {
		m, err := tx.HMGet(ctx, k.meta(), "ckpt", "layout").Result()
		if err != nil {
			return classify(err)
		}
		ck, ok := m[0].(string)
		if !ok {
			return fmt.Errorf("view %s: %w", b.View, ErrStateMissing)
		}
		have, err := formats.ParsePosition(ck)
		if err != nil {
			return fmt.Errorf("view %s: stored checkpoint: %w", b.View, err)
		}
		if have.Compare(b.To) >= 0 {
			return nil // applied already
		}
		if have.Compare(b.From) != 0 {
			return &FenceError{View: b.View, From: b.From, Have: have}
		}
		if b.Layout == "" {
			return fmt.Errorf("view %s: rows without a fingerprint", b.View)
		}
		if stored, ok := m[1].(string); ok && stored != b.Layout {
			return fmt.Errorf("view %s: %w: state was written for %s, batch is for %s", b.View, ErrLayoutMismatch, stored, b.Layout)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range cmds {
				p.Do(ctx, c...)
			}
			return nil
		})
		return classify(err)
	}
	// A retry only follows a write to the meta key between the read and
	// EXEC; the checks then see that write, so a few attempts suffice
	// unless another writer keeps moving it.
	for attempt := 1; ; attempt++ {
		err := s.rdb.Watch(ctx, apply, k.meta())
		if !errors.Is(err, redis.TxFailedErr) || attempt == 5 {
			return classify(err)
		}
	}
}

// MirrorRead is the answer of ReadMirror.
type MirrorRead struct {
	Row   MirrorRow
	Found bool // false: no such key (never written, or deleted)
	// Freshness of the answer.
	Generation uint64
	Cut        formats.Position
	CutTime    time.Time
	Checkpoint formats.Position
	// CheckpointTime is the commit time of Checkpoint; zero when unknown.
	// CheckpointClock says how it was measured.
	CheckpointTime  time.Time
	CheckpointClock formats.Clock
}

// ReadMirror returns the current row of key pk: the speed layer's version
// when it is newer than the published cut, else the published generation's.
// Both come from one atomic script step.
func (s *Store) ReadMirror(ctx context.Context, view, pk string) (MirrorRead, error) {
	k, err := s.keys(view)
	if err != nil {
		return MirrorRead{}, err
	}
	v, err := s.runScript(ctx, s.scripts.readMirror, k.meta(), k.base, pk)
	if err != nil {
		return MirrorRead{}, fmt.Errorf("reading mirror %s key %s: %w", view, pk, scriptError(view, formats.Position{}, err))
	}
	reply, ok := v.([]any)
	if !ok || len(reply) != 7 {
		return MirrorRead{}, fmt.Errorf("reading mirror %s key %s: unexpected reply %v", view, pk, v)
	}
	// reply: ckpt, gen, cut, cut_time, overlay, batch, ckpt_time
	meta, err := parseMeta([]any{reply[0], nil, reply[1], reply[2], nil, reply[3], nil, reply[6]})
	if err != nil {
		return MirrorRead{}, fmt.Errorf("reading mirror %s key %s: %w", view, pk, err)
	}
	out := MirrorRead{Generation: meta.Generation, Cut: meta.Cut, CutTime: meta.CutTime, Checkpoint: meta.Checkpoint, CheckpointTime: meta.CheckpointTime, CheckpointClock: meta.CheckpointClock}
	if o, ok := reply[4].(string); ok {
		ver, vals, err := parseOverlay(o)
		if err != nil {
			return MirrorRead{}, fmt.Errorf("reading mirror %s key %s: %w", view, pk, err)
		}
		if vals != nil {
			out.Row, out.Found = MirrorRow{PK: pk, Version: ver, Values: vals}, true
		}
		return out, nil
	}
	if b, ok := reply[5].(string); ok {
		out.Row, out.Found = MirrorRow{PK: pk, Version: meta.Cut, Values: []byte(b)}, true
	}
	return out, nil
}

// ScanMirror yields every current row of the mirror, in no particular
// order, for verification and exports. It is not a snapshot: it reads the
// published generation page by page (HSCAN) after taking the speed
// overlay, so changes applied while it runs may or may not show. Memory is
// bounded by the overlay (keys changed since the published cut).
func (s *Store) ScanMirror(ctx context.Context, view string) iter.Seq2[MirrorRow, error] {
	return func(yield func(MirrorRow, error) bool) {
		k, err := s.keys(view)
		if err != nil {
			yield(MirrorRow{}, err)
			return
		}
		meta, err := s.Meta(ctx, view)
		if err != nil {
			yield(MirrorRow{}, fmt.Errorf("scanning mirror %s: %w", view, err))
			return
		}
		overlay := map[string]MirrorRow{} // Values nil: deleted
		err = s.hscan(ctx, k.rows(), func(pk, v string) error {
			ver, vals, err := parseOverlay(v)
			if err != nil {
				return err
			}
			if !meta.Published || ver.Compare(meta.Cut) > 0 {
				overlay[pk] = MirrorRow{PK: pk, Version: ver, Values: vals}
			}
			return nil
		})
		if err != nil {
			yield(MirrorRow{}, fmt.Errorf("scanning mirror %s: %w", view, err))
			return
		}
		stopped := false
		if meta.Published {
			err = s.hscan(ctx, k.mirrorBatch(meta.Generation), func(pk, v string) error {
				if _, ok := overlay[pk]; ok {
					return nil
				}
				if !yield(MirrorRow{PK: pk, Version: meta.Cut, Values: []byte(v)}, nil) {
					stopped = true
					return errStop
				}
				return nil
			})
			if stopped {
				return
			}
			if err != nil {
				yield(MirrorRow{}, fmt.Errorf("scanning mirror %s: %w", view, err))
				return
			}
		}
		for _, r := range overlay {
			if r.Values == nil {
				continue
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

var errStop = errors.New("stop")

// hscan calls fn for every field of hash key, page by page.
func (s *Store) hscan(ctx context.Context, key string, fn func(field, value string) error) error {
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, key, cursor, "", 1000).Result()
		if err != nil {
			return classify(err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if err := fn(kv[i], kv[i+1]); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// LoadMirrorBatch writes generation gen of the mirror from rows, in
// pipelined chunks; it stays invisible until PublishMirror. A failed load
// can simply be repeated.
func (s *Store) LoadMirrorBatch(ctx context.Context, view string, gen uint64, rows iter.Seq2[MirrorBatchRow, error]) error {
	return s.loadMirrorBatch(ctx, nil, view, gen, rows)
}

func (s *Store) loadMirrorBatch(ctx context.Context, fence *WriteFence, view string, gen uint64, rows iter.Seq2[MirrorBatchRow, error]) error {
	var rowErr error
	fields := func(yield func(string, string) bool) {
		for r, err := range rows {
			if err != nil {
				rowErr = err
				return
			}
			if !yield(r.PK, string(r.Values)) {
				return
			}
		}
	}
	if err := s.loadEncodedFenced(ctx, fence, view, gen, fields, viewKeys.mirrorBatch); err != nil {
		return err
	}
	if rowErr != nil {
		return fmt.Errorf("loading generation %d of mirror %s: %w", gen, view, rowErr)
	}
	return nil
}

// PublishMirror makes generation gen (loaded by LoadMirrorBatch) the
// mirror's batch as of cut, in one atomic step: a pointer flip. From then
// on a key reads as its speed-layer version if that is newer than cut, else
// as generation gen's row (absent there: deleted); older speed-layer
// versions are ignored and pruned after the flip. The previous generation
// is kept (a scan in progress may still read it); older ones are deleted.
// If the view's checkpoint is before cut, it moves to cut. Publishing the
// published generation again with the same cut is a no-op.
func (s *Store) PublishMirror(ctx context.Context, view, layout string, gen uint64, cut formats.Position, cutTime time.Time) error {
	return s.publishMirror(ctx, nil, view, layout, gen, cut, cutTime)
}

func (s *Store) publishMirror(ctx context.Context, fence *WriteFence, view, layout string, gen uint64, cut formats.Position, cutTime time.Time) error {
	k, err := s.keys(view)
	if err != nil {
		return err
	}
	args := append([]any{k.base, strconv.FormatUint(gen, 10), cut.String(), cutTime.UTC().Format(time.RFC3339Nano), layout}, fenceArgs(fence)...)
	_, err = s.runScript(ctx, s.scripts.publishMirror, k.meta(), args...)
	if err != nil {
		return fmt.Errorf("publishing generation %d of mirror %s at %s: %w", gen, view, cut, scriptError(view, formats.Position{}, err))
	}
	if err := s.PruneMirror(ctx, view); err != nil {
		return fmt.Errorf("publishing generation %d of mirror %s at %s: %w", gen, view, cut, err)
	}
	return nil
}

// PruneMirror deletes the speed-layer rows (and tombstones) the published
// generation covers, one HSCAN page per script call so that Redis is never
// blocked for long. Readers ignore those rows already, so pruning only
// frees memory; PublishMirror calls it.
func (s *Store) PruneMirror(ctx context.Context, view string) error {
	k, err := s.keys(view)
	if err != nil {
		return err
	}
	cursor := "0"
	for {
		v, err := s.runScript(ctx, s.scripts.pruneMirror, k.meta(), k.base, cursor)
		if err != nil {
			return fmt.Errorf("pruning mirror %s: %w", view, err)
		}
		cursor, _ = v.(string)
		if cursor == "0" || cursor == "" {
			return nil
		}
	}
}
