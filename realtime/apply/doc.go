// Package apply is the speed layer's applier: it takes committed
// transactions from the capture, in binlog order, and applies their row
// changes to every view in Redis (realtime/redisview), exactly once.
//
// # Batches
//
// The applier takes one transaction, blocking, then whatever else is
// already queued without blocking, up to a bound (Config.MaxBatchEvents,
// Config.MaxBatchTxns). With no backlog a transaction is applied at once,
// alone; under load many transactions share one Redis round trip, which is
// what keeps up with a busy source. Memory is bounded by the batch bound.
//
// For each view, the batch's transactions after the view's checkpoint are
// pre-aggregated in Go (formats.BoundView.Accumulate) into one delta per
// segment, or, for a mirror, into the last change per primary key. Then
// every view's batch is applied in one pipeline: one redisview script call
// per view, which adds the deltas and moves the view's checkpoint to the
// batch's last commit in one atomic step. Every view's checkpoint moves
// with every batch, also when the batch has nothing for it, so that a
// restart never replays more than the last batch's span.
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
// then fenced; it re-reads the checkpoint and applies only the part of the
// batch after it. A fence the other way (Redis behind what this applier
// wrote: Redis lost writes) or a view whose state is gone (Redis restarted
// empty) ends Run with redisview.ErrFenced or redisview.ErrStateMissing:
// the caller bootstraps the view again and restarts the capture from the
// stored checkpoints.
//
// # Schemas
//
// Each event carries the schema it was written under. A view is bound once
// per schema pointer and the binding cached, so a DDL in the stream takes
// effect exactly at its position. A schema change that would change how
// stored aggregate states read (formats.ErrShapeChanged), or a mirror's
// columns, stops the applier: that view must be rebuilt.
package apply
