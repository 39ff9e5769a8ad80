package capture

import (
	"context"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// Heartbeat writes one row of Config.HeartbeatTable every interval until
// ctx is done (then it returns nil), so that an idle source still moves
// the binlog: checkpoints, lag and the changelog's segments keep advancing
// (a segment seals only when a later transaction arrives). The row's "at"
// column holds the source's UTC_TIMESTAMP(6) in a DATETIME(6), which
// Stream reads back to stamp the heartbeat's transaction to the
// microsecond (formats.ClockHeartbeat): the binlog's own commit times are
// whole seconds.
//
// The table is created if missing; the user needs CREATE and INSERT on it,
// and its database must be captured, or its writes would not reach Stream.
// A failed write is logged at Warn and retried at the next tick; only a
// failure to create the table ends Heartbeat. interval <= 0 means 5s.
func (c *Capture) Heartbeat(ctx context.Context, interval time.Duration) error {
	t := c.cfg.HeartbeatTable
	if t.Table == "" {
		return fmt.Errorf("writing heartbeats to %s: no heartbeat table configured", c.addr())
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	name := formats.QuoteIdent(t.DB) + "." + formats.QuoteIdent(t.Table)
	if _, err := c.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+name+" (id INT NOT NULL PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB"); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("creating heartbeat table %s: %w", t, err)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := c.db.ExecContext(ctx, "REPLACE INTO "+name+" (id, at) VALUES (1, UTC_TIMESTAMP(6))"); err != nil && ctx.Err() == nil {
			c.log.Warn("writing the heartbeat failed; retrying", "table", t.String(), "source", c.addr(), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
