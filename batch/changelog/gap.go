package changelog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// ErrIncomplete is matched by the error a reader of the archive gets for a
// range that holds a recorded gap (Gap) after the position it needs
// changes from: the archive cannot roll anything forward across it, the
// tables must be re-extracted from the source at a point after the gap.
var ErrIncomplete = errors.New("changelog incomplete: a gap is recorded")

// Gap is a recorded hole in the master dataset: the changes after After up
// to and including Until are not in the archive, because the binlog that
// held them was purged before they were archived. It is stored as the
// manifest of a segment without data (Manifest.Gap set, no object), which
// chains like any other (PrevLast = After, Last = Until), so the archive
// says itself where it is incomplete and a reader that replays across it
// is refused (ErrIncomplete) instead of silently missing changes.
type Gap struct {
	After      string    `json:"after"` // the archive's checkpoint when the gap was recorded
	Until      string    `json:"until"` // where the archive resumes: changes after it are archived again
	Reason     string    `json:"reason"`
	RecordedAt time.Time `json:"recorded_at"`
}

// Rebase records a Gap from the archive's checkpoint up to and including
// to, and makes to its checkpoint: the next Run archives the transactions
// after to. It is how the archive re-bases when the binlog it needs to
// resume from is gone (the speed layer re-bootstraps then; see
// realtime.Pipeline). Nothing is recorded when to is not after the
// checkpoint. It must not run beside Run.
func (a *Archiver) Rebase(ctx context.Context, to formats.Position, reason string) error {
	last, err := lastSealed(ctx, a.store, a.opts.Source)
	if err != nil {
		return fmt.Errorf("recording a gap in changelog %s: %w", a.opts.Source, err)
	}
	prevSeg, prevLast := uint64(0), a.opts.Start.String()
	if last != nil {
		prevSeg, prevLast = last.Segment, last.Last
	}
	after, err := formats.ParsePosition(prevLast)
	if err != nil {
		return fmt.Errorf("recording a gap in changelog %s: checkpoint %q: %w", a.opts.Source, prevLast, err)
	}
	if to.Compare(after) <= 0 {
		return nil
	}
	now := time.Now().UTC()
	// The gap takes the next segment id: the segment rule gives later
	// transactions max(its id, their commit second / width), which is what
	// the speed layer, bootstrapped afresh, gives them too.
	m := Manifest{
		Version: manifestVersion, Source: a.opts.Source, Segment: prevSeg + 1,
		PrevSegment: prevSeg, PrevLast: prevLast, Last: to.String(), LastGTID: to.GTID,
		Tables: map[string]*TableCounts{}, SealedAt: now,
		Gap: &Gap{After: prevLast, Until: to.String(), Reason: reason, RecordedAt: now},
	}
	if err := putJSON(ctx, a.store, manifestKey(a.opts.Source, m.Segment), &m); err != nil {
		return fmt.Errorf("recording a gap in changelog %s: writing manifest: %w", a.opts.Source, err)
	}
	if err := putJSON(ctx, a.store, latestKey(a.opts.Source), latestHint{Segment: m.Segment}); err != nil {
		return fmt.Errorf("recording a gap in changelog %s: writing %s: %w", a.opts.Source, latestKey(a.opts.Source), err)
	}
	a.log.Warn("changelog archive: gap recorded; the next rebuild re-extracts from the source",
		"segment", m.Segment, "after", prevLast, "until", m.Last, "reason", reason)
	return nil
}

// GapAfter returns the first recorded gap among the sealed segments after
// segment afterSeg, or nil when there is none: a rebuild rolling a
// generation cut at afterSeg forward must then re-extract from the source.
func (r *Reader) GapAfter(ctx context.Context, afterSeg uint64) (*Manifest, error) {
	ms, err := r.Manifests(ctx, afterSeg, ^uint64(0))
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Gap != nil {
			return m, nil
		}
	}
	return nil, nil
}

// checkNoGapAfter fails with ErrIncomplete when a manifest of ms is a gap
// that ends after from: changes after from are missing.
func checkNoGapAfter(source string, ms []*Manifest, from formats.Position) error {
	for _, m := range ms {
		if m.Gap == nil {
			continue
		}
		until, err := formats.ParsePosition(m.Gap.Until)
		if err != nil {
			return fmt.Errorf("changelog %s segment %d: gap end %q: %w", source, m.Segment, m.Gap.Until, err)
		}
		if until.Compare(from) > 0 {
			return fmt.Errorf("changelog %s segment %d records a gap (%s, %s] (%s) after %s: %w",
				source, m.Segment, m.Gap.After, m.Gap.Until, m.Gap.Reason, from, ErrIncomplete)
		}
	}
	return nil
}

// AfterGaps returns the id of the last gap among ms, or afterSeg when
// there is none: a replay of ms that needs no change before the gaps
// (checkNoGapAfter passed) starts after it. ReadSegments refuses a range
// that holds a gap.
func AfterGaps(ms []*Manifest, afterSeg uint64) uint64 {
	for _, m := range ms {
		if m.Gap != nil {
			afterSeg = m.Segment
		}
	}
	return afterSeg
}

// CheckNoGap is checkNoGapAfter for manifests a caller read (Manifests).
func CheckNoGap(source string, ms []*Manifest, from formats.Position) error {
	return checkNoGapAfter(source, ms, from)
}

// CheckNoGapAfter fails with ErrIncomplete when the sealed segments in
// (afterSeg, uptoSeg] hold a gap that ends after from, the position the
// caller needs every change after.
func (r *Reader) CheckNoGapAfter(ctx context.Context, afterSeg, uptoSeg uint64, from formats.Position) error {
	ms, err := r.Manifests(ctx, afterSeg, uptoSeg)
	if err != nil {
		return err
	}
	return checkNoGapAfter(r.source, ms, from)
}
