package batch

import (
	"context"
	"log/slog"

	"github.com/tidemark/tidemark/batch/lake"
)

// Retire deletes the generations older than the keep newest, as each
// rebuild does after its publish; the orchestrator's retention job runs it
// on its own schedule. A lake without generations is left alone.
func Retire(ctx context.Context, store lake.Store, keep int, log *slog.Logger) error {
	latest, err := Latest(ctx, store)
	if err != nil || latest == nil {
		return err
	}
	if keep < 1 {
		keep = 1
	}
	return retire(ctx, store, latest.Generation, Options{Keep: keep}, log)
}
