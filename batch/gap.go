package batch

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
)

// gapAfterCut reports whether the changelog records a gap (a purged
// binlog, changelog.Gap) after prev's cut: prev cannot be rolled across
// it, so the rebuild re-extracts from the source on its own (when it has
// one; without, findCut refuses the replay with changelog.ErrIncomplete).
func gapAfterCut(ctx context.Context, store lake.Store, src Source, prev *Generation, o Options, log *slog.Logger) (bool, error) {
	if prev == nil || src == nil {
		return false, nil
	}
	gap, err := changelog.NewReader(store, o.SourceName).GapAfter(ctx, prev.CutSegment)
	if err != nil || gap == nil {
		return false, err
	}
	log.Warn("RebuildFromSource", "event", "RebuildFromSource", "gap_segment", gap.Segment,
		"gap_after", gap.Gap.After, "gap_until", gap.Gap.Until,
		"reason", fmt.Sprintf("the changelog records a gap after generation %d's cut: %s", prev.Generation, gap.Gap.Reason))
	return true, nil
}
