// Package redisview is Tidemark's speed and serving store: the views in
// Redis, on one server or a Redis Cluster, with the same code
// (redis.UniversalClient).
//
// # Keys
//
// Every key of view v starts with "<prefix>:{v}:" (prefix "tm" by default).
// The braces make {v} the Redis Cluster hash tag, so a view, its segments,
// its generations and its checkpoint live on one slot, and one Lua script
// can change them together.
//
//	tm:{v}:meta      hash   ckpt      position of the last applied commit
//	                        seg       segment id of ckpt
//	                        gen       published generation
//	                        cut       its cut (a position); cut_seg, its segment;
//	                        cut_time  its commit time (RFC 3339)
//	                        layout    the view fingerprint (Fingerprint)
//	                        ckpt_time ckpt's commit time, for the lag: a
//	                                  formats.Stamp ("<RFC 3339> receive";
//	                                  the time alone is a commit second)
//	tm:{v}:s:<seg>   hash   group key → the segment's delta state
//	tm:{v}:segs      zset   ids of the live segments
//	tm:{v}:speed     hash   group key → Σ of the live segments (the running total)
//	tm:{v}:b:<gen>   hash   group key → generation gen's batch state
//	tm:{v}:gens      zset   ids of the generations present (published or loading)
//
// Mirrors (latest row per primary key) use meta likewise and
//
//	tm:{v}:mb:<gen>  hash   pk → generation gen's row: JSON array [v1, v2, ...]
//	tm:{v}:rows      hash   pk → the speed layer's row: ["<version>", v1, v2, ...],
//	                        or ["<version>"] for a deletion (a tombstone)
//
// Positions are stored as formats.Position strings; group keys are
// formats.GroupKey bytes; states are the token encoding of formats.Agg
// (count, then nn and sum per measure; exact sums as base-10 integers of any
// length, float sums as decimal floats).
//
// # Answers
//
// A view's answer is batch(gen) ⊕ speed: the states of the published
// generation plus the running total of the segments after its cut, merged
// token-wise; a group whose merged count is <= 0 is absent. ReadAgg reads
// meta, batch and total in one script step, so an answer never mixes two
// generations and never shows half a transaction, and it says which
// generation, cut and speed position it reflects.
//
// # Exactly once
//
// ApplyAgg (ApplyMirror) is one script per view and batch: it compares the
// stored checkpoint with the batch's (from, to], adds the deltas and moves
// the checkpoint in the same step. A mirror batch of Options.MirrorTxRows
// rows or more is a WATCH/MULTI/EXEC transaction instead, with the same
// checks made between WATCH and MULTI (EXEC fails, and the checks run
// again, if the meta key was written meanwhile): plain HSETs cost Redis
// less than half of what the same rows cost as script arguments. Replaying a batch after a crash is a
// no-op (checkpoint >= to); a writer whose from is not the checkpoint is
// fenced; a view whose meta is gone (Redis restarted empty) answers
// ErrStateMissing, and the caller bootstraps it again. Because scripts are
// not rolled back on error, each one validates all its input before its
// first write. Integer and DECIMAL sums are added exactly inside Lua, whose
// numbers are doubles, with base-1e7 limb arithmetic on the decimal strings.
//
// On a single Redis, ApplyAll runs all of a batch's script calls as one
// (luaApplyMany: the bodies one after the other, each with its own checks
// and outcome), which saves Redis the fixed cost of the others. An
// aggregate batch may also carry a Known: the caller's record of what it
// last stored. For a group it knows, the call carries the value it expects
// each hash to hold and the sum, computed in Go, to store; the script
// stores the sum when it finds exactly that value and adds the delta in
// Lua when it does not, so a stale Known costs time, never exactness. A
// small batch of an applier that keeps up then costs Redis string
// comparisons instead of Lua arithmetic per group.
//
// # Segments
//
// The stream is cut into segments at transaction boundaries. A
// transaction's segment is
//
//	seg = max(prev, ⌊commit_time / width⌋)
//
// (SegmentOf, the same rule as the changelog archive's): prev is the
// segment of the transaction before it, which after a restart is the seg
// checkpointed with the view. The rule depends only on the stream and the
// checkpoint, so every sink reproduces the same boundaries after a
// restart, and segment ids never decrease. A segment ends when a
// transaction of a later segment arrives, so a generation's cut E(k), the
// last commit of segment k, is followed only by transactions of segments
// > k.
//
// Publishing generation g with cut E(k) drops segments <= k (the batch
// covers them) and recomputes the running total from the rest, in one
// script step. The bootstrap is the exception: its cut is a snapshot
// position inside some segment, so generation 0 is published with cut
// segment 0 and drops nothing; the views' checkpoint (cut, 0) makes the
// first transaction after it land in ⌊commit_time / width⌋, as in the
// archive.
//
// Positions, not segment ids, decide what a view applies: when the speed
// layer is behind a publish's cut, the publish moves its checkpoint to the
// cut, the writer's next batch is fenced (its from is older) and the writer
// resumes from the stored checkpoint (see realtime/apply). ApplyAgg
// therefore never skips a segment: a transaction after the checkpoint is
// after the cut.
//
// # Mirrors and their generations
//
// A mirror reads a key from the speed overlay when the overlay's version
// is newer than the published cut, else from the published generation (a
// key absent there is absent). Publishing is therefore one pointer flip
// (meta gen and cut), atomic for readers whatever the mirror's size: rows
// changed at or before the cut are replaced by the batch's rows, rows the
// batch lacks are gone, rows changed after the cut keep their speed
// version. Overlay entries the cut covers are ignored at once and deleted
// afterwards, one HSCAN page per script call (PruneMirror). Deletions are
// tombstones in the overlay because the generation may still hold the row.
//
// # Retention
//
// A publish keeps the previous generation's hash (a reader that began a
// scan before the flip can finish it) and deletes older ones. LoadBatch
// registers its generation before writing it, so a load that died halfway
// is deleted by a later publish.
//
// # Concurrency
//
// A Store is safe for concurrent use. One writer per view is expected; a
// second one is fenced rather than double counting. Reset must not run
// beside writers of the same view.
//
// Batch writers holding a lease write through FencedStore: the view's
// meta remembers the highest fencing token that loaded or published it,
// and each load step and flip checks its token in the same script, so a
// writer whose lease was taken over is refused (ErrStaleToken) once the
// new holder has written the view.
package redisview
