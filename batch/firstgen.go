package batch

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/formats"
)

// PublishedGenerations is what FirstGeneration needs of the serving store.
type PublishedGenerations interface {
	// PublishedGeneration returns the generation last published for view;
	// ok is false when none ever was (a view the store has no state of is
	// not an error).
	PublishedGeneration(ctx context.Context, view string) (gen uint64, ok bool, err error)
}

// FirstGeneration returns Options.FirstGeneration for views: one past the
// newest generation the serving store has published for any of them, 0 when
// it has none. The speed layer's bootstrap publishes generation 0 in the
// store before the lake has any, and a reader must only ever see generation
// numbers grow, so the lake's first generation continues after the store's.
// (Once the lake has a generation, Rebuild numbers from the lake alone.)
func FirstGeneration(ctx context.Context, store PublishedGenerations, views []*formats.View) (uint64, error) {
	var first uint64
	for _, v := range views {
		g, ok, err := store.PublishedGeneration(ctx, v.Name)
		if err != nil {
			return 0, fmt.Errorf("reading the published generation of view %s: %w", v.Name, err)
		}
		if ok {
			first = max(first, g+1)
		}
	}
	return first, nil
}
