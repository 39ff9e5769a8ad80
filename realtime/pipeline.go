package realtime

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/apply"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// Options configures a Pipeline. Zero values mean the documented default.
type Options struct {
	// Views are the parsed views of this source.
	Views []*formats.View
	// SegmentWidth is the speed segment length; 0 means 10s.
	SegmentWidth time.Duration
	// MaxBatchEvents bounds a pre-aggregated batch; 0 means 50,000.
	MaxBatchEvents int
	// RebootstrapOnPurge re-bootstraps every view when the binlog needed to
	// resume is gone, instead of returning capture.ErrPurged; the archive,
	// when its own checkpoint's binlog is gone and it can (a Rebase
	// method), then records the gap and resumes at the source's position.
	RebootstrapOnPurge bool
	// ChannelSize is how many transactions the capture may decode ahead
	// of the applier; 0 means 4096.
	ChannelSize int
	// MaxQueuedEvents bounds the row changes decoded ahead of the applier
	// (beside ChannelSize, which counts transactions of any size): what
	// keeps memory flat while catching up a backlog of big transactions.
	// The applier folds what it takes into its next batch at once, so
	// more queued rows would not make it faster, only bigger.
	// 0 means 20,000.
	MaxQueuedEvents int
	// Archive, when set, receives the same committed transactions as the
	// views (the changelog archive of the batch layer), in a goroutine of
	// its own that fails apart from the views (see archive.go): it shares
	// the views' stream through a bounded buffer while it keeps up, and
	// catches up from the binlog on a replication connection of its own
	// when it falls behind. Its failures are retried with backoff and never
	// end Run.
	Archive Archive
	// ArchiveServerID is the server_id of the archive's own replication
	// connection; 0 means the capture's server_id + 1.
	ArchiveServerID uint32
	// ArchiveBufferEvents bounds the row changes buffered for the archive
	// beside the views' stream; past it the archive detaches and catches
	// up on its own. 0 means 20,000.
	ArchiveBufferEvents int
	// ArchiveRetryMin and ArchiveRetryMax bound the backoff between failed
	// archive sessions (the lake down); 0 means 1s and 30s.
	ArchiveRetryMin, ArchiveRetryMax time.Duration
	// RetryMin and RetryMax bound the backoff between sessions after a
	// Redis failure; 0 means 200ms and 10s.
	RetryMin, RetryMax time.Duration
	// Logger may be nil (discard). Metrics may be nil.
	Logger  *slog.Logger
	Metrics *Metrics
	// OnStreaming, if set, is called each time a session starts streaming
	// (bootstrap done): readiness for /readyz.
	OnStreaming func()
}

// Archive is a second consumer of the stream: batch/changelog's Archiver.
type Archive interface {
	// Checkpoint is the position after which the archive needs every
	// transaction.
	Checkpoint(ctx context.Context) (formats.Position, uint64, error)
	// Run consumes transactions in commit order (skipping those at or
	// before its checkpoint) until in closes or ctx ends. An error ends
	// the archive session: the next Run resumes from Checkpoint.
	Run(ctx context.Context, in <-chan *formats.Txn) error
}

// Pipeline is the supervised speed layer of one source.
type Pipeline struct {
	cap   *capture.Capture
	store *redisview.Store
	opts  Options
	log   *slog.Logger
	tap   *archiveTap // nil without Options.Archive
}

// NewPipeline returns a Pipeline over a capture and a store; it owns
// neither (the caller closes them after Run returns).
func NewPipeline(c *capture.Capture, s *redisview.Store, opts Options) (*Pipeline, error) {
	if len(opts.Views) == 0 {
		return nil, errors.New("speed layer: no views configured")
	}
	if opts.SegmentWidth == 0 {
		opts.SegmentWidth = 10 * time.Second
	}
	if opts.ChannelSize <= 0 {
		opts.ChannelSize = 4096
	}
	if opts.MaxQueuedEvents <= 0 {
		opts.MaxQueuedEvents = 20000
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 200 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 10 * time.Second
	}
	if opts.ArchiveServerID == 0 {
		opts.ArchiveServerID = c.ServerID() + 1
	}
	if opts.ArchiveBufferEvents <= 0 {
		opts.ArchiveBufferEvents = 20000
	}
	if opts.ArchiveRetryMin <= 0 {
		opts.ArchiveRetryMin = time.Second
	}
	if opts.ArchiveRetryMax <= 0 {
		opts.ArchiveRetryMax = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{cap: c, store: s, opts: opts, log: log}
	if opts.Archive != nil {
		p.tap = newArchiveTap(int64(opts.ArchiveBufferEvents), opts.Metrics)
	}
	return p, nil
}

// Run runs sessions until ctx ends (then it returns nil after the batch in
// flight is applied) or an error no new session can cure. The archive, if
// any, runs beside the sessions until Run returns.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.opts.Metrics != nil {
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		go p.watchRetention(hctx)
	}
	if p.tap != nil {
		actx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.runArchive(actx, p.tap, p.cap.Replica(p.opts.ArchiveServerID))
		}()
		defer func() { stop(); <-done }()
	}
	failures := 0
	var purges purgeRecovery
	for {
		err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, redisview.ErrStateMissing):
			p.restarted("state_missing")
			p.log.Warn("view state missing in Redis (restarted empty?); bootstrapping again", "err", err)
			failures = 0
			continue
		case errors.Is(err, redisview.ErrFenced):
			p.restarted("fenced")
			p.log.Warn("checkpoint fenced; resuming from the stored checkpoints", "err", err)
			failures = 0
			continue
		case errors.Is(err, redisview.ErrLayoutMismatch) || errors.Is(err, formats.ErrShapeChanged):
			stale, serr := p.resetStale(ctx)
			if serr != nil {
				return errors.Join(err, serr)
			}
			if len(stale) == 0 {
				return err
			}
			p.restarted("layout_changed")
			p.log.Warn("a view's stored state no longer matches its definition or table; rebuilding it", "views", stale, "err", err)
			continue
		case errors.Is(err, capture.ErrPurged):
			if !p.opts.RebootstrapOnPurge {
				return err
			}
			p.restarted("purged")
			if d := purges.delay(time.Now()); d > 0 {
				p.log.Warn("the last re-bootstrap after a purged binlog did not get the stream going; waiting before the next",
					"attempt", purges.attempts, "delay", d, "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(d):
				}
			}
			if err := p.recoverPurged(ctx, err); err != nil {
				return err
			}
			continue
		case outage(err) != "":
			failures++
			delay := p.opts.RetryMin << min(failures-1, 16)
			delay = min(delay, p.opts.RetryMax)
			what := outage(err)
			p.restarted(what)
			p.log.Warn("speed layer: "+what+" unavailable; retrying", "err", err, "attempt", failures, "delay", delay)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			continue
		}
		return err
	}
}

func (p *Pipeline) restarted(reason string) {
	if p.opts.Metrics != nil {
		p.opts.Metrics.Restarted(reason)
	}
}

// outage names the server a session error says is unreachable, worth a
// retry after a backoff: "redis" for errors the view store marked
// redisview.ErrUnavailable, "source" for a broken connection to the source
// outside the stream (a bootstrap snapshot, a schema read; the stream
// reconnects by itself). "" for every other error: retrying would not
// cure it. It decides by error kind and type, never by message text.
func outage(err error) string {
	switch {
	case errors.Is(err, redisview.ErrUnavailable):
		return "redis"
	case errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn):
		return "source"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "source" // Redis' network errors are marked ErrUnavailable
	}
	return ""
}

// session bootstraps what has no state, then streams until an error or
// shutdown.
func (p *Pipeline) session(ctx context.Context) error {
	var missing []*formats.View
	for _, v := range p.opts.Views {
		_, err := p.store.Meta(ctx, v.Name)
		switch {
		case errors.Is(err, redisview.ErrStateMissing):
			missing = append(missing, v)
		case err != nil:
			return fmt.Errorf("reading checkpoint of view %s: %w", v.Name, err)
		}
	}
	if len(missing) > 0 {
		if err := p.Bootstrap(ctx, missing); err != nil {
			return err
		}
	}
	ch := make(chan *formats.Txn, p.opts.ChannelSize)
	q := &queue{limit: int64(p.opts.MaxQueuedEvents), room: make(chan struct{}, 1)}
	var am apply.Metrics
	if p.opts.Metrics != nil {
		am = p.opts.Metrics
	}
	a, err := apply.New(p.store, ch, apply.Config{
		Views:          p.opts.Views,
		SegmentWidth:   p.opts.SegmentWidth,
		MaxBatchEvents: p.opts.MaxBatchEvents,
		Metrics:        am,
		Taken:          q.taken,
	})
	if err != nil {
		return fmt.Errorf("starting applier: %w", err)
	}
	from, err := a.Start(ctx)
	if err != nil {
		return err
	}
	// The views' checkpoint alone: the archive catches up by itself.
	if p.tap != nil {
		p.tap.sessionStarted(from)
		defer p.tap.sessionEnded()
	}
	p.log.Info("streaming", "from", from.String())
	if p.opts.OnStreaming != nil {
		p.opts.OnStreaming()
	}
	// The capture stops when the applier does; the applier stops (after
	// its batch in flight) when the capture fails, so that the session
	// ends with the capture's error.
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	actx, stopApply := context.WithCancel(ctx)
	defer stopApply()
	// The capture puts each transaction into the queue itself: every
	// decoded transaction past the one it is putting waits inside the
	// queue's bound. The archive's tap never waits.
	capErr := make(chan error, 1)
	go func() {
		capErr <- p.cap.StreamTo(sctx, from, func(ctx context.Context, t *formats.Txn) bool {
			if p.tap != nil {
				p.tap.offer(t)
			}
			return q.put(ctx, t, ch)
		})
		stopApply()
	}()
	applyErr := a.Run(actx)
	stop()
	cerr := <-capErr
	if applyErr != nil {
		return applyErr
	}
	if ctx.Err() != nil {
		return nil
	}
	if cerr != nil {
		return fmt.Errorf("capturing binlog: %w", cerr)
	}
	return nil
}

// watchRetention refreshes the binlog retention headroom metric every
// 30 seconds; the source's retention setting can change at any time.
func (p *Pipeline) watchRetention(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if r, err := p.cap.Retention(ctx); err == nil {
			p.opts.Metrics.Headroom(r)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resetStale finds the views whose state in Redis was written for another
// layout than the one their definition and their table's live schema give
// now (a DDL changed a mirrored table's columns or a summed column's
// scale; the view's definition changed), re-parses every view (a
// formats.View fixes its layout at its first Bind) and resets the stale
// ones, so that the next session bootstraps them.
func (p *Pipeline) resetStale(ctx context.Context) ([]string, error) {
	tables := map[formats.TableID]bool{}
	var ids []formats.TableID
	for _, v := range p.opts.Views {
		if !tables[v.From] {
			tables[v.From] = true
			ids = append(ids, v.From)
		}
	}
	schemas, err := p.cap.Schemas(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("reading schemas to find stale views: %w", err)
	}
	var stale []string
	for i, v := range p.opts.Views {
		fresh, err := formats.ParseView(v.Spec())
		if err != nil {
			return nil, fmt.Errorf("re-parsing view %s: %w", v.Name, err)
		}
		p.opts.Views[i] = fresh
		sch, ok := schemas[v.From]
		if !ok {
			continue
		}
		bv, err := fresh.Bind(sch)
		if err != nil {
			return nil, fmt.Errorf("view %s no longer binds to %s: %w", v.Name, v.From, err)
		}
		want := redisview.Fingerprint(fresh)
		if fresh.Mirror {
			want = redisview.MirrorFingerprint(bv)
		}
		m, err := p.store.Meta(ctx, v.Name)
		if err != nil {
			if errors.Is(err, redisview.ErrStateMissing) {
				continue
			}
			return nil, fmt.Errorf("reading view %s: %w", v.Name, err)
		}
		if m.Fingerprint != want {
			if err := p.store.Reset(ctx, v.Name); err != nil {
				return nil, fmt.Errorf("resetting view %s: %w", v.Name, err)
			}
			stale = append(stale, v.Name)
		}
	}
	return stale, nil
}

// queue bounds what the capture has decoded ahead of the applier: at most
// MaxQueuedEvents row changes (and ChannelSize transactions). The capture
// blocks beyond that, so memory stays flat however large the backlog; the
// applier's own batch is bounded separately (speed.max_batch_events), and
// the archive's buffer by Options.ArchiveBufferEvents. A transaction is
// counted from its capture until the applier took it.
type queue struct {
	queued atomic.Int64 // Σ weight of what the applier has yet to take
	limit  int64
	room   chan struct{}
}

func weight(t *formats.Txn) int64 { return int64(len(t.Events)) + 1 }

// taken is called as the applier takes t (apply.Config.Taken).
func (q *queue) taken(t *formats.Txn) {
	q.queued.Add(-weight(t))
	select {
	case q.room <- struct{}{}:
	default:
	}
}

// put passes a captured transaction to the applier on out, waiting for
// room first; false when ctx ended first. A transaction larger than the
// bound passes alone.
func (q *queue) put(ctx context.Context, t *formats.Txn, out chan<- *formats.Txn) bool {
	w := weight(t)
	for n := q.queued.Load(); n > 0 && n+w > q.limit; n = q.queued.Load() {
		select {
		case <-ctx.Done():
			return false
		case <-q.room:
		}
	}
	q.queued.Add(w)
	select {
	case out <- t:
		return true
	case <-ctx.Done():
		return false
	}
}
