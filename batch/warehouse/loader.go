package warehouse

import (
	"context"
	"errors"
	"time"
)

// Error kinds of loads; test them with errors.Is.
var (
	// ErrStale: the target already holds a newer generation than the one
	// offered. The swap refused it; nothing changed.
	ErrStale = errors.New("target holds a newer generation")
	// ErrFenced: the fencing token is lower than the highest the target has
	// seen: another scheduler took over. Nothing changed.
	ErrFenced = errors.New("fencing token superseded")
	// ErrUnavailable: the target cannot be reached or refused the
	// connection; the load is retried with backoff.
	ErrUnavailable = errors.New("target unavailable")
	// ErrNoGeneration: the lake has no published generation to load.
	ErrNoGeneration = errors.New("the lake has no published generation yet: run `tidemark batch` first")
	// ErrNotLoaded: the target holds no generation yet.
	ErrNotLoaded = errors.New("no generation loaded")
)

// ControlTable is the control table's name in each target's schema.
const ControlTable = "tidemark_generations"

// Loaded is a row of a target's control table: a generation that was
// swapped in.
type Loaded struct {
	Generation uint64    `json:"generation"`
	Cut        string    `json:"cut"`
	GTID       string    `json:"gtid"`
	CutTime    time.Time `json:"cut_time"`
	LoadedAt   time.Time `json:"loaded_at"`
	// Rows is the row count per stable name.
	Rows map[string]int64 `json:"rows"`
	// Fence is the highest fencing token the target had seen at the swap.
	Fence uint64 `json:"fence"`
}

// Prepared reports what Prepare loaded.
type Prepared struct {
	Rows  int64
	Bytes int64 // Parquet bytes read from the lake
	// Reused is true when g's tables were already complete from an earlier
	// Prepare (or g is already loaded) and nothing was copied.
	Reused bool
}

// Loader loads generations into one target. Prepare, Swap and DropOld are
// called from one goroutine at a time; Current and Check may be called
// concurrently with them (status requests during a load). ctx cancels the
// call in progress (a cancelled Prepare leaves nothing a later Prepare
// cannot reuse or replace).
type Loader interface {
	// Prepare creates g's per-generation tables, fills them from the lake
	// and builds their keys and indexes, dropping any left-overs of g from
	// a crashed attempt first. Readers see no change.
	Prepare(ctx context.Context, g *Generation) (Prepared, error)
	// Swap re-points every stable name of g to g's tables and writes g's
	// control row in one transaction. It returns swapped=false and no
	// error when g is already the loaded generation (a replay), ErrStale
	// when a newer one is, ErrFenced when fence (non-zero) is below the
	// highest token seen. A stable name of the loaded generation that g
	// lacks is dropped in the same transaction.
	Swap(ctx context.Context, g *Generation, fence uint64) (swapped bool, err error)
	// DropOld drops the per-generation tables of every generation but the
	// keep newest up to and including the loaded one, and any of a
	// generation newer than the loaded one that no Swap took (left-overs
	// of a crash). keep <= 0 means 1.
	DropOld(ctx context.Context, keep int) error
	// Current returns the loaded generation's control row, ErrNotLoaded
	// when there is none.
	Current(ctx context.Context) (*Loaded, error)
	// Check reports what keeps the target from loading (unreachable, the
	// schema not creatable, a permission missing), each with its fix.
	Check(ctx context.Context) []error
	// Close releases the connections.
	Close()
}
