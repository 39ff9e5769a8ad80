// Package apply is the speed layer's applier: it takes committed
// transactions from the capture, in binlog order, and applies their row
// changes to every view in Redis (realtime/redisview), exactly once.
//
// # Batches
//
// One batch is in Redis at a time, on its own goroutine (a small one sent
// while the applier keeps up is applied on Run's own: there is little to
// gather meanwhile, and the hand-offs would add to the lag). While it is
// there, the applier keeps taking transactions and folds each into the next
// batch as it takes it: per view, the transactions after the view's
// checkpoint are pre-aggregated in Go (formats.BoundView.Accumulate) into
// one delta per segment, or, for a mirror, into the last change per
// primary key with the row already encoded; the decoded transaction is
// dropped at once. When the batch in flight is answered, the next one goes
// out. With nothing in flight, a transaction goes out at once, with
// whatever else is already queued: alone when there is no backlog (low
// lag), many transactions per Redis round trip under load, with the Go
// work of one batch overlapping Redis's work on the other. While the
// capture reports that it is reading a backlog (formats.Txn.Behind) and
// the capture, not Redis, is the slower side, nothing would be in flight
// to gather behind: a batch then waits up to Config.GatherWait (10ms) for
// more, so a backlog of small transactions goes out hundreds per script
// call instead of a few (Redis and the applier pay per call). The next batch
// is bounded (Config.MaxBatchEvents, Config.MaxBatchTxns): once full, the
// applier stops taking transactions until the one in flight is answered.
// Memory is therefore two batches of pre-aggregated deltas and encoded
// rows, whatever the backlog.
//
// A batch is applied in one round trip: per view, a redisview script
// step that adds the deltas and moves the view's checkpoint to the batch's
// last commit atomically (on a single Redis, all views' steps in one
// script call). While the applier keeps up, an aggregate's batch carries
// the view's redisview.Known, so Redis stores sums computed in Go instead
// of adding in Lua. A view's checkpoint moves with every batch,
// also when the batch has nothing for it, so that a restart never replays
// more than a few batches' span. The exception is an aggregate view while
// the applier is behind (its batches go out full): its batch costs Redis
// per group touched, not per row change, so it sits out up to
// Config.DeferBatches batches, gathering on, and goes out with the next
// (mirrors go out with every batch); once the applier keeps up, every view
// goes out with every batch. A view's next batch starts where its last one
// ended, so a batch sent while its predecessor is in flight is fenced if
// the predecessor failed.
//
// # Exactly once
//
// A checkpoint is stored with the state it covers, per view, so views may
// sit at different checkpoints after a crash. Start reads them and returns
// the earliest: the capture resumes after it, and the applier skips, per
// view, every transaction at or before that view's checkpoint. A batch
// that was applied before a crash is a no-op when replayed (the script
// sees the checkpoint at or past the batch's end). Segments follow
// redisview.SegmentOf from the stored (checkpoint, segment), so the
// replay files every transaction in the same segment.
//
// A publish of a batch generation whose cut is past a lagging view's
// checkpoint moves that checkpoint to the cut. The applier's next batch is
// then fenced and Run ends with redisview.ErrFenced: the caller starts a
// new applier, which resumes every view from its stored checkpoint, and
// restarts the capture from the earliest (the transactions the applier had
// taken are gone, folded into batches that can no longer land). A fence the
// other way (Redis behind what this applier wrote: Redis lost writes) ends
// Run the same way, and a view whose state is gone (Redis restarted empty)
// with redisview.ErrStateMissing: the caller bootstraps the view again.
//
// # Schemas
//
// Each event carries the schema it was written under. A view is bound once
// per schema pointer and the binding cached, so a DDL in the stream takes
// effect exactly at its position. A schema change that would change how
// stored aggregate states read (formats.ErrShapeChanged), or a mirror's
// columns, stops the applier: that view must be rebuilt.
package apply
