package serving

import (
	"context"
	"errors"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/realtime/redisview"
)

var _ batch.PublishedGenerations = Publisher{}

// PublishedGeneration implements batch.PublishedGenerations: the generation
// of the view's Redis meta, if one was ever published there.
func (p Publisher) PublishedGeneration(ctx context.Context, view string) (uint64, bool, error) {
	m, err := p.Meta(ctx, view)
	if errors.Is(err, redisview.ErrStateMissing) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return m.Generation, m.Published, nil
}
