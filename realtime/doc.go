// Package realtime is the speed layer: it wires the binlog capture
// (realtime/capture), the applier (realtime/apply) and the Redis view store
// (realtime/redisview) into one supervised Pipeline, bootstraps views that
// have no state, and verifies views against the source.
//
// # Lifecycle
//
// Pipeline.Run loops over sessions. A session reads every view's
// checkpoint; views without state (first start, Redis restarted empty, a
// purged binlog with re-bootstrap configured) are bootstrapped as
// generation 0 from one consistent snapshot of their tables, at an exact
// binlog position. Then the capture streams from the views' earliest
// checkpoint into a bounded channel and the applier applies it. The
// changelog archive, if any, runs beside the sessions and fails apart
// from them (archive.go): a bounded buffer fed without waiting, its own
// replication connection when it falls behind, its own retries. A session ends on
// shutdown (the applier drains the batch in flight; every checkpoint is
// already in Redis with its state, so there is nothing else to flush) or on
// an error: a lost Redis state or a fence starts a new session at once,
// a broken Redis (redisview.ErrUnavailable) or source connection after a
// backoff, and a purged binlog either re-bootstraps
// (speed.rebootstrap_on_purge: the views whose checkpoint is gone are
// reset, the archive re-bases past a gap recorded in the changelog, and a
// recovery that does not progress backs off) or stops with the fix in the
// message.
// MariaDB connection breaks are cured inside the capture, which resumes
// after the last transaction it delivered.
package realtime
