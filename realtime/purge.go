package realtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// Rebaser is implemented by an Archive that can re-base past a purged
// binlog (batch/changelog's Archiver): it records in the changelog that
// the changes after its checkpoint up to and including to are missing, and
// makes to its checkpoint. It is called between sessions, never beside Run.
type Rebaser interface {
	Rebase(ctx context.Context, to formats.Position, reason string) error
}

// purgeRecovery paces re-bootstraps after purged binlogs: a recovery that
// follows the previous one within purgeQuiet did not progress (the stream
// failed again at once), so it waits, doubling from purgeMin up to
// purgeMax, instead of snapshotting the source again and again.
type purgeRecovery struct {
	last     time.Time
	attempts int
}

const (
	purgeQuiet = 2 * time.Minute
	purgeMin   = time.Second
	purgeMax   = 5 * time.Minute
)

// delay returns how long to wait before the next recovery at now; 0 for
// the first one in a while.
func (r *purgeRecovery) delay(now time.Time) time.Duration {
	if r.last.IsZero() || now.Sub(r.last) > purgeQuiet {
		r.attempts = 0
	}
	r.attempts++
	r.last = now
	if r.attempts == 1 {
		return 0
	}
	d := purgeMin << min(r.attempts-2, 20)
	return min(d, purgeMax)
}

// recoverPurged resets every view whose checkpoint is in a purged binlog
// file, so that the next session bootstraps it from a fresh snapshot and
// resumes from a position the source still has. The archive is not
// touched here: it runs apart from the speed sessions and re-bases itself
// between its own sessions (runArchive, rebaseArchive), recording the gap
// in the changelog. cause is the error that reported the purge.
func (p *Pipeline) recoverPurged(ctx context.Context, cause error) error {
	reset, err := p.resetPurgedViews(ctx)
	if err != nil {
		return err
	}
	p.log.Warn("binlog needed to resume was purged; re-bootstrapping the views whose checkpoint is gone (speed.rebootstrap_on_purge)",
		"views_reset", reset, "err", cause)
	return nil
}

// resetPurgedViews resets the views whose checkpoint is in a purged binlog
// file and returns their names.
func (p *Pipeline) resetPurgedViews(ctx context.Context) ([]string, error) {
	var reset []string
	for _, v := range p.opts.Views {
		m, err := p.store.Meta(ctx, v.Name)
		if errors.Is(err, redisview.ErrStateMissing) {
			continue // bootstrapped by the next session anyway
		}
		if err != nil {
			return nil, fmt.Errorf("reading checkpoint of view %s: %w", v.Name, err)
		}
		if err := p.cap.CheckRetained(ctx, m.Checkpoint); err != nil {
			if !errors.Is(err, capture.ErrPurged) {
				return nil, fmt.Errorf("checking the checkpoint of view %s: %w", v.Name, err)
			}
			if err := p.store.Reset(ctx, v.Name); err != nil {
				return nil, fmt.Errorf("resetting view %s for re-bootstrap: %w", v.Name, err)
			}
			reset = append(reset, v.Name)
		}
	}
	return reset, nil
}
