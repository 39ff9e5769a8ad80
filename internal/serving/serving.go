// Package serving adapts the Redis view store (realtime/redisview) to what
// the reporting API reads (reporting.ViewStore). It is wiring: reporting
// and realtime never import each other, the binary joins them here.
package serving

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime"
	"github.com/tidemark/tidemark/realtime/redisview"
	"github.com/tidemark/tidemark/reporting"
)

// Store serves reporting from a redisview.Store. It is safe for concurrent
// use.
type Store struct {
	st    *redisview.Store
	aggs  *redisview.AggReader // decodes only the groups that changed since the last read
	views map[string]*formats.BoundView

	// rows memoizes decoded mirror rows by view and primary key, with the
	// stored bytes they were decoded from: a join reads the same dimension
	// rows again after every transaction, and most of them have not
	// changed. At most maxMemoRows per mirror; past that, new keys are
	// decoded and not kept.
	mu   sync.Mutex
	rows map[string]map[string]memoRow
	// gens holds each mirror's latest published generation, decoded, for
	// listings (list.go).
	gens map[string]*generation
}

type memoRow struct {
	stored string
	row    formats.Row
}

const maxMemoRows = 100000

var _ reporting.ViewStore = (*Store)(nil)

// New returns a Store answering for the bound views.
func New(st *redisview.Store, views []*formats.BoundView) *Store {
	m := make(map[string]*formats.BoundView, len(views))
	for _, v := range views {
		m[v.View().Name] = v
	}
	return &Store{st: st, aggs: st.NewAggReader(), views: m, rows: map[string]map[string]memoRow{}}
}

func notReady(err error) error {
	if errors.Is(err, redisview.ErrStateMissing) {
		return fmt.Errorf("%w: %w", reporting.ErrNotReady, err)
	}
	return err
}

// Meta implements reporting.ViewStore.
func (s *Store) Meta(ctx context.Context, view string) (reporting.Freshness, error) {
	m, err := s.st.Meta(ctx, view)
	if err != nil {
		return reporting.Freshness{}, notReady(err)
	}
	return reporting.Freshness{Generation: m.Generation, Cut: m.Cut, CutTime: m.CutTime, SpeedPosition: m.Checkpoint, SpeedTime: m.CheckpointTime, SpeedClock: m.CheckpointClock}, nil
}

// ReadAgg implements reporting.ViewStore. A group whose state did not
// change since the previous read of the view keeps its *formats.Agg, so
// reporting reuses the row it derived from it.
func (s *Store) ReadAgg(ctx context.Context, view string) (reporting.AggSnapshot, error) {
	bv, ok := s.views[view]
	if !ok {
		return reporting.AggSnapshot{}, fmt.Errorf("reading view %s: not configured", view)
	}
	snap, err := s.aggs.ReadAgg(ctx, bv.View())
	if err != nil {
		return reporting.AggSnapshot{}, notReady(err)
	}
	out := reporting.AggSnapshot{Freshness: reporting.Freshness{Generation: snap.Generation, Cut: snap.Cut, CutTime: snap.CutTime, SpeedPosition: snap.Checkpoint, SpeedTime: snap.CheckpointTime, SpeedClock: snap.CheckpointClock}}
	out.Groups = make([]reporting.Group, 0, len(snap.Groups))
	for k, g := range snap.Groups {
		out.Groups = append(out.Groups, reporting.Group{Key: k, Agg: g})
	}
	return out, nil
}

// ReadMirror implements reporting.ViewStore: every key in one atomic
// script step (redisview.Store.ReadMirrors), so the rows of one answer come
// from one state of the mirror. reporting bounds the number of keys
// (api.max_join_keys).
func (s *Store) ReadMirror(ctx context.Context, view string, pks []formats.Row) (reporting.MirrorRows, error) {
	bv, ok := s.views[view]
	if !ok {
		return reporting.MirrorRows{}, fmt.Errorf("reading mirror %s: not configured", view)
	}
	keys := make([]string, len(pks))
	for i, pk := range pks {
		k, err := bv.EncodeKey(pk)
		if err != nil {
			return reporting.MirrorRows{}, fmt.Errorf("reading mirror %s: %w", view, err)
		}
		keys[i] = string(k)
	}
	r, err := s.st.ReadMirrors(ctx, view, keys)
	if err != nil {
		return reporting.MirrorRows{}, notReady(err)
	}
	out := reporting.MirrorRows{
		Freshness: reporting.Freshness{Generation: r.Generation, Cut: r.Cut, CutTime: r.CutTime, SpeedPosition: r.Checkpoint, SpeedTime: r.CheckpointTime, SpeedClock: r.CheckpointClock},
		Rows:      make([]formats.Row, len(pks)),
	}
	cols := bv.Columns()
	s.mu.Lock()
	memo := s.rows[view]
	if memo == nil {
		memo = map[string]memoRow{}
		s.rows[view] = memo
	}
	defer s.mu.Unlock()
	for i := range keys {
		if !r.Found[i] {
			continue
		}
		if m, ok := memo[keys[i]]; ok && m.stored == string(r.Rows[i].Values) {
			out.Rows[i] = m.row // the caller does not modify rows
			continue
		}
		if out.Rows[i], err = realtime.DecodeMirrorRow(cols, r.Rows[i].Values); err != nil {
			return reporting.MirrorRows{}, fmt.Errorf("reading mirror %s row %q: %w", view, keys[i], err)
		}
		if _, ok := memo[keys[i]]; ok || len(memo) < maxMemoRows {
			memo[keys[i]] = memoRow{stored: string(r.Rows[i].Values), row: out.Rows[i]}
		}
	}
	return out, nil
}
