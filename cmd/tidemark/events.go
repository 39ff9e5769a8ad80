package main

import (
	"context"
	"log/slog"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/scheduler"
)

// eventSink is where the orchestrator's events go: one log line each, and
// the webhook and OpenLineage endpoints when events.webhook and
// events.openlineage_url are set. run sends what those queue, until ctx
// ends.
type eventSink struct {
	scheduler.Sinks
	senders []*scheduler.Webhook
}

func newEventSink(c config.Events, log *slog.Logger) *eventSink {
	s := &eventSink{Sinks: scheduler.Sinks{scheduler.LogSink{Log: log.With("role", "batch")}}}
	if c.Webhook != "" {
		w := scheduler.NewWebhook(c.Webhook, []byte(c.WebhookSecret), scheduler.WebhookOptions{Logger: log})
		s.Sinks, s.senders = append(s.Sinks, w), append(s.senders, w)
	}
	if c.OpenLineageURL != "" {
		w := scheduler.NewWebhook(c.OpenLineageURL, nil, scheduler.WebhookOptions{Logger: log, OpenLineage: true})
		s.Sinks, s.senders = append(s.Sinks, w), append(s.senders, w)
	}
	return s
}

func (s *eventSink) run(ctx context.Context) error {
	done := make(chan struct{}, len(s.senders))
	for _, w := range s.senders {
		go func() { _ = w.Run(ctx); done <- struct{}{} }()
	}
	for range s.senders {
		<-done
	}
	return nil
}
