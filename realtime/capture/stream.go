package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
)

// errDeadConn ends a session whose connection stayed silent past three
// heartbeat periods.
var errDeadConn = errors.New("replication connection silent for three heartbeat periods")

// Stream reads the source's binlog from just after the commit at from and
// sends every committed transaction that touches a captured table on out,
// in binlog order, one *formats.Txn per transaction (see the package
// documentation for positions and schemas). Transactions that touch no
// captured table are sent as a Txn without Events, at most once per
// Config.IdleTxnInterval, so checkpoints and lag move on a filtered or
// quiet source, and on an idle stream a tick (an empty Txn after the last
// commit, Row counting up; see tick.go) at each replication heartbeat, at
// most once per Config.Tick. Stream never closes out; a blocked send is the
// backpressure.
//
// A broken replication connection is reconnected with exponential backoff
// and the stream resumes after the last transaction it sent (or skipped as
// empty): a transaction half-read when the connection broke is dropped and
// read again whole. Stream returns nil once ctx is done; otherwise it
// returns only errors that reconnecting cannot cure: ErrPurged when the
// binlog needed is gone, ErrPrerequisite when the binlog shows a
// misconfigured source, access and decoding errors, or the last error after
// Config.ReconnectAttempts consecutive failures.
func (c *Capture) Stream(ctx context.Context, from formats.Position, out chan<- *formats.Txn) error {
	return c.StreamTo(ctx, from, func(ctx context.Context, txn *formats.Txn) bool {
		select {
		case out <- txn:
			return true
		case <-ctx.Done():
			return false
		}
	})
}

// StreamTo is Stream delivering each transaction by calling put on the
// capture's goroutine instead of sending it on a channel: put blocks for
// backpressure and returns false once ctx is done. A consumer that must
// wait for room or fan out can do so in put, without a goroutine (and its
// hand-off, a good part of a small transaction's lag) between the capture
// and the channel it feeds.
func (c *Capture) StreamTo(ctx context.Context, from formats.Position, put func(context.Context, *formats.Txn) bool) error {
	if from.File == "" || from.Offset < 4 {
		return fmt.Errorf("streaming from %s: not a binlog position (use the position of a snapshot or CurrentPosition)", from)
	}
	st := &streamState{resume: from.Commit()}
	failures := 0
	for {
		err := c.session(ctx, st, put)
		if ctx.Err() != nil {
			return nil
		}
		retry, err := classify(err, st.resume)
		if !retry {
			return err
		}
		if st.progressed {
			failures = 0
		}
		failures++
		if c.cfg.ReconnectAttempts > 0 && failures >= c.cfg.ReconnectAttempts {
			return fmt.Errorf("reading binlog from %s: giving up after %d attempts: %w", st.resume, failures, err)
		}
		delay := backoff(c.cfg.ReconnectMin, c.cfg.ReconnectMax, failures)
		c.log.Warn("binlog connection broken; reconnecting",
			slog.String("source", c.addr()), slog.String("resume", st.resume.String()),
			slog.Int("attempt", failures), slog.Duration("delay", delay),
			slog.String("error", err.Error())) // not Any: slog prints %+v, and go-mysql's errors carry stacks
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		st.reconnect = true
	}
}

// backoff returns the delay before attempt n (1-based): lo doubled n-1
// times, capped at hi.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// streamState is what survives from one replication session to the next.
type streamState struct {
	// resume is the commit after which the next session starts: the last
	// transaction sent, or a later one skipped because it was empty.
	resume     formats.Position
	reconnect  bool // the next session replaces a broken one
	progressed bool // the last session received events
	lastEmpty  time.Time
	lastTick   time.Time
}

// session runs one replication connection until it breaks or ctx is done.
// It first makes sure the file it resumes in is still on the source, so a
// purged position is reported as such before any replication connection.
func (c *Capture) session(ctx context.Context, st *streamState, put func(context.Context, *formats.Txn) bool) error {
	st.progressed = false
	// Bounded like the replication connection's silence: a pooled
	// connection may sit on a dead network path.
	limit := 30 * time.Second
	if c.cfg.Heartbeat > 0 {
		limit = max(3*c.cfg.Heartbeat, 5*time.Second)
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	err := c.checkRetained(cctx, st.resume)
	cancel()
	if err != nil {
		return err
	}
	// decoded counts the rows events go-mysql's reader has decoded,
	// consumed those this goroutine has taken: equal after a commit, the
	// capture holds nothing the source sent after it (see stamp).
	var decoded atomic.Int64
	var consumed int64
	scfg := c.syncerConfig()
	scfg.RowsEventDecodeFunc = func(e *replication.RowsEvent, data []byte) error {
		decoded.Add(1)
		return c.decodeRows(e, data)
	}
	lazyMeta := c.cfg.Flavor == FlavorMariaDB
	if lazyMeta {
		// The table maps' optional metadata (column names, charsets,
		// ENUM/SET members, primary key) is decoded by the capture, and
		// only when a table map's bytes differ from the last ones of its
		// table id (tableCache.observeRaw), not by go-mysql's reader for
		// every statement. MariaDB only: MySQL's compressed transaction
		// payloads carry table maps without a raw event to parse again.
		scfg.TableMapOptionalMetaDecodeFunc = func([]byte) error { return nil }
	}
	// Events reach this goroutine through q (queue.go), not go-mysql's
	// channel; the streamer only reports the session's end.
	qctx, qcancel := context.WithCancel(ctx)
	q := newEventQueue(c.cfg.EventBuffer/2, qctx.Done()) // and as many in the batch taken
	scfg.SynchronousEventHandler = q
	syncer := replication.NewBinlogSyncer(scfg)
	defer syncer.Close()
	defer qcancel() // before Close: a reader waiting for room stops waiting
	streamer, err := syncer.StartSync(gomysql.Position{Name: st.resume.File, Pos: st.resume.Offset})
	if err != nil {
		return fmt.Errorf("starting replication at %s: %w", st.resume, err)
	}
	go func() {
		_, err := streamer.GetEvent(qctx)
		q.fail(err)
	}()
	asm := newAssembler(c.log, newTableCache(c.captured), st.resume.File, c.cfg.HeartbeatTable)
	asm.lazyMeta = lazyMeta

	var pending *formats.Txn // newest empty Txn not sent yet
	// lastEvent is when the connection last proved alive; time spent
	// blocked on out does not count as silence.
	lastEvent := time.Now()
	deliver := func(txn *formats.Txn) bool {
		ok := c.send(ctx, st, put, txn)
		lastEvent = time.Now()
		return ok
	}
	for {
		var deadline time.Time
		if c.cfg.Heartbeat > 0 {
			deadline = lastEvent.Add(3 * c.cfg.Heartbeat)
		}
		if pending != nil {
			if due := st.lastEmpty.Add(c.cfg.IdleTxnInterval); deadline.IsZero() || due.Before(deadline) {
				deadline = due
			}
		}
		ev, err := q.get(ctx, deadline)
		if errors.Is(err, errWaited) {
			if pending != nil && time.Since(st.lastEmpty) >= c.cfg.IdleTxnInterval {
				if !deliver(pending) {
					return nil
				}
				pending = nil
				continue
			}
			if c.cfg.Heartbeat <= 0 || time.Since(lastEvent) < 3*c.cfg.Heartbeat {
				continue
			}
			// An expired wait may have won the race against an event that
			// arrived at the same moment: look once more before giving up.
			ev, err = q.poll(ctx)
			if errors.Is(err, errWaited) {
				return errDeadConn
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		got := time.Now()
		lastEvent = got
		consumed += rowsEvents(ev.Event)
		if !st.progressed && st.reconnect && c.cfg.Metrics != nil {
			// The server accepted the position: the session is re-established.
			c.cfg.Metrics.Reconnected()
		}
		st.progressed = true
		if _, ok := ev.Event.(*replication.HeartbeatEvent); ok && c.cfg.Tick > 0 && asm.idle() && time.Since(st.lastTick) >= c.cfg.Tick-c.heartbeatPeriod()/2 {
			// The server sends a heartbeat only once it has sent every
			// event: with no transaction open, nothing more is committed.
			// (Half a period of slack: heartbeats jitter around Tick.)
			if pending != nil {
				if !deliver(pending) {
					return nil
				}
				pending = nil
			}
			if !deliver(st.tick()) {
				return nil
			}
			continue
		}
		txn, err := asm.feed(ev)
		if err != nil {
			return err
		}
		if txn == nil {
			continue
		}
		txn.Behind = behind(txn, got, decoded.Load() == consumed)
		stamp(txn, got)
		if len(txn.Events) > 0 || time.Since(st.lastEmpty) >= c.cfg.IdleTxnInterval {
			pending = nil
			if !deliver(txn) {
				return nil
			}
			continue
		}
		pending = txn
		st.resume = txn.Pos // nothing captured in it: safe to resume after it
	}
}

// behind reports whether the capture, receiving txn's commit at got, is
// reading a backlog: go-mysql has decoded rows events beyond it (not
// drained), or its commit second is 2 s or more before got (a backlog read
// as fast as it is decoded drains between events; the margin allows a
// second of difference between the two hosts' clocks).
func behind(txn *formats.Txn, got time.Time, drained bool) bool {
	return !drained || got.Sub(txn.CommitTime) >= 2*time.Second
}

// stamp stamps a transaction whose best time is the binlog's commit second
// with the time it was received instead, got, when the capture was caught
// up then (see behind): the receive time is then later than the commit by
// the replication delay only. While behind, the commit second stays: its
// resolution is a second.
func stamp(txn *formats.Txn, got time.Time) {
	if txn.Stamp.Clock != formats.ClockCommitSeconds || txn.Behind {
		return
	}
	txn.Stamp = formats.Stamp{Time: got, Clock: formats.ClockReceived}
}

// rowsEvents is how many rows events e is or holds (a MySQL transaction
// payload holds its transaction's).
func rowsEvents(e replication.Event) int64 {
	switch e := e.(type) {
	case *replication.RowsEvent:
		return 1
	case *replication.TransactionPayloadEvent:
		var n int64
		for _, inner := range e.Events {
			n += rowsEvents(inner.Event)
		}
		return n
	}
	return 0
}

// send delivers txn by put and advances the resume position; false when
// ctx ended first.
func (c *Capture) send(ctx context.Context, st *streamState, put func(context.Context, *formats.Txn) bool, txn *formats.Txn) bool {
	if !put(ctx, txn) {
		return false
	}
	st.resume = txn.Pos
	if len(txn.Events) == 0 {
		st.lastEmpty = time.Now()
	}
	if m := c.cfg.Metrics; m != nil {
		// One call per run of alike changes: a label lookup per row change
		// was a few percent of the capture's CPU.
		evs := txn.Events
		for i := 0; i < len(evs); {
			j := i + 1
			for j < len(evs) && evs[j].Op == evs[i].Op && evs[j].Table == evs[i].Table {
				j++
			}
			m.Events(evs[i].Table, evs[i].Op, j-i)
			i = j
		}
	}
	return true
}

var errWaited = errors.New("no event within the wait")

// syncerConfig is the go-mysql replication client configuration. Retries
// are Stream's own (go-mysql's resume mid-transaction from the last event,
// which would split a transaction across sessions).
func (c *Capture) syncerConfig() replication.BinlogSyncerConfig {
	cfg := replication.BinlogSyncerConfig{
		ServerID:         c.cfg.ServerID,
		Flavor:           c.cfg.Flavor,
		Host:             c.cfg.Host,
		Port:             uint16(c.cfg.Port),
		User:             c.cfg.User,
		Password:         c.cfg.Password,
		DisableRetrySync: true,
		// The values formats.FromBinlog expects: strings for temporal and
		// DECIMAL values, TIMESTAMP rendered in UTC, MySQL JSON as the
		// server prints it.
		ParseTime:               false,
		UseDecimal:              false,
		TimestampStringLocation: time.UTC,
		RenderJSONAsMySQLText:   true,
		EventCacheCount:         c.cfg.EventBuffer,
		// MariaDB ≥ 11.4 sends some events with LogPos 0 unless annotate
		// events are requested; go-mysql then fills LogPos in.
		FillZeroLogPos:      c.cfg.Flavor == FlavorMariaDB,
		Logger:              slog.New(debugHandler{c.log.Handler()}),
		RowsEventDecodeFunc: c.decodeRows,
		DiscardGTIDSet:      true,
	}
	cfg.HeartbeatPeriod = c.heartbeatPeriod()
	return cfg
}

// decodeRows decodes a rows event's header on go-mysql's reader goroutine
// and leaves the rows of captured tables to decodePending, on Stream's
// goroutine: the reader goroutine, which also reads the packets and
// decodes every other event, is the one a stream of small transactions
// keeps busiest, and the rows of other tables are never looked at. Its
// errors reach Stream as a *replication.EventError.
func (c *Capture) decodeRows(e *replication.RowsEvent, data []byte) error {
	pos, err := e.DecodeHeader(data)
	if err != nil {
		return err
	}
	if !c.captured.has(string(e.Table.Schema), string(e.Table.Table)) {
		return nil
	}
	// data is the event's own (go-mysql reads each packet into a new
	// slice, which the event keeps as RawData), so it stays valid.
	e.Rows = [][]any{{pendingRows{pos: pos, data: data}}}
	return nil
}

// pendingRows stands in a RowsEvent's Rows, between decodeRows and
// decodePending, for the rows still to decode: the body data and where
// its rows begin.
type pendingRows struct {
	pos  int
	data []byte
}

// decodePending decodes the rows decodeRows left in e, if any.
func decodePending(e *replication.RowsEvent) error {
	if len(e.Rows) != 1 || len(e.Rows[0]) != 1 {
		return nil
	}
	p, ok := e.Rows[0][0].(pendingRows)
	if !ok {
		return nil
	}
	e.Rows = nil
	return decodeRowsData(e, p.pos, p.data)
}

// decodeRowsData decodes the rows of e's body data from pos.
func decodeRowsData(e *replication.RowsEvent, pos int, data []byte) error {
	// The rows are decoded against a table map of our own, changed for
	// speed; the shared one is not touched, and the event keeps it. Ours
	// holds only the fields go-mysql's row decoding reads (v1.16: the
	// column types and metadata), copied field by field (the shared one
	// caches ENUM and SET values lazily: the struct is not copied whole).
	//
	// go-mysql rebuilds a map of the table's unsigned columns from the
	// signedness bitmap for every row image it decodes (a tenth of the
	// capture's allocations). Ours has no bitmap, so integers come as
	// signed Go types: formats.FromBinlog reads them by the schema's
	// signedness, as for a server that sends no signedness metadata.
	//
	// DATETIME columns come as their raw bytes: see datetime.go.
	table := e.Table
	fast := replication.TableMapEvent{
		TableID: table.TableID, Flags: table.Flags, Schema: table.Schema, Table: table.Table,
		ColumnCount: table.ColumnCount, ColumnType: table.ColumnType, ColumnMeta: table.ColumnMeta,
	}
	dtCols := rawDatetime2(&fast)
	e.Table = &fast
	err := e.DecodeData(pos, data)
	e.Table = table
	if err == nil && dtCols != nil {
		if err = datetime2Strings(e.Rows, dtCols, table.ColumnMeta); err != nil {
			err = fmt.Errorf("decoding rows of %s.%s: %w", e.Table.Schema, e.Table.Table, err)
		}
	}
	return err
}

// debugHandler lowers every record of go-mysql to Debug: Stream logs what
// matters itself, once, where it is handled.
type debugHandler struct{ h slog.Handler }

func (d debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	r.AddAttrs(slog.String("lib", "go-mysql"))
	return d.h.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(as []slog.Attr) slog.Handler { return debugHandler{d.h.WithAttrs(as)} }
func (d debugHandler) WithGroup(n string) slog.Handler       { return debugHandler{d.h.WithGroup(n)} }
