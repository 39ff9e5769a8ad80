package redisview

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// SegDelta is what a batch adds to one segment of a view.
type SegDelta struct {
	Seg   uint64
	Delta formats.Delta
}

// AggApply is one ApplyAgg call: the deltas of one aggregate view for the
// transactions in (From, To], by segment. ToSeg is the segment of To.
type AggApply struct {
	View     *formats.View
	From, To formats.Position
	ToSeg    uint64
	// ToTime is the commit time of To (stored as the checkpoint's time, for
	// lag); zero leaves the stored time as it is.
	ToTime time.Time
	// ToClock is how ToTime was measured (ClockUnknown:
	// formats.ClockCommitSeconds); stored with it, for the lag's precision.
	ToClock formats.Clock
	Deltas  []SegDelta
	// Known, if set, is what the caller knows of the view's stored states;
	// the call uses it and updates it (see Known). A batch with more than
	// 512 groups in a segment is applied without it.
	Known *Known
}

// Fingerprint identifies an aggregate view's definition: its token layout
// (which the scripts need to add states) and a digest of its canonical
// spec. State written under one fingerprint is refused under another
// (ErrLayoutMismatch): a changed view must be re-bootstrapped, not mixed.
// The view must be bound (its layout is fixed by its first Bind).
func Fingerprint(v *formats.View) string {
	spec, _ := json.Marshal(v.Spec()) // a struct of strings: cannot fail
	sum := sha256.Sum256(spec)
	return v.AggLayout() + "#" + hex.EncodeToString(sum[:8])
}

// fingerprint is Fingerprint(v), computed once per bound view: the spec's
// JSON and digest cost more than the rest of a small batch's encoding.
func (s *Store) fingerprint(v *formats.View) string {
	if fp, ok := s.fps.Load(v); ok {
		return fp.(string)
	}
	fp := Fingerprint(v)
	if v.AggLayout() != "" { // fixed from the view's first Bind on
		s.fps.Store(v, fp)
	}
	return fp
}

// tokenLayout returns the token layout part of a fingerprint.
func tokenLayout(fp string) string {
	l, _, _ := strings.Cut(fp, "#")
	return l
}

// ApplyAgg adds one batch of a view's deltas and moves its checkpoint from
// from to to, in one atomic script step:
//
//   - no state (Redis lost it or the view was never bootstrapped):
//     ErrStateMissing;
//   - checkpoint >= to: nothing (the batch was applied already: a replay
//     after a crash);
//   - checkpoint != from: a *FenceError (ErrFenced);
//   - else every segment's delta is added to the segment and to the
//     running total, and the checkpoint becomes (to, toSeg).
//
// Positions, not segment ids, decide what is applied: a batch at or before
// the published cut never gets here (the publish moved the checkpoint to
// the cut, so its writer is fenced or the batch is a no-op).
func (s *Store) ApplyAgg(ctx context.Context, view *formats.View, from, to formats.Position, toSeg uint64, deltas []SegDelta) error {
	return s.ApplyAggs(ctx, []AggApply{{View: view, From: from, To: to, ToSeg: toSeg, Deltas: deltas}})[0]
}

// ApplyAggs runs ApplyAgg for several views in one pipeline (one round trip
// per Cluster node). It returns one error per batch, nil when the batch was
// applied or had been applied already. Batches must be for distinct views:
// two batches of one view in one pipeline would fence each other.
func (s *Store) ApplyAggs(ctx context.Context, batches []AggApply) []error {
	return s.ApplyAll(ctx, batches, nil)
}

// ApplyAll runs ApplyAgg for every aggregate batch and ApplyMirror for
// every mirror batch in one pipeline: one round trip on a single Redis, one
// per node on a Cluster. It returns one error per batch, the aggregate
// batches' first; nil means applied or applied already. Batches must be
// for distinct views.
func (s *Store) ApplyAll(ctx context.Context, aggs []AggApply, mirrors []MirrorApply) []error {
	enc := make([]encodedApply, len(aggs))
	for i, b := range aggs {
		enc[i] = s.encodeApply(ctx, b)
	}
	return s.applyAllEncoded(ctx, enc, mirrors)
}

// encodeApply turns an aggregate batch into the scripts' terms.
func (s *Store) encodeApply(ctx context.Context, b AggApply) encodedApply {
	e := encodedApply{view: b.View.Name, from: b.From, to: b.To, toSeg: b.ToSeg, toTime: formats.Stamp{Time: b.ToTime, Clock: b.ToClock}}
	if b.View.AggLayout() != "" {
		// An unbound view can only move its checkpoint (it has no deltas);
		// the script skips the fingerprint check then.
		e.layout = s.fingerprint(b.View)
	}
	width := 2
	if b.Known != nil && e.layout != "" && fits(b.Deltas) {
		// Known is only a shortcut: if it cannot be read now, the script
		// adds what it does not know.
		_ = s.loadKnown(ctx, b.View, b.Known)
		e.cas, width = &casBatch{known: b.Known, view: b.View}, 6
	}
	var buf []byte
	for _, sd := range b.Deltas {
		if e.cas != nil {
			e.cas.enter(sd.Seg)
		}
		seg := encodedSeg{seg: sd.Seg, fields: make([]string, 0, width*len(sd.Delta))}
		for k, a := range sd.Delta {
			if a == nil || a.IsZero() {
				continue
			}
			buf = a.AppendEncode(buf[:0])
			f, enc := string(k), string(buf)
			seg.fields = append(seg.fields, f, enc)
			if e.cas != nil {
				seg.fields, buf = e.cas.appendSums(seg.fields, sd.Seg, f, a, enc, buf)
			}
		}
		if len(seg.fields) > 0 {
			e.segs = append(e.segs, seg)
		}
	}
	return e
}

// AggSnapshot is a view's answer at one instant: batch(Generation) ⊕ the
// speed layer's running total up to Checkpoint.
type AggSnapshot struct {
	// Generation is the published generation (batch) the answer starts
	// from; Cut and CutTime are its cut.
	Generation uint64
	Cut        formats.Position
	CutTime    time.Time
	// Checkpoint is the speed position: the last transaction the answer
	// includes. Segment is its segment.
	Checkpoint formats.Position
	Segment    uint64
	// Groups holds the merged state of every group whose count is > 0.
	Groups formats.Delta
	// CheckpointTime is the commit time of Checkpoint; zero when unknown.
	// CheckpointClock says how it was measured.
	CheckpointTime  time.Time
	CheckpointClock formats.Clock
}

// ReadAgg returns the view's answer: the published generation's batch
// states merged with the running speed total. Both, and the positions, are
// read in one atomic script step, so the answer never mixes two
// generations or shows half a transaction. The view must be bound.
func (s *Store) ReadAgg(ctx context.Context, view *formats.View) (AggSnapshot, error) {
	enc, err := s.readAggEncoded(ctx, view.Name)
	if err != nil {
		return AggSnapshot{}, err
	}
	snap, err := enc.snapshot(view, Fingerprint(view))
	if err != nil {
		return AggSnapshot{}, err
	}
	for f, st := range enc.groups {
		a, err := view.DecodeAgg([]byte(st))
		if err != nil {
			return AggSnapshot{}, fmt.Errorf("reading view %s: group %q: %w", view.Name, f, err)
		}
		snap.Groups[formats.GroupKey(f)] = a
	}
	return snap, nil
}

// snapshot checks that enc was written for view, whose fingerprint is fp,
// and returns its positions with an empty Groups map sized for its groups.
func (enc *encodedSnapshot) snapshot(view *formats.View, fp string) (AggSnapshot, error) {
	if enc.meta.Fingerprint != fp {
		return AggSnapshot{}, fmt.Errorf("reading view %s: %w: state was written for %s, view is %s", view.Name, ErrLayoutMismatch, enc.meta.Fingerprint, fp)
	}
	return AggSnapshot{
		Generation:      enc.meta.Generation,
		Cut:             enc.meta.Cut,
		CutTime:         enc.meta.CutTime,
		Checkpoint:      enc.meta.Checkpoint,
		CheckpointTime:  enc.meta.CheckpointTime,
		CheckpointClock: enc.meta.CheckpointClock,
		Segment:         enc.meta.Segment,
		Groups:          make(formats.Delta, len(enc.groups)),
	}, nil
}

// LoadBatch writes generation gen of the view's batch states from groups,
// in pipelined chunks. It is invisible to readers until PublishAgg; a
// failed load can simply be repeated (it starts from an empty hash).
// Loading a generation that is not newer than the published one is
// refused with ErrStaleGeneration.
func (s *Store) LoadBatch(ctx context.Context, view *formats.View, gen uint64, groups iter.Seq2[formats.GroupKey, *formats.Agg]) error {
	fields := func(yield func(string, string) bool) {
		var buf []byte
		for k, a := range groups {
			if a == nil || a.Count <= 0 {
				continue // an absent group: nothing to store
			}
			buf = a.AppendEncode(buf[:0])
			if !yield(string(k), string(buf)) {
				return
			}
		}
	}
	return s.loadEncoded(ctx, view.Name, gen, fields, viewKeys.batch)
}

// PublishAgg makes generation gen (written by LoadBatch) the view's batch
// as of cut, in one atomic script step: the generation pointer and cut
// flip, the speed segments the cut covers (ids <= cutSeg) are dropped and
// the running total is recomputed from the surviving segments, so what the
// speed layer had for the covered span is overwritten by the batch, errors
// included. The previous generation's hash is kept and older ones deleted.
// If the view's checkpoint is before cut (or absent: the bootstrap), it
// becomes (cut, cutSeg).
//
// cut must be the last commit of segment cutSeg (SegmentOf): every later
// transaction is in a later segment. The bootstrap's cut, a snapshot
// position, is no segment boundary, so generation 0 publishes cutSeg 0
// (it covers no segment; see the package documentation). Publishing the
// published generation again with the same cut is a no-op; an older
// generation or cut is refused with ErrStaleGeneration.
func (s *Store) PublishAgg(ctx context.Context, view *formats.View, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error {
	return s.publishAggEncoded(ctx, view.Name, Fingerprint(view), gen, cut, cutSeg, cutTime)
}
