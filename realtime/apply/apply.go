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
	// and how long the Redis round trip(s) took.
	BatchApplied(txns, events int, took time.Duration)
	// Lag reports now minus the commit time of the last applied
	// transaction.
	Lag(d time.Duration)
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
	// MaxBatchEvents and MaxBatchTxns bound one batch (and so the
	// applier's memory): after taking a transaction, the applier takes
	// whatever else is already queued, up to these. A single transaction
	// larger than MaxBatchEvents is still one batch. 0 means 50,000 events
	// and 5,000 transactions.
	MaxBatchEvents int
	MaxBatchTxns   int
	// Metrics may be nil.
	Metrics Metrics
	// Taken, if set, is called with each transaction as the applier takes
	// it from its input channel, so that the sender can account for what
	// is still queued (the pipeline bounds its memory by row changes).
	Taken func(*formats.Txn)
	// Now returns the current time, for the lag; nil means time.Now.
	Now func() time.Time
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
	resyncs int // views resumed from a checkpoint a publish moved (for tests)
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
	if cfg.Now == nil {
		cfg.Now = time.Now
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
		if err := a.reload(ctx, vs); err != nil {
			return formats.Position{}, err
		}
		if i == 0 || vs.ckpt.Less(earliest) {
			earliest = vs.ckpt
		}
	}
	a.started = true
	return earliest, nil
}

func (a *Applier) reload(ctx context.Context, vs *viewState) error {
	m, err := a.store.Meta(ctx, vs.view.Name)
	if err != nil {
		return fmt.Errorf("reading checkpoint of view %s: %w", vs.view.Name, err)
	}
	vs.ckpt, vs.seg = m.Checkpoint, m.Segment
	vs.fingerprint = m.Fingerprint
	return nil
}

// Run applies transactions from the input channel until ctx is done or the
// channel is closed, and returns nil then, after finishing the batch in
// flight (its Redis calls are not cancelled by ctx: they end by the
// client's timeouts). Any other failure ends Run with an error naming the
// batch's last position; errors.Is tells redisview.ErrStateMissing (Redis
// lost the state: bootstrap again) and redisview.ErrFenced (Redis is behind
// what this applier wrote, or another writer interferes: restart from the
// stored checkpoints) apart.
func (a *Applier) Run(ctx context.Context) error {
	if !a.started {
		if _, err := a.Start(ctx); err != nil {
			return err
		}
	}
	batch := make([]*formats.Txn, 0, 64)
	for {
		var first *formats.Txn
		select {
		case <-ctx.Done():
			return nil
		case t, ok := <-a.in:
			if !ok {
				return nil
			}
			first = t
			if a.cfg.Taken != nil {
				a.cfg.Taken(t)
			}
		}
		batch = append(batch[:0], first)
		events := len(first.Events)
		closed := false
	drain:
		for len(batch) < a.cfg.MaxBatchTxns && events < a.cfg.MaxBatchEvents {
			select {
			case t, ok := <-a.in:
				if !ok {
					closed = true
					break drain
				}
				batch = append(batch, t)
				events += len(t.Events)
				if a.cfg.Taken != nil {
					a.cfg.Taken(t)
				}
			default:
				break drain
			}
		}
		last := batch[len(batch)-1].Pos
		if err := a.applyBatch(context.WithoutCancel(ctx), batch, events); err != nil {
			return fmt.Errorf("applying batch ending at %s: %w", last, err)
		}
		clear(batch) // let the transactions go
		if closed {
			return nil
		}
	}
}

// maxResyncs bounds how often one batch re-reads a view's checkpoint after
// being fenced by a publish that moved it; more means another writer keeps
// moving it.
const maxResyncs = 3

// applyBatch applies txns (in stream order) to every view, in one round
// trip when nothing interferes.
func (a *Applier) applyBatch(ctx context.Context, txns []*formats.Txn, events int) error {
	start := time.Now()
	if err := a.accumulate(txns, a.views); err != nil {
		return err
	}
	pending := a.views
	for attempt := 0; len(pending) > 0; attempt++ {
		var aggs []redisview.AggApply
		var mirrors []redisview.MirrorApply
		var aggViews, mirrorViews []*viewState
		for _, vs := range pending {
			if !vs.advance {
				continue
			}
			if vs.view.Mirror {
				mirrors = append(mirrors, vs.mirrorApply())
				mirrorViews = append(mirrorViews, vs)
			} else {
				aggs = append(aggs, vs.aggApply())
				aggViews = append(aggViews, vs)
			}
		}
		errs := a.store.ApplyAll(ctx, aggs, mirrors)
		var resync []*viewState
		for i, err := range errs {
			var vs *viewState
			if i < len(aggViews) {
				vs = aggViews[i]
			} else {
				vs = mirrorViews[i-len(aggViews)]
			}
			if err == nil {
				vs.commit()
				continue
			}
			var fe *redisview.FenceError
			if errors.As(err, &fe) && vs.ckpt.Less(fe.Have) && attempt < maxResyncs {
				// Redis is ahead of us: a publish moved the checkpoint to
				// its cut while we lagged. Everything up to there is in the
				// batch generation; resume from the stored checkpoint.
				resync = append(resync, vs)
				continue
			}
			return err
		}
		a.resyncs += len(resync)
		for _, vs := range resync {
			if err := a.reload(ctx, vs); err != nil {
				return err
			}
		}
		if len(resync) > 0 {
			if err := a.accumulate(txns, resync); err != nil {
				return err
			}
		}
		pending = resync
	}
	if m := a.cfg.Metrics; m != nil {
		type tableOp struct {
			t  formats.TableID
			op formats.Op
		}
		counts := map[tableOp]int{}
		for _, t := range txns {
			for i := range t.Events {
				counts[tableOp{t.Events[i].Table, t.Events[i].Op}]++
			}
		}
		for k, n := range counts {
			m.EventsApplied(k.t, k.op, n)
		}
		m.BatchApplied(len(txns), events, time.Since(start))
		m.Lag(a.cfg.Now().Sub(txns[len(txns)-1].CommitTime))
	}
	return nil
}

// accumulate folds txns into the pending batch of each of views: per view,
// the transactions after its checkpoint, pre-aggregated by segment
// (aggregates) or by key (mirrors).
func (a *Applier) accumulate(txns []*formats.Txn, views []*viewState) error {
	for _, vs := range views {
		vs.reset()
		vs.inRound = true
	}
	defer func() {
		for _, vs := range views {
			vs.inRound = false
		}
	}()
	for _, t := range txns {
		for _, vs := range views {
			vs.active = vs.pendTo.Less(t.Pos)
			if vs.active {
				vs.pendSeg = redisview.SegmentOf(vs.pendSeg, t.CommitTime, a.cfg.SegmentWidth)
				vs.pendTo, vs.pendTime = t.Pos, t.CommitTime
				vs.advance = true
			}
		}
		for i := range t.Events {
			ev := &t.Events[i]
			for _, vs := range a.byTable[ev.Table] {
				if !vs.inRound || !vs.active {
					continue
				}
				if err := vs.add(t, ev); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
