// Package changelog archives the captured change stream, the master
// dataset, to the lake and reads it back.
//
// # Model
//
// The ordered stream of committed transactions (formats.Txn) is cut into
// segments at transaction boundaries. A transaction's segment id is
//
//	seg = max(previous transaction's seg, floor(CommitTime.Unix() / SegmentSeconds))
//
// the same rule the speed layer uses, so both cut the stream at the same
// boundaries, and a restart that replays the stream from a boundary cuts it
// the same way again: the rule depends only on the stream and the segment
// the replay starts after.
//
// A segment is sealed when the first transaction of a later segment arrives,
// or a tick of one (formats.Txn.IsTick: the capture's proof, at a
// replication heartbeat of a quiet stream, that nothing more was committed
// up to its time): its data object is completed and then its manifest
// written, last:
//
//	changelog/<source>/seg=<id>/changes.ndjson.zst   the changes, in order
//	changelog/<source>/_manifests/<id>.json           written after the data: the segment exists
//	changelog/<source>/_latest.json                    a hint: the last sealed segment
//
// (ids are zero-padded to 20 digits so key order is segment order). A
// manifest records the segment's first and last positions and GTIDs, the
// previous segment and its last position (so readers prove there is no gap),
// transaction, event and per-table counts, and the data object's size and
// SHA-256. Only manifests make data visible: a data object without one is
// an unfinished segment and is overwritten when the segment is sealed again.
//
// The open (unsealed) segment streams to the lake as it fills and is never
// sealed on shutdown, because a boundary placed by a stop would differ from
// the speed layer's. After a stop or a kill -9 the archiver resumes after the
// last sealed segment (Checkpoint): the capture replays from that position,
// transactions at or before it are skipped, and the open segment is rebuilt
// byte for byte. Every committed change is archived exactly once, in order.
// Ticks are not archived (but in the first segment of an empty archive,
// so that a quiet source gets a first boundary); a sealed segment records the segment that sealed
// it (Manifest.NextSegment) and is never written again, so a transaction
// stamped with an older commit time after a restart goes to a later segment.
// An idle source so seals its last segment within a tick of its end.
//
// Options.Metrics receives the last sealed segment and the lake's errors
// by kind (LakeErrorKind); the caller retries a failed Run (realtime's
// Pipeline does, with backoff, apart from the speed layer).
//
// When the binlog the archive must resume from was purged before it was
// archived, Rebase records a Gap (gap.go): a manifest without data that
// chains like a segment and says which changes are missing. Readers refuse
// to replay across it (ErrIncomplete); a rebuild re-extracts from the
// source instead.
//
// The format is zstd-compressed NDJSON; docs/adr/0001-changelog-format.md
// says why and docs/lake.md documents each line.
package changelog
