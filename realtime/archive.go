package realtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/capture"
)

// The changelog archive (Options.Archive) consumes the same transactions
// as the views but fails apart from them: a lake outage, throttling or a
// slow bucket never holds back or ends a speed session.
//
// The speed session offers every captured transaction to a bounded buffer
// (archiveTap) without ever waiting for it. The archive runs in its own
// goroutine and takes from the buffer while it keeps up ("attached"). When
// the buffer is full, the tap detaches the archive and stops buffering: the
// speed layer's memory stays bounded by speed.max_queued_events plus the
// buffer. The detached archive drains what was buffered, then catches up
// from the binlog with a replication connection of its own (server_id
// Options.ArchiveServerID), from the last transaction it took, and
// re-attaches once it is level with the speed layer's stream: from then on
// the tap buffers again, and the archive skips what it already has by
// position. The archive also starts detached (it resumes from its own
// checkpoint, the last sealed segment), and is detached whenever no speed
// session streams (Redis down, a bootstrap), so it never waits for Redis
// either.
//
// The archive receives every transaction in commit order exactly once per
// archive session: each transaction it takes is after the previous one,
// from whichever stream. An archive session that fails (the lake is down)
// discards its open segment; the next one resumes after the last sealed
// segment, catching up from the binlog, with backoff between attempts.

// archiveTap is the bounded buffer between the speed session's stream and
// the archive. All methods are safe for concurrent use: offer and the
// session hooks run on the speed side, take and attach on the archive's.
type archiveTap struct {
	limit   int64 // row changes (weight) buffered at most
	metrics *Metrics

	mu       sync.Mutex
	buf      []*formats.Txn
	weight   int64
	attached bool
	live     bool             // a speed session is streaming
	head     formats.Position // the last position the live stream offered
	headTime time.Time
	notify   chan struct{} // cap 1: buf grew or the archive was detached
}

func newArchiveTap(limit int64, m *Metrics) *archiveTap {
	return &archiveTap{limit: limit, metrics: m, notify: make(chan struct{}, 1)}
}

func (t *archiveTap) signal() {
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// offer buffers txn for the archive if it is attached and there is room,
// else detaches it. It never blocks.
func (t *archiveTap) offer(txn *formats.Txn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.head, t.headTime = txn.Pos, txn.CommitTime
	if !t.attached {
		return
	}
	w := weight(txn)
	if len(t.buf) > 0 && t.weight+w > t.limit {
		t.detachLocked()
		return
	}
	t.buf = append(t.buf, txn)
	t.weight += w
	t.signal()
}

// detachLocked stops buffering; what is buffered stays for take.
func (t *archiveTap) detachLocked() {
	if !t.attached {
		return
	}
	t.attached = false
	if t.metrics != nil {
		t.metrics.archiveDetached()
	}
	t.signal()
}

// sessionStarted is called when a speed session streams from from (the
// views' checkpoint): if that skips transactions after the tap's head, the
// archive cannot follow the new stream without a gap and is detached.
func (t *archiveTap) sessionStarted(from formats.Position) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live = true
	if t.head.Less(from) {
		t.detachLocked()
		t.head = from
	}
}

// sessionEnded is called when a speed session stops streaming: the archive
// must not wait for the next one.
func (t *archiveTap) sessionEnded() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live = false
	t.detachLocked()
}

// reset detaches the archive and drops the buffer: a new archive session
// resumes from its checkpoint, before what is buffered.
func (t *archiveTap) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.detachLocked()
	clear(t.buf)
	t.buf, t.weight = nil, 0
}

// attach re-attaches the archive, whose last transaction is at pos, when
// that is level with the live stream's head (heartbeat ticks at one commit
// count as level; the archive skips by position what it already has).
// It reports whether the archive is attached.
func (t *archiveTap) attach(pos formats.Position) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.attached {
		return true
	}
	if !t.live || pos.Commit().Less(t.head.Commit()) || len(t.buf) > 0 {
		return false
	}
	t.attached = true
	if t.metrics != nil {
		t.metrics.archiveAttached()
	}
	return true
}

// take returns the next buffered transaction; false once the buffer is
// empty and the archive is detached, or ctx is done.
func (t *archiveTap) take(ctx context.Context) (*formats.Txn, bool) {
	for {
		t.mu.Lock()
		if len(t.buf) > 0 {
			txn := t.buf[0]
			t.buf[0] = nil
			t.buf = t.buf[1:]
			if len(t.buf) == 0 {
				t.buf = nil
			}
			t.weight -= weight(txn)
			t.mu.Unlock()
			return txn, true
		}
		attached := t.attached
		t.mu.Unlock()
		if !attached {
			return nil, false
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-t.notify:
		}
	}
}

// runArchive runs archive sessions until ctx ends, with backoff between
// failed ones. It never returns an error: the archive's failures are
// logged and counted, and end nothing else.
func (p *Pipeline) runArchive(ctx context.Context, tap *archiveTap, own *capture.Capture) {
	failures := 0
	for {
		start := time.Now()
		err := p.archiveSession(ctx, tap, own)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > p.opts.ArchiveRetryMax {
			failures = 0 // it worked for a while: this is a new outage
		}
		failures++
		delay := min(p.opts.ArchiveRetryMin<<min(failures-1, 16), p.opts.ArchiveRetryMax)
		if p.opts.Metrics != nil {
			p.opts.Metrics.archiveRestarted(err.reason)
		}
		if err.reason == "purged" {
			if p.rebaseArchive(ctx, err.err) {
				failures = 0
				continue
			}
			p.log.Error("changelog archive: "+err.what+"; retrying (the speed layer is not affected)",
				"err", err.err, "attempt", failures, "delay", delay)
		} else {
			p.log.Warn("changelog archive: "+err.what+"; retrying (the speed layer is not affected)",
				"err", err.err, "attempt", failures, "delay", delay)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// archiveError is why an archive session ended.
type archiveError struct {
	reason string // metric label: lake or binlog
	what   string // for the log line
	err    error
}

// archiveSession runs the archive from its checkpoint until it fails or ctx
// ends; it says why it ended (the caller ignores that once ctx is done).
func (p *Pipeline) archiveSession(ctx context.Context, tap *archiveTap, own *capture.Capture) *archiveError {
	tap.reset()
	from, _, err := p.opts.Archive.Checkpoint(ctx)
	if err != nil {
		return &archiveError{"lake", "lake unavailable (reading the archive's checkpoint)", err}
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	in := make(chan *formats.Txn)
	feedErr := make(chan error, 1)
	go func() {
		feedErr <- p.feedArchive(sctx, tap, own, from, in)
		stop()
	}()
	runErr := p.opts.Archive.Run(sctx, in)
	stop()
	ferr := <-feedErr
	switch {
	case errors.Is(ferr, capture.ErrPurged):
		return &archiveError{"purged", "the binlog it must resume from was purged on the source (raise binlog retention; with speed.rebootstrap_on_purge the archive records the gap and resumes)", ferr}
	case ferr != nil:
		return &archiveError{"binlog", "catching up from the binlog failed", ferr}
	case runErr != nil && ctx.Err() == nil:
		return &archiveError{"lake", "lake unavailable or failing (writing the changelog)", runErr}
	}
	return &archiveError{"lake", "stopped", errors.New("the changelog archiver returned without an error")}
}

// rebaseArchive, with speed.rebootstrap_on_purge and an archive that can
// (batch/changelog's Archiver.Rebase), records in the changelog that the
// changes between its checkpoint and the source's current position are
// missing and makes that position its checkpoint, so that the next archive
// session resumes where the binlog still is; the next rebuild re-extracts
// from the source. It runs between archive sessions, never beside Run, and
// reports whether it re-based.
func (p *Pipeline) rebaseArchive(ctx context.Context, cause error) bool {
	rb, ok := p.opts.Archive.(Rebaser)
	if !p.opts.RebootstrapOnPurge || !ok {
		return false
	}
	to, err := p.cap.CurrentPosition(ctx)
	if err == nil {
		err = rb.Rebase(ctx, to, "the binlog the changelog archive needed was purged on the source before it was archived")
	}
	if err != nil {
		p.log.Error("changelog archive: re-basing past a purged binlog failed; retrying", "err", err, "cause", cause)
		return false
	}
	p.log.Warn("changelog archive: the binlog it needed was purged; gap recorded in the changelog, resuming at the source's position (speed.rebootstrap_on_purge)",
		"at", to.String(), "cause", cause)
	return true
}

// feedArchive sends the archive every transaction after from, in order:
// from the tap while attached, else from its own replication stream. It
// returns nil when ctx ends, or the catch-up stream's error.
func (p *Pipeline) feedArchive(ctx context.Context, tap *archiveTap, own *capture.Capture, from formats.Position, out chan<- *formats.Txn) error {
	last := from
	send := func(t *formats.Txn) bool {
		if !last.Less(t.Pos) {
			return true // the archive has it
		}
		select {
		case out <- t:
			last = t.Pos
			if p.opts.Metrics != nil {
				p.opts.Metrics.archiveTook(t.CommitTime)
			}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		if !tap.attach(last) {
			p.log.Info("changelog archive: catching up from the binlog on its own connection", "from", last.String(), "server_id", own.ServerID())
			var err error
			if last, err = p.catchUp(ctx, tap, own, last, send); err != nil || ctx.Err() != nil {
				return err
			}
			p.log.Info("changelog archive: level with the speed layer's stream; sharing it again", "at", last.String())
		}
		for {
			t, ok := tap.take(ctx)
			if !ok {
				break
			}
			if !send(t) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.Info("changelog archive: fell behind the shared stream (buffer full or no speed session); detached", "at", last.String())
	}
}

// catchUp streams from the binlog after from into send until the archive
// is level with the live stream and re-attached; it returns the last
// position sent.
func (p *Pipeline) catchUp(ctx context.Context, tap *archiveTap, own *capture.Capture, from formats.Position, send func(*formats.Txn) bool) (formats.Position, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex // last, between the stream's goroutine and the attach checks
	last := from
	errc := make(chan error, 1)
	go func() {
		errc <- own.StreamTo(cctx, from, func(ctx context.Context, t *formats.Txn) bool {
			if ctx.Err() != nil || !send(t) {
				return false
			}
			mu.Lock()
			if last.Less(t.Pos) {
				last = t.Pos
			}
			mu.Unlock()
			return true
		})
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			if ctx.Err() != nil {
				return last, nil
			}
			if err == nil {
				err = errors.New("the catch-up stream ended")
			}
			return last, err
		case <-tick.C:
			mu.Lock()
			ok := tap.attach(last)
			if ok {
				cancel()
			}
			mu.Unlock()
			if ok {
				<-errc
				return last, nil
			}
		}
	}
}
