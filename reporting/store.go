package reporting

import (
	"context"
	"errors"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// ViewStore is what reporting needs of the serving store (Redis): three
// reads, each one atomic step. The binary adapts the Redis store to it.
//
// Implementations must be safe for concurrent use. An unknown view name is
// a programming error of the wiring (reporting asks only for configured
// views); a configured view that has no published state yet returns an
// error wrapping ErrNotReady.
type ViewStore interface {
	// Meta returns the view's current freshness without reading its groups
	// or rows: one cheap round trip, called on every request so that an
	// answer's freshness is exact and a cached snapshot is reused only while
	// it is still current. Its (Generation, SpeedPosition) must equal the
	// ones ReadAgg or ReadMirror would report for the same state.
	Meta(ctx context.Context, view string) (Freshness, error)

	// ReadAgg returns the aggregate view's merged groups, batch of the
	// current generation ⊕ the speed layer's running total after its cut,
	// and the freshness they reflect, all read in one atomic step. Groups
	// whose count is <= 0 are left out. The caller does not modify the
	// result.
	ReadAgg(ctx context.Context, view string) (AggSnapshot, error)

	// ReadMirror returns the current rows of a mirror view for the given
	// primary keys (each in the mirror's PK column order, canonical Go
	// values) and the freshness they reflect, read in one atomic step.
	// Rows[i] answers pks[i] and is nil when no such row exists. A row holds
	// the mirror's output columns in BoundView.Columns() order. The caller
	// does not modify the rows (an implementation may share them between
	// reads).
	ReadMirror(ctx context.Context, mirror string, pks []formats.Row) (MirrorRows, error)
}

// ErrNotReady marks a view that has no published state yet (before the
// bootstrap generation): the API answers 503 and the client retries.
var ErrNotReady = errors.New("view not ready")

// Freshness says which state of the source an answer reflects.
type Freshness struct {
	// Generation is the batch generation the answer's batch part comes from.
	Generation uint64
	// Cut is the binlog position generation Generation was rebuilt at.
	Cut formats.Position
	// CutTime is the source commit time of the transaction at Cut.
	CutTime time.Time
	// SpeedPosition is the view's speed-layer checkpoint: the commit
	// position of the last transaction applied. Zero when the speed layer
	// has applied nothing after the cut.
	SpeedPosition formats.Position
	// SpeedTime is the source commit time of the transaction at
	// SpeedPosition (zero if unknown), as precisely as the speed layer
	// knew it; SpeedClock says how it was measured (lag_source). lag_ms is
	// now - SpeedTime (now - CutTime, a commit second, when the speed
	// layer is not past the cut; null when the time is unknown); with a
	// heartbeat table it stays small on an idle source.
	SpeedTime  time.Time
	SpeedClock formats.Clock
}

// Group is one group of an aggregate view: its key and merged state.
type Group struct {
	Key formats.GroupKey
	Agg *formats.Agg
}

// AggSnapshot is an aggregate view's merged groups at one state.
type AggSnapshot struct {
	Freshness Freshness
	Groups    []Group
}

// MirrorRows answers ReadMirror.
type MirrorRows struct {
	Freshness Freshness
	Rows      []formats.Row
}
