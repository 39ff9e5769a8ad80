package athena

import (
	"context"
	"slices"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
)

// NewestPerSource returns each source's newest published generation in the
// lake, oldest first: what a catch-up Glue sync (`tidemark athena sync`)
// brings the catalog to. Sources sharing a lake interleave their
// generations, and each source's tables follow its own newest one. It
// returns no generation and no error for an empty lake.
func NewestPerSource(ctx context.Context, st lake.Store) ([]*batch.Generation, error) {
	nums, err := batch.Generations(ctx, st)
	if err != nil {
		return nil, err
	}
	var out []*batch.Generation
	seen := map[string]bool{}
	for _, n := range slices.Backward(nums) {
		g, err := batch.ReadGeneration(ctx, st, n)
		if err != nil {
			return nil, err
		}
		if !seen[g.Source] {
			seen[g.Source] = true
			out = append(out, g)
		}
	}
	slices.Reverse(out)
	return out, nil
}
