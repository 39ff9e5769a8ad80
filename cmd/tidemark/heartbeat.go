package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// heartbeat writes one row of the source's heartbeat table every interval,
// so that an idle source still moves the binlog: checkpoints, lag and the
// changelog's segments keep advancing (a segment seals only when a later
// transaction arrives). The table is created if missing; the heartbeat user
// needs CREATE and INSERT on it, and its database must be captured.
func heartbeat(ctx context.Context, s *source, log *slog.Logger) error {
	t, err := formats.ParseTableID(s.cfg.Heartbeat)
	if err != nil {
		return err
	}
	every := s.cfg.HeartbeatInterval
	if every <= 0 {
		every = 5 * time.Second
	}
	name := formats.QuoteIdent(t.DB) + "." + formats.QuoteIdent(t.Table)
	db := s.cap.DB()
	if _, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+name+" (id INT NOT NULL PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB"); err != nil {
		return fmt.Errorf("creating heartbeat table %s: %w", t, err)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := db.ExecContext(ctx, "REPLACE INTO "+name+" (id, at) VALUES (1, UTC_TIMESTAMP(6))"); err != nil && ctx.Err() == nil {
			log.Warn("writing the heartbeat failed; retrying", "table", t.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
