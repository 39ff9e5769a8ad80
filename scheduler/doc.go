// Package scheduler is Tidemark's orchestrator: it runs jobs on cron
// schedules (robfig/cron/v3 parses them; Schedule defines daylight-saving
// behaviour) with exactly one run per tick across every process sharing a
// Redis, and keeps each job's history there.
//
// # Model
//
// At tick t every process runs the same script: the job's claimed tick
// advances to t only if it is below t, so one process owns the tick and
// gives it its outcome (run, skipped, missed). To run, it takes the job's
// lease: SET NX PX and a fencing token (INCR) in one atomic step, renewed
// every third of its TTL by compare-value, released by compare-and-delete.
// The job receives the lease as a Fence and checks it where its work
// lands (before each write that publishes): a newer token or a lost lease
// refuses the write with ErrFenced or ErrLeaseLost, so a holder paused past
// its expiry cannot publish. A failed renewal cancels the run's context.
//
// The state lives in Redis under <prefix>:{job:NAME}:... (one hash tag per
// job): lease, fence, claimed tick, history list, running record, pause,
// trigger queue, cancel request. Control reads and steers it without a
// running Scheduler (the CLI and the admin API use it).
//
// # Time
//
// Every wait goes through a Clock (ticks, renewals, backoffs, timeouts,
// polls); tests use FakeClock and never sleep for the scheduler's sake.
//
// # Lifecycle
//
// Add every job, then Run(ctx). When ctx ends, Run stops firing, lets
// running jobs reach their next safe point (Fence.Check returns
// ErrStopping) for up to StopTimeout, cancels what still runs, records each
// run and releases its lease, then returns. A Scheduler is safe for
// concurrent use by its own goroutines; Tick and PollTriggers are exported
// for tests and may be called while Run runs.
package scheduler
