package scheduler

import (
	"context"
	"log/slog"
	"slices"
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
	// Inputs are the datasets the run read, with their row counts
	// (RunSucceeded of a rebuild: its source tables).
	Inputs []Dataset `json:"inputs,omitempty"`

	// logged: the event came from a log record (EventLogger), which is
	// its log line already.
	logged bool
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
	if e.logged {
		return
	}
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

// EventLogger returns log extended so that each record carrying an
// "event" attribute (the batch layer's RebuildStarted, TableExtracted,
// ExtractCompleted, GenerationPublished, ...) is also emitted as an Event
// of run r: "generation" and "cut" attributes fill those fields, "table"
// and "view" the subject, other integer attributes the counts. Records
// are logged as before.
func EventLogger(log *slog.Logger, r *Run) *slog.Logger {
	return slog.New(&eventHandler{next: log.Handler(), run: r})
}

type eventHandler struct {
	next  slog.Handler
	run   *Run
	attrs []slog.Attr
}

func (h *eventHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return true // events are emitted whatever the log level
}

func (h *eventHandler) Handle(ctx context.Context, rec slog.Record) error {
	var e Event
	add := func(a slog.Attr) {
		v := a.Value.Resolve()
		switch a.Key {
		case "event":
			e.Name = v.String()
		case "generation":
			if g, ok := uintOf(v); ok {
				e.Generation = &g
			}
		case "cut":
			e.Cut = v.String()
		case "table", "view", "target":
			e.Subject = v.String()
		case "error", "err":
			e.Error = v.String()
		default:
			if n, ok := uintOf(v); ok {
				if e.Counts == nil {
					e.Counts = map[string]int64{}
				}
				e.Counts[a.Key] = int64(n)
			}
		}
	}
	for _, a := range h.attrs {
		add(a)
	}
	rec.Attrs(func(a slog.Attr) bool { add(a); return true })
	if e.Name != "" {
		e.Time, e.logged = rec.Time.UTC(), true
		h.run.Emit(ctx, e)
	}
	if !h.next.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.next.Handle(ctx, rec)
}

func uintOf(v slog.Value) (uint64, bool) {
	switch v.Kind() {
	case slog.KindInt64:
		if v.Int64() >= 0 {
			return uint64(v.Int64()), true
		}
	case slog.KindUint64:
		return v.Uint64(), true
	}
	return 0, false
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &eventHandler{next: h.next.WithAttrs(as), run: h.run, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *eventHandler) WithGroup(name string) slog.Handler {
	return &eventHandler{next: h.next.WithGroup(name), run: h.run, attrs: h.attrs}
}
