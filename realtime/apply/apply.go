package apply

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// Store is what the applier needs of the view store; *redisview.Store
// implements it.
type Store interface {
	// Meta returns a view's checkpoint and published cut, or an error
	// matching redisview.ErrStateMissing.
	Meta(ctx context.Context, view string) (redisview.Meta, error)
	// ApplyAll applies one batch per view atomically, in one round trip,
	// returning one error per batch (aggregates first).
	ApplyAll(ctx context.Context, aggs []redisview.AggApply, mirrors []redisview.MirrorApply) []error
}

var _ Store = (*redisview.Store)(nil)

// Metrics receives the applier's measurements. Every method is called from
// the Run goroutine only. A nil Metrics is valid.
type Metrics interface {
	// EventsApplied counts n row changes of table with op, applied.
	EventsApplied(table formats.TableID, op formats.Op, n int)
	// BatchApplied reports one applied batch: its transactions, row changes
	// and how long it took from being sent to being answered (encoding the
	// calls and the Redis round trip). A batch that carries only
	// aggregates deferred from earlier batches is not reported.
	BatchApplied(txns, events int, took time.Duration)
	// Lag reports now minus the commit time of the last transaction
	// applied to every view (its formats.Txn.Stamp, precise to a second at
	// worst): the furthest-behind view's checkpoint.
	Lag(d time.Duration)
	// KnownFields reports, for the aggregate batches just applied with
	// the view's redisview.Known (those of an applier that keeps up), how
	// many hash fields Redis stored from sums computed in Go and how many
	// it added itself (the state was not known, or stale).
	KnownFields(matched, added int)
}

// Config configures an Applier.
type Config struct {
	// Views are the views to maintain, aggregates and mirrors, parsed
	// (formats.ParseView); the applier binds them to each event's schema.
	Views []*formats.View
	// SegmentWidth is the time span of a speed segment (see
	// redisview.SegmentOf); it must be the same for every sink of a
	// source. 0 means 10s.
	SegmentWidth time.Duration
	// MaxBatchEvents and MaxBatchTxns bound the batch being gathered while
	// another is in Redis (and so the applier's memory): the applier stops
	// taking transactions when the next batch holds this many. A single
	// transaction larger than MaxBatchEvents is still one batch. 0 means
	// 50,000 events and 5,000 transactions.
	MaxBatchEvents int
	MaxBatchTxns   int
	// DeferBatches is how many consecutive batches an aggregate view may
	// sit out while the applier is behind (the batch goes out full),
	// gathering on: an aggregate's batch costs Redis per group touched,
	// not per row change, and memory per group, so under a backlog it
	// goes out with every (DeferBatches+1)-th batch only, while mirrors
	// go out with each. 0 means 3; negative means never.
	DeferBatches int
	// Metrics may be nil.
	Metrics Metrics
	// Taken, if set, is called with each transaction as the applier takes
	// it from its input channel, so that the sender can account for what
	// is still queued (the pipeline bounds its memory by row changes).
	// The applier keeps no reference to the transaction afterwards.
	Taken func(*formats.Txn)
	// Now returns the current time, for the lag; nil means time.Now.
	Now func() time.Time
	// GatherWait is how long a batch may wait for more transactions,
	// with nothing in flight, while the capture reports that it is
	// reading a backlog (formats.Txn.Behind): many small transactions
	// then go out in one script call instead of one each, which costs
	// Redis and the applier per call, not per row change. A transaction
	// of a caught-up capture goes out at once, as does a full batch.
	// 0 means 10ms; negative means never wait.
	GatherWait time.Duration
}

// Applier applies committed transactions to the views in Redis, exactly
// once. See the package documentation.
type Applier struct {
	store   Store
	in      <-chan *formats.Txn
	cfg     Config
	views   []*viewState
	byTable map[formats.TableID][]*viewState
	started bool
	next    batchStats // of the batch being gathered
}

// batchStats describes a batch's transactions, for metrics and errors.
type batchStats struct {
	txns, events int
	last         formats.Position // the last transaction's commit
	counts       map[tableOp]int
	// behind: the last transaction came from a capture reading a
	// backlog; first is when the batch's first transaction was taken.
	behind bool
	first  time.Time
}

type tableOp struct {
	t  formats.TableID
	op formats.Op
}

// New returns an Applier that reads transactions from in.
func New(store Store, in <-chan *formats.Txn, cfg Config) (*Applier, error) {
	if cfg.SegmentWidth == 0 {
		cfg.SegmentWidth = 10 * time.Second
	}
	if cfg.SegmentWidth < time.Second {
		return nil, fmt.Errorf("segment width %s: must be at least 1s (segments are cut on commit seconds)", cfg.SegmentWidth)
	}
	if cfg.MaxBatchEvents <= 0 {
		cfg.MaxBatchEvents = 50000
	}
	if cfg.MaxBatchTxns <= 0 {
		cfg.MaxBatchTxns = 5000
	}
	if cfg.DeferBatches == 0 {
		cfg.DeferBatches = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.GatherWait == 0 {
		cfg.GatherWait = 10 * time.Millisecond
	}
	if len(cfg.Views) == 0 {
		return nil, errors.New("no views to apply")
	}
	a := &Applier{store: store, in: in, cfg: cfg, byTable: map[formats.TableID][]*viewState{}}
	seen := map[string]bool{}
	for _, v := range cfg.Views {
		if seen[v.Name] {
			return nil, fmt.Errorf("view %s listed twice", v.Name)
		}
		seen[v.Name] = true
		vs := &viewState{view: v, bound: map[*formats.TableSchema]binding{}}
		a.views = append(a.views, vs)
		a.byTable[v.From] = append(a.byTable[v.From], vs)
	}
	return a, nil
}

// Start reads every view's checkpoint from the store and returns the
// earliest: the capture must deliver every transaction after it. Run calls
// Start if the caller has not. A view without state fails with an error
// matching redisview.ErrStateMissing: bootstrap it first.
func (a *Applier) Start(ctx context.Context) (formats.Position, error) {
	var earliest formats.Position
	for i, vs := range a.views {
		m, err := a.store.Meta(ctx, vs.view.Name)
		if err != nil {
			return formats.Position{}, fmt.Errorf("reading checkpoint of view %s: %w", vs.view.Name, err)
		}
		vs.start(m)
		if i == 0 || vs.ckpt.Less(earliest) {
			earliest = vs.ckpt
		}
	}
	a.started = true
	return earliest, nil
}

// Run applies transactions from the input channel until ctx is done or the
// channel is closed, and returns nil then, after applying every
// transaction it took (the Redis calls are not cancelled by ctx: they end
// by the client's timeouts).
//
// One batch is in Redis at a time. Transactions that arrive meanwhile are
// folded into the next batch as they are taken (pre-aggregated, mirror rows
// encoded) and then dropped; the next batch goes out when the one in flight
// has been answered. With nothing in flight a transaction goes out at once.
//
// Any other failure ends Run, after the batch in flight has been answered,
// with an error naming the batch's last position; errors.Is tells
// redisview.ErrStateMissing (Redis lost the state: bootstrap again) and
// redisview.ErrFenced (the checkpoint in Redis is not where this applier
// left it: a publish moved it past a lagging applier, Redis lost writes or
// another writer interferes; restart from the stored checkpoints) apart.
func (a *Applier) Run(ctx context.Context) error {
	if !a.started {
		if _, err := a.Start(ctx); err != nil {
			return err
		}
	}
	wctx := context.WithoutCancel(ctx)
	var fl *flight
	// finish waits for the batch in flight, so that no write of this
	// applier lands in Redis after Run returned.
	finish := func(err error) error {
		if fl != nil {
			if serr := a.settle(fl, <-fl.done); err == nil {
				err = serr
			}
			fl = nil
		}
		return err
	}
	stopping := ctx.Done()
	stopped, closed := false, false
	// gather fires when a batch held back for more transactions (see
	// Config.GatherWait) is due.
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	defer gather.Stop()
	var gathering <-chan time.Time
	for {
		if fl == nil && (a.next.txns > 0 || a.deferred()) {
			if due, hold := a.holdBack(stopped || closed); hold {
				if gathering == nil {
					gather.Reset(due)
					gathering = gather.C
				}
			} else {
				if gathering != nil {
					gather.Stop()
					gathering = nil
				}
				fl = a.send(wctx)
			}
		}
		if fl == nil && a.next.txns == 0 && (stopped || closed) {
			return nil
		}
		recv := a.in
		if stopped || closed || a.full() {
			recv = nil
		}
		var answered <-chan []error
		if fl != nil {
			answered = fl.done
		}
		select {
		case <-gathering:
			gathering = nil
			a.next.behind = false // due: the next round sends it
		case <-stopping:
			stopped, stopping = true, nil
		case errs := <-answered:
			err := a.settle(fl, errs)
			fl = nil
			if err != nil {
				return err
			}
		case t, ok := <-recv:
			if !ok {
				closed = true
				continue
			}
			if err := a.take(t); err != nil {
				return finish(err)
			}
			if fl != nil {
				continue
			}
			// Nothing in flight: send at once, with whatever else is
			// already queued.
		drain:
			for !a.full() {
				select {
				case t, ok := <-a.in:
					if !ok {
						closed = true
						break drain
					}
					if err := a.take(t); err != nil {
						return finish(err)
					}
				default:
					break drain
				}
			}
		}
	}
}

// holdBack reports whether the next batch should wait for more
// transactions (see Config.GatherWait), and for how long; never when
// ending.
func (a *Applier) holdBack(ending bool) (time.Duration, bool) {
	n := &a.next
	if ending || !n.behind || a.cfg.GatherWait < 0 || a.full() {
		return 0, false
	}
	due := a.cfg.GatherWait - time.Since(n.first)
	return due, due > 0
}

// deferred reports whether some view has folded transactions that no
// batch has carried yet (an aggregate deferred while behind).
func (a *Applier) deferred() bool {
	for _, vs := range a.views {
		if vs.advance {
			return true
		}
	}
	return false
}

// full reports whether the next batch has reached its bound.
func (a *Applier) full() bool {
	return a.next.events >= a.cfg.MaxBatchEvents || a.next.txns >= a.cfg.MaxBatchTxns
}

// take folds transaction t into the next batch of every view it is new
// to (after the view's last folded transaction), then lets it go.
func (a *Applier) take(t *formats.Txn) error {
	if a.cfg.Taken != nil {
		a.cfg.Taken(t)
	}
	stamp := t.Stamp
	if stamp.IsZero() {
		stamp = formats.Stamp{Time: t.CommitTime, Clock: formats.ClockCommitSeconds}
	}
	for _, vs := range a.views {
		vs.active = vs.tail.Less(t.Pos)
		if vs.active {
			vs.tailSeg = redisview.SegmentOf(vs.tailSeg, t.CommitTime, a.cfg.SegmentWidth)
			vs.tail, vs.tailTime, vs.tailClock = t.Pos, stamp.Time, stamp.Clock
			vs.advance = true
		}
	}
	for i := range t.Events {
		ev := &t.Events[i]
		for _, vs := range a.byTable[ev.Table] {
			if !vs.active {
				continue
			}
			if err := vs.add(t, ev); err != nil {
				return fmt.Errorf("applying transaction at %s: %w", t.Pos, err)
			}
		}
	}
	n := &a.next
	if n.txns == 0 {
		n.first = time.Now()
	}
	n.txns++
	n.events += len(t.Events)
	n.last, n.behind = t.Pos, t.Behind
	if a.cfg.Metrics != nil {
		if n.counts == nil {
			n.counts = map[tableOp]int{}
		}
		for i := range t.Events {
			n.counts[tableOp{t.Events[i].Table, t.Events[i].Op}]++
		}
	}
	return nil
}

// flight is the batch in Redis: one ApplyAll call on its own goroutine
// (or already answered, for a batch applied on Run's; see send).
type flight struct {
	stats batchStats
	sent  time.Time
	// views[i] is the view of the call's i-th batch (aggregates first, as
	// ApplyAll answers), with the checkpoint the batch moves it to.
	views []*viewState
	to    []landing
	done  chan []error // ApplyAll's answer; buffered
}

// landing is where a view's checkpoint lands when its batch is applied.
type landing struct {
	pos  formats.Position
	seg  uint64
	time time.Time // commit time of pos
	fp   string    // mirror: the fingerprint of the batch's rows, "" if none
}

// inlineEvents is the size below which a batch that is not full is
// applied on the Run goroutine (see send).
const inlineEvents = 1000

// send starts the next batch: one script call per view the batch moves,
// on a goroutine of its own, or, for a small batch while the applier keeps
// up, on Run's before send returns (the answer then waits in the flight).
// The batch moves every view a transaction of it is new to, also without
// deltas for it, so that a restart never replays more than the last
// batch's span; but when the batch is full (the applier is behind),
// aggregate views sit out up to Config.DeferBatches batches, gathering on.
// The next batch of each view sent starts empty, from where this one ends.
func (a *Applier) send(ctx context.Context) *flight {
	behind := a.full()
	fl := &flight{stats: a.next, sent: time.Now(), done: make(chan []error, 1)}
	a.next = batchStats{}
	var aggs []redisview.AggApply
	var mirrors []redisview.MirrorApply
	var aggViews, mirrorViews []*viewState
	var aggTo, mirrorTo []landing
	for _, vs := range a.views {
		if !vs.advance {
			continue
		}
		if behind && !vs.view.Mirror && vs.skipped < a.cfg.DeferBatches {
			vs.skipped++
			continue
		}
		if vs.view.Mirror {
			m := vs.mirrorApply()
			mirrors = append(mirrors, m)
			mirrorViews = append(mirrorViews, vs)
			fp := ""
			if len(m.Rows) > 0 {
				fp = m.Layout
			}
			mirrorTo = append(mirrorTo, landing{pos: m.To, fp: fp, time: m.ToTime})
		} else {
			g := vs.aggApply(behind)
			aggs = append(aggs, g)
			aggViews = append(aggViews, vs)
			aggTo = append(aggTo, landing{pos: g.To, seg: g.ToSeg, time: g.ToTime})
		}
		vs.sent()
	}
	fl.views = append(aggViews, mirrorViews...)
	fl.to = append(aggTo, mirrorTo...)
	if fl.stats.txns == 0 { // deferred aggregates only: name where they end
		for _, l := range fl.to {
			if fl.stats.last.Less(l.pos) {
				fl.stats.last = l.pos
			}
		}
	}
	if !behind && fl.stats.events < inlineEvents {
		// Without a backlog there is little to gather meanwhile, and the
		// call on this goroutine saves two goroutine hand-offs of the
		// commit-to-visible lag.
		fl.done <- a.store.ApplyAll(ctx, aggs, mirrors)
	} else {
		go func() { fl.done <- a.store.ApplyAll(ctx, aggs, mirrors) }()
	}
	return fl
}

// settle records the answer to the batch in flight: each applied view's
// checkpoint moves to where the batch ends, and the first failure, if
// any, is returned naming the batch.
func (a *Applier) settle(fl *flight, errs []error) error {
	var first error
	if len(errs) != len(fl.views) {
		first = fmt.Errorf("store answered %d results for %d views", len(errs), len(fl.views))
	}
	for i, err := range errs {
		if i >= len(fl.views) {
			break
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		fl.views[i].landed(fl.to[i])
	}
	if first != nil {
		return fmt.Errorf("applying batch ending at %s: %w", fl.stats.last, first)
	}
	if m := a.cfg.Metrics; m != nil {
		for k, n := range fl.stats.counts {
			m.EventsApplied(k.t, k.op, n)
		}
		if fl.stats.txns > 0 { // not a flight of deferred aggregates only
			m.BatchApplied(fl.stats.txns, fl.stats.events, time.Since(fl.sent))
		}
		// The lag is the furthest-behind view's: a deferred aggregate is
		// as stale as its checkpoint.
		var oldest time.Time
		for _, vs := range a.views {
			if t := vs.ckptTime; !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
				oldest = t
			}
		}
		if !oldest.IsZero() {
			m.Lag(a.cfg.Now().Sub(oldest))
		}
		var matched, added int
		for _, vs := range a.views {
			if vs.known != nil {
				km, ka := vs.known.Counts()
				matched, added = matched+km-vs.knownSeen[0], added+ka-vs.knownSeen[1]
				vs.knownSeen = [2]int{km, ka}
			}
		}
		if matched > 0 || added > 0 {
			m.KnownFields(matched, added)
		}
	}
	return nil
}
