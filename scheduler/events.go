package scheduler

import (
	"context"
	"log/slog"
	"time"
)

// Event is one lifecycle event of a run: the scheduler's own (RunStarted,
// RunSucceeded, RetryError, HaltError, TickSkipped, TicksMissed, ...) and
// those a job emits through Run.Emit (RebuildStarted, TableExtracted,
// ExtractCompleted, GenerationPublished, TableLoaded, LoadCompleted,
// VerifyFailed).
type Event struct {
	Name       string           `json:"event"`
	Time       time.Time        `json:"time"`
	Job        string           `json:"job"`
	Run        string           `json:"run,omitempty"`
	Attempt    int              `json:"attempt,omitempty"`
	Generation *uint64          `json:"generation,omitempty"`
	Cut        string           `json:"cut,omitempty"`
	Counts     map[string]int64 `json:"counts,omitempty"`
	// Subject names what the event is about beyond the run: a table, a
	// view, a warehouse target.
	Subject string `json:"subject,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Sink receives events. Emit must not block for long: a sink that sends
// over the network queues (Webhook does).
type Sink interface {
	Emit(ctx context.Context, e Event)
}

// LogSink writes each event as one structured log line.
type LogSink struct{ Log *slog.Logger }

// Emit implements Sink.
func (s LogSink) Emit(ctx context.Context, e Event) {
	attrs := []any{"event", e.Name, "job", e.Job}
	if e.Run != "" {
		attrs = append(attrs, "run", e.Run)
	}
	if e.Attempt > 0 {
		attrs = append(attrs, "attempt", e.Attempt)
	}
	if e.Generation != nil {
		attrs = append(attrs, "generation", *e.Generation)
	}
	if e.Cut != "" {
		attrs = append(attrs, "cut", e.Cut)
	}
	if e.Subject != "" {
		attrs = append(attrs, "subject", e.Subject)
	}
	for k, v := range e.Counts {
		attrs = append(attrs, k, v)
	}
	lvl := slog.LevelInfo
	if e.Error != "" {
		attrs = append(attrs, "error", e.Error)
		lvl = slog.LevelWarn
		if e.Name == "HaltError" {
			lvl = slog.LevelError
		}
	}
	s.Log.Log(ctx, lvl, e.Name, attrs...)
}

// Sinks fans events out to several sinks.
type Sinks []Sink

// Emit implements Sink.
func (ss Sinks) Emit(ctx context.Context, e Event) {
	for _, s := range ss {
		if s != nil {
			s.Emit(ctx, e)
		}
	}
}
