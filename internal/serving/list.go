package serving

import (
	"context"
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime"
	"github.com/tidemark/tidemark/realtime/redisview"
	"github.com/tidemark/tidemark/reporting"
)

var _ reporting.MirrorLister = (*Store)(nil)

// generation is a mirror's published generation, decoded: immutable, so it
// is read from Redis once per generation however many listings follow.
type generation struct {
	gen  uint64
	cut  formats.Position
	rows map[string]formats.Row // stored key → row
}

// listAttempts bounds the restarts of a listing whose generation was
// replaced while it was read (two publishes meanwhile).
const listAttempts = 5

// ListMirror implements reporting.MirrorLister: the overlay newer than the
// published cut and the meta in one atomic step
// (redisview.Store.MirrorOverlay), merged with the published generation's
// rows, which never change once published, so the rows are the mirror at
// the instant of that step.
func (s *Store) ListMirror(ctx context.Context, view string) (reporting.MirrorRows, error) {
	bv, ok := s.views[view]
	if !ok {
		return reporting.MirrorRows{}, fmt.Errorf("listing mirror %s: not configured", view)
	}
	cols := bv.Columns()
	for attempt := 1; ; attempt++ {
		ov, err := s.st.MirrorOverlay(ctx, view)
		if err != nil {
			return reporting.MirrorRows{}, notReady(err)
		}
		var base map[string]formats.Row
		if ov.Published {
			g, err := s.generation(ctx, view, cols, ov.Generation, ov.Cut)
			if errors.Is(err, redisview.ErrGenerationGone) && attempt < listAttempts {
				continue
			}
			if err != nil {
				return reporting.MirrorRows{}, err
			}
			base = g.rows
		}
		out := reporting.MirrorRows{
			Freshness: reporting.Freshness{Generation: ov.Generation, Cut: ov.Cut, CutTime: ov.CutTime, SpeedPosition: ov.Checkpoint, SpeedTime: ov.CheckpointTime},
			Rows:      make([]formats.Row, 0, len(base)+len(ov.Overlay)),
		}
		for pk, row := range base {
			if _, ok := ov.Overlay[pk]; !ok {
				out.Rows = append(out.Rows, row)
			}
		}
		for pk, o := range ov.Overlay {
			if o.Values == nil {
				continue // deleted after the cut
			}
			row, err := realtime.DecodeMirrorRow(cols, o.Values)
			if err != nil {
				return reporting.MirrorRows{}, fmt.Errorf("listing mirror %s row %q: %w", view, pk, err)
			}
			out.Rows = append(out.Rows, row)
		}
		return out, nil
	}
}

// generation returns the decoded rows of the mirror's generation gen
// published at cut, from the cache or read whole.
func (s *Store) generation(ctx context.Context, view string, cols []formats.OutputColumn, gen uint64, cut formats.Position) (*generation, error) {
	s.mu.Lock()
	g := s.gens[view]
	s.mu.Unlock()
	if g != nil && g.gen == gen && g.cut.Compare(cut) == 0 {
		return g, nil
	}
	g = &generation{gen: gen, cut: cut, rows: map[string]formats.Row{}}
	err := s.st.ScanMirrorGeneration(ctx, view, gen, cut, func(pk string, values []byte) error {
		row, err := realtime.DecodeMirrorRow(cols, values)
		if err != nil {
			return fmt.Errorf("row %q: %w", pk, err)
		}
		g.rows[pk] = row
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing mirror %s: %w", view, err)
	}
	s.mu.Lock()
	if s.gens == nil {
		s.gens = map[string]*generation{}
	}
	s.gens[view] = g
	s.mu.Unlock()
	return g, nil
}
