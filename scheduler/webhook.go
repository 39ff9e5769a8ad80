package scheduler

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// WebhookOptions tune a Webhook.
type WebhookOptions struct {
	// Client sends the requests; nil means one with a 10s timeout.
	Client *http.Client
	// Attempts per event (first try included); 0 means 5.
	Attempts int
	// Backoff is the wait before the first retry, doubling each time; 0
	// means 500ms.
	Backoff time.Duration
	// Queue is how many events wait to be sent before new ones are dropped
	// (logged); 0 means 1000.
	Queue  int
	Logger *slog.Logger
	// OpenLineage turns the body into an OpenLineage run event (and sends
	// only the run lifecycle events); no signature is added.
	OpenLineage bool
}

// Webhook posts events as JSON to a URL, in order, each retried on a
// network error or a 5xx/429 answer. Each request carries
//
//	X-Tidemark-Event:     the event name
//	X-Tidemark-Timestamp: Unix seconds when it was signed
//	X-Tidemark-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed by the secret>
//
// so a receiver checks the signature and refuses stale timestamps
// (replays). Emit never blocks: the events queue for Run, which sends them
// until its ctx ends.
type Webhook struct {
	url    string
	secret []byte
	o      WebhookOptions
	queue  chan Event
}

var _ Sink = (*Webhook)(nil)

// NewWebhook returns a Webhook posting to url, signing with secret.
func NewWebhook(url string, secret []byte, o WebhookOptions) *Webhook {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Queue <= 0 {
		o.Queue = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Webhook{url: url, secret: secret, o: o, queue: make(chan Event, o.Queue)}
}

// Emit implements Sink.
func (w *Webhook) Emit(ctx context.Context, e Event) {
	if w.o.OpenLineage && olState(e.Name) == "" {
		return
	}
	select {
	case w.queue <- e:
	default:
		w.o.Logger.Warn("webhook queue full; event dropped", "url", w.url, "event", e.Name, "job", e.Job)
	}
}

// Run sends queued events until ctx ends, then those already queued for up
// to 5 more seconds.
func (w *Webhook) Run(ctx context.Context) error {
	var pending *Event // taken off the queue as the stop came
	for ctx.Err() == nil {
		select {
		case e := <-w.queue:
			if ctx.Err() == nil {
				w.send(ctx, e)
				continue
			}
			pending = &e
		case <-ctx.Done():
		}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if pending != nil {
		w.send(dctx, *pending)
	}
	for {
		select {
		case e := <-w.queue:
			w.send(dctx, e)
		default:
			return nil
		}
	}
}

// Sign returns the X-Tidemark-Signature value of body at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (w *Webhook) send(ctx context.Context, e Event) {
	var body []byte
	if w.o.OpenLineage {
		body, _ = json.Marshal(openLineage(e))
	} else {
		body, _ = json.Marshal(e)
	}
	wait := w.o.Backoff
	var last error
	for attempt := 1; attempt <= w.o.Attempts; attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				w.o.Logger.Warn("webhook event not delivered: stopping", "url", w.url, "event", e.Name, "error", last)
				return
			case <-time.After(wait):
			}
			wait *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
		if err != nil {
			w.o.Logger.Error("webhook: bad request", "url", w.url, "error", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if !w.o.OpenLineage {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			req.Header.Set("X-Tidemark-Event", e.Name)
			req.Header.Set("X-Tidemark-Timestamp", ts)
			req.Header.Set("X-Tidemark-Signature", Sign(w.secret, ts, body))
		}
		resp, err := w.o.Client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				w.o.Logger.Warn("webhook refused the event; not retried", "url", w.url, "event", e.Name, "error", err)
				return
			}
		}
		last = err
	}
	w.o.Logger.Warn("webhook event not delivered after retries", "url", w.url, "event", e.Name, "attempts", w.o.Attempts, "error", last)
}

// olState maps a run lifecycle event to an OpenLineage eventType.
func olState(name string) string {
	switch name {
	case "RunStarted":
		return "START"
	case "RunSucceeded":
		return "COMPLETE"
	case "HaltError", "LeaseLost":
		return "FAIL"
	case "RunCancelled":
		return "ABORT"
	}
	return ""
}

// openLineage is the OpenLineage RunEvent of e: the job's run, as inputs
// the datasets it read (a rebuild's source tables) with their row counts
// (the standard inputStatistics facet), and as output the generation it
// produced with a facet of its cut and counts.
func openLineage(e Event) map[string]any {
	sum := sha1.Sum([]byte(e.Job + "/" + e.Run))
	sum[6] = sum[6]&0x0f | 0x50 // a name-based (v5) UUID of job/run
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	runID := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	ev := map[string]any{
		"eventType": olState(e.Name),
		"eventTime": e.Time.UTC().Format(time.RFC3339Nano),
		"producer":  "https://github.com/tidemark/tidemark",
		"schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
		"run":       map[string]any{"runId": runID},
		"job":       map[string]any{"namespace": "tidemark", "name": e.Job},
	}
	if e.Generation != nil {
		ev["outputs"] = []any{map[string]any{
			"namespace": "tidemark", "name": "generation",
			"facets": map[string]any{"tidemark_generation": map[string]any{
				"_producer":  "https://github.com/tidemark/tidemark",
				"_schemaURL": "https://github.com/tidemark/tidemark/docs/orchestrator.md",
				"generation": *e.Generation, "cut": e.Cut, "counts": e.Counts,
			}},
		}}
	}
	if len(e.Inputs) > 0 {
		in := make([]any, 0, len(e.Inputs))
		for _, d := range e.Inputs {
			in = append(in, map[string]any{
				"namespace": d.Namespace, "name": d.Name,
				"inputFacets": map[string]any{"inputStatistics": map[string]any{
					"_producer":  "https://github.com/tidemark/tidemark",
					"_schemaURL": "https://openlineage.io/spec/facets/1-0-0/InputStatisticsInputDatasetFacet.json",
					"rowCount":   d.Rows,
				}},
			})
		}
		ev["inputs"] = in
	}
	if e.Error != "" {
		ev["run"].(map[string]any)["facets"] = map[string]any{"errorMessage": map[string]any{
			"_producer": "https://github.com/tidemark/tidemark", "_schemaURL": "https://openlineage.io/spec/facets/1-0-0/ErrorMessageRunFacet.json",
			"message": e.Error, "programmingLanguage": "go"}}
	}
	return ev
}
