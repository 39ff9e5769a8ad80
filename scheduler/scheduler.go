package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is work run on a schedule.
type Job interface {
	// Name identifies the job in logs and metrics.
	Name() string
	// Run does one run; it must return soon after ctx is cancelled.
	Run(ctx context.Context) error
}

// Scheduler holds jobs and their schedules. Add every job before Run.
type Scheduler struct {
	log     *slog.Logger
	entries []entry
}

type entry struct {
	spec  string
	sched cron.Schedule
	job   Job
}

// parser accepts the standard five fields, an optional leading seconds
// field, and descriptors such as @every 15m or @hourly.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// New returns an empty Scheduler logging to log.
func New(log *slog.Logger) *Scheduler { return &Scheduler{log: log} }

// ParseSpec checks a cron expression, for config validation.
func ParseSpec(spec string) error {
	if _, err := parser.Parse(spec); err != nil {
		return fmt.Errorf("schedule %q: %w (want cron fields like \"0 */15 * * * *\" or \"@every 15m\")", spec, err)
	}
	return nil
}

// Add schedules job by spec.
func (s *Scheduler) Add(spec string, job Job) error {
	sched, err := parser.Parse(spec)
	if err != nil {
		return fmt.Errorf("scheduling %s: schedule %q: %w", job.Name(), spec, err)
	}
	s.entries = append(s.entries, entry{spec: spec, sched: sched, job: job})
	return nil
}

// Run fires the jobs on their schedules until ctx ends, then waits for the
// running ones. A job's error is logged, not fatal: the next tick tries
// again.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, e := range s.entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, e)
		}()
	}
	wg.Wait()
	return nil
}

func (s *Scheduler) loop(ctx context.Context, e entry) {
	var running sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	next := e.sched.Next(time.Now())
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		next = e.sched.Next(time.Now())
		if !running.TryLock() {
			s.log.Warn("job still running; tick skipped", "job", e.job.Name(), "schedule", e.spec)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer running.Unlock()
			start := time.Now()
			s.log.Info("job started", "job", e.job.Name())
			if err := e.job.Run(ctx); err != nil {
				s.log.Error("job failed", "job", e.job.Name(), "err", err, "took", time.Since(start).Round(time.Millisecond))
				return
			}
			s.log.Info("job finished", "job", e.job.Name(), "took", time.Since(start).Round(time.Millisecond))
		}()
	}
}
