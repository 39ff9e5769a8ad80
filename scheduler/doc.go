// Package scheduler runs jobs on cron schedules (robfig/cron/v3): the batch
// layer's rebuilds, retention sweeps and the like.
//
// It knows jobs only through the two-method Job interface. A job never runs
// twice at once: a tick that finds the previous run still going is skipped
// and logged, because two rebuilds racing for the same generation number
// would both lose. Run returns when its context ends, after the running
// jobs (whose contexts are cancelled) have returned.
package scheduler
