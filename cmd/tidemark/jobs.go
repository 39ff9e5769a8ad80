package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/athena"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/realtime"
	"github.com/tidemark/tidemark/reporting"
	"github.com/tidemark/tidemark/scheduler"
)

// loadFunc loads generation gen into a warehouse target with a fencing
// token (the warehouse Runner's Load). nil means no warehouse is wired: a
// load job then fails, permanently, saying so.
type loadFunc func(ctx context.Context, target string, gen, fence uint64) (rows int64, err error)

// orchestrator is what `tidemark run` needs to build the scheduler.
type orchestrator struct {
	a    *app
	st   lake.Store
	glue *glueSync
	load loadFunc
	wh   *warehouse.Runner // nil: no warehouse; else loads each published generation
	log  *slog.Logger
}

// newScheduler declares every configured job (config.EffectiveJobs) on a
// new scheduler; reg receives its metrics.
func (o *orchestrator) newScheduler(reg prometheus.Registerer, sink scheduler.Sink) (*scheduler.Scheduler, error) {
	cfg := o.a.cfg
	s, err := scheduler.New(scheduler.Options{
		Redis: o.a.rdb, Prefix: cfg.Redis.Prefix, Logger: o.log, Metrics: scheduler.NewMetrics(reg), Events: sink, Holder: cfg.Orchestrator.Instance,
		LeaseTTL: cfg.Orchestrator.LeaseTTL, HistoryRuns: cfg.Orchestrator.HistoryRuns, StopTimeout: cfg.Orchestrator.StopTimeout,
	})
	if err != nil {
		return nil, err
	}
	for _, j := range cfg.EffectiveJobs() {
		loc, err := time.LoadLocation(j.Timezone)
		if err != nil {
			return nil, fmt.Errorf("job %s: timezone: %w", j.Name, err)
		}
		spec := scheduler.Spec{
			Name: j.Name, Schedule: j.Schedule, Location: loc, After: j.After, Overlap: j.Overlap,
			CatchupWindow: j.CatchupWindow, Timeout: j.Timeout, PauseOnFailure: j.PauseOnFailure,
			Retries: scheduler.Retries{Max: j.Retries.Max, InitialBackoff: j.Retries.InitialBackoff, MaxBackoff: j.Retries.MaxBackoff},
		}
		if writesLake(j.Kind) {
			spec.Lease = scheduler.LakeLease
		}
		if err := s.Add(spec, o.job(j)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// writesLake reports whether a job kind writes the lake's generations:
// those jobs share scheduler.LakeLease (with `tidemark batch`).
func writesLake(kind string) bool {
	return kind == "rebuild" || kind == "extract" || kind == "retention"
}

// job is the body of a configured job.
func (o *orchestrator) job(j config.Job) scheduler.Job {
	return scheduler.JobFunc(func(ctx context.Context, r *scheduler.Run) (scheduler.Result, error) {
		log := scheduler.EventLogger(o.log.With("job", j.Name, "run", r.ID, "attempt", r.Attempt), r)
		switch j.Kind {
		case "rebuild", "extract":
			return o.rebuild(ctx, j, r, log)
		case "verify":
			return o.verify(ctx, j, r, log)
		case "retention":
			return scheduler.Result{}, batch.Retire(ctx, serving.NewFenced(r.Fence).Store(o.st), o.a.cfg.Batch.Retention, log)
		case "glue_sync":
			return o.glueSync(ctx, r)
		case "load":
			return o.loadJob(ctx, j, r, log)
		}
		return scheduler.Result{}, scheduler.Permanent(fmt.Errorf("job %s: unknown kind %q", j.Name, j.Kind))
	})
}

func (o *orchestrator) sources(j config.Job) []*source {
	var out []*source
	for _, s := range o.a.sources {
		if len(s.views) > 0 && (j.Source == "" || j.Source == s.cfg.Name) {
			out = append(out, s)
		}
	}
	return out
}

// rebuild builds and publishes a generation per source, every write
// fenced by the run's lease.
func (o *orchestrator) rebuild(ctx context.Context, j config.Job, r *scheduler.Run, log *slog.Logger) (scheduler.Result, error) {
	var res scheduler.Result
	for _, s := range o.sources(j) {
		only, skip := jobTables(j, s)
		if skip {
			continue // none of the job's tables is this source's
		}
		fenced := serving.NewFenced(r.Fence)
		rj := &rebuildJob{a: o.a, st: fenced.Store(o.st), s: s, fromSource: j.Kind == "extract", only: only,
			log: log.With("source", s.cfg.Name), wrap: fenced.Publisher}
		g, err := rj.rebuild(ctx)
		if err != nil {
			return res, fmt.Errorf("rebuilding source %s: %w", s.cfg.Name, err)
		}
		o.glue.afterPublish(ctx, g, rj.log)
		o.wh.Published(g.Generation)
		gen, ct := g.Generation, g.CutTime
		res.Generation, res.Cut, res.CutTime = &gen, g.Cut, &ct
		ns := fmt.Sprintf("mysql://%s:%d", s.cfg.Host, s.cfg.Port)
		for _, t := range g.Tables {
			res.Rows += t.Rows
			for _, f := range t.Files {
				res.Bytes += f.Bytes
			}
			res.Inputs = append(res.Inputs, scheduler.Dataset{Namespace: ns, Name: t.Table, Rows: t.Rows})
		}
	}
	return res, nil
}

// jobTables are the tables of j's tables: that source s rebuilds (views'
// tables and history tables); skip when j names tables and none is s's.
func jobTables(j config.Job, s *source) (only []formats.TableID, skip bool) {
	for _, tb := range j.Tables {
		id, err := formats.ParseTableID(tb) // validated with the config
		if err != nil {
			continue
		}
		if slices.ContainsFunc(s.views, func(v *formats.View) bool { return v.From == id }) || slices.Contains(s.history, id) {
			only = append(only, id)
		}
	}
	return only, len(j.Tables) > 0 && len(only) == 0
}

// verify compares the job's views with the source; differences fail the
// run (not retried) with VerifyFailed events.
func (o *orchestrator) verify(ctx context.Context, j config.Job, r *scheduler.Run, log *slog.Logger) (scheduler.Result, error) {
	var res scheduler.Result
	var differ []string
	for _, s := range o.sources(j) {
		bound, err := (&app{cfg: o.a.cfg, sources: []*source{s}}).bind(ctx)
		if err != nil {
			return res, err
		}
		for _, bv := range bound {
			name := bv.View().Name
			if len(j.Views) > 0 && !slices.Contains(j.Views, name) {
				continue
			}
			diffs, err := realtime.Verify(ctx, s.cap.DB(), o.a.store, bv, realtime.VerifyOptions{CatchUp: time.Minute})
			if err != nil {
				return res, fmt.Errorf("verifying view %s: %w", name, err)
			}
			res.Rows++
			if len(diffs) > 0 {
				res.Mismatches += int64(len(diffs))
				differ = append(differ, fmt.Sprintf("%s (%d groups)", name, len(diffs)))
				log.Warn("VerifyFailed", "event", "VerifyFailed", "view", name, "groups", len(diffs), "first", diffs[0].Key)
			}
		}
	}
	if len(differ) > 0 {
		return res, scheduler.Permanent(fmt.Errorf("views differ from the source: %s", strings.Join(differ, ", ")))
	}
	return res, nil
}

func (o *orchestrator) glueSync(ctx context.Context, r *scheduler.Run) (scheduler.Result, error) {
	if o.glue == nil {
		return scheduler.Result{}, scheduler.Permanent(errors.New("glue_sync job: athena.glue.sync is off"))
	}
	gens, err := athena.NewestPerSource(ctx, o.st)
	if err != nil {
		return scheduler.Result{}, err
	}
	var res scheduler.Result
	ctx, cancel := context.WithTimeout(ctx, o.glue.timeout)
	defer cancel()
	for _, g := range gens {
		changes, err := o.glue.sync.Sync(ctx, g)
		if err != nil {
			return res, err
		}
		gen := g.Generation
		res.Generation, res.Rows = &gen, res.Rows+int64(len(changes))
	}
	return res, nil
}

// loadJob loads the generation its upstream produced (after:), else the
// lake's newest, into the job's warehouse target with the run's fencing
// token.
func (o *orchestrator) loadJob(ctx context.Context, j config.Job, r *scheduler.Run, log *slog.Logger) (scheduler.Result, error) {
	if o.load == nil {
		return scheduler.Result{}, scheduler.Permanent(fmt.Errorf("load job %s: no warehouse is configured in this build", j.Name))
	}
	var gen uint64
	if r.Upstream != nil && r.Upstream.Generation != nil {
		gen = *r.Upstream.Generation
	} else {
		g, err := batch.Latest(ctx, o.st)
		if err != nil {
			return scheduler.Result{}, err
		}
		if g == nil {
			return scheduler.Result{}, errors.New("no generation in the lake yet")
		}
		gen = g.Generation
	}
	rows, err := o.load(ctx, j.Target, gen, r.Fence.Token())
	if err != nil {
		return scheduler.Result{}, err
	}
	log.Info("LoadCompleted", "event", "LoadCompleted", "target", j.Target, "generation", gen, "rows", rows)
	return scheduler.Result{Generation: &gen, Rows: rows}, nil
}

// cmdJobs is `tidemark jobs list | history NAME | trigger NAME | pause
// NAME|--all | resume NAME|--all`.
func cmdJobs(ctx context.Context, args []string, stdout io.Writer) error {
	const use = "jobs: want `tidemark jobs list|history NAME|trigger NAME|pause NAME|--all|resume NAME|--all -c FILE [--json]`"
	if len(args) == 0 {
		return &exitError{2, errors.New(use)}
	}
	sub := args[0]
	fs := flag.NewFlagSet("jobs "+sub, flag.ContinueOnError)
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	all := fs.Bool("all", false, "pause or resume every job")
	asJSON := fs.Bool("json", false, "print JSON")
	n := fs.Int("n", 20, "history: how many records")
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return &exitError{2, errSilent}
	}
	a, err := openApp(*path, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	ctl := a.jobControl()
	names := ctl.Jobs()
	target := func() ([]string, error) {
		if *all {
			return names, nil
		}
		if len(rest) != 1 {
			return nil, &exitError{2, fmt.Errorf("jobs %s: name one job (configured: %s)", sub, strings.Join(names, ", "))}
		}
		return rest, nil
	}
	printJSON := func(v any) error {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	wrap := func(err error) error {
		if errors.Is(err, scheduler.ErrUnknownJob) {
			return &exitError{2, err}
		}
		return err
	}
	switch sub {
	case "list":
		st, err := ctl.Status(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(st)
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "JOB\tKIND\tSCHEDULE\tSTATE\tLAST RUN\tOUTCOME")
		for i, s := range st {
			j := a.cfg.EffectiveJobs()[i]
			state := "active"
			if s.Paused != nil {
				state = "paused (" + s.Paused.Reason + ")"
			}
			if s.Holder != "" {
				state += ", running on " + s.Holder
			}
			last, outcome := "-", "-"
			if s.Last != nil {
				last, outcome = s.Last.Scheduled.Format(time.RFC3339), string(s.Last.Outcome)
			}
			sched := j.Schedule
			if len(j.After) > 0 {
				sched = strings.TrimSpace(sched + " after " + strings.Join(j.After, ","))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Job, j.Kind, sched, state, last, outcome)
		}
		return w.Flush()
	case "history":
		if len(rest) != 1 {
			return &exitError{2, fmt.Errorf("jobs history: name one job (configured: %s)", strings.Join(names, ", "))}
		}
		h, err := ctl.History(ctx, rest[0], *n)
		if err != nil {
			return wrap(err)
		}
		if *asJSON {
			return printJSON(h)
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "SCHEDULED\tTRIGGER\tATTEMPT\tOUTCOME\tTOOK\tGENERATION\tROWS\tERROR")
		for _, r := range h {
			took, gen := "-", "-"
			if r.Start != nil && r.End != nil {
				took = r.End.Sub(*r.Start).Round(time.Millisecond).String()
			}
			if r.Generation != nil {
				gen = fmt.Sprint(*r.Generation)
			}
			outcome := string(r.Outcome)
			if r.Count > 1 {
				outcome = fmt.Sprintf("%s ×%d", outcome, r.Count)
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", r.Scheduled.Format(time.RFC3339), r.Trigger, r.Attempt, outcome, took, gen, r.Rows, r.Error)
		}
		return w.Flush()
	case "trigger":
		if len(rest) != 1 {
			return &exitError{2, fmt.Errorf("jobs trigger: name one job (configured: %s)", strings.Join(names, ", "))}
		}
		at, err := ctl.Trigger(ctx, rest[0])
		if err != nil {
			return wrap(err)
		}
		fmt.Fprintf(stdout, "triggered %s at %s; a running `tidemark run` picks it up within a second\n", rest[0], at.Format(time.RFC3339))
		return nil
	case "pause", "resume":
		jobs, err := target()
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if sub == "pause" {
				err = ctl.Pause(ctx, j, "paused by an operator (tidemark jobs pause)")
			} else {
				err = ctl.Resume(ctx, j)
			}
			if err != nil {
				return wrap(err)
			}
			fmt.Fprintf(stdout, "%sd %s\n", sub, j)
		}
		return nil
	}
	return &exitError{2, errors.New(use)}
}

// jobControl steers the configured jobs' state in Redis.
func (a *app) jobControl() *scheduler.Control {
	var names []string
	for _, j := range a.cfg.EffectiveJobs() {
		names = append(names, j.Name)
	}
	c := scheduler.NewControl(a.rdb, a.cfg.Redis.Prefix, names, nil, a.cfg.Orchestrator.HistoryRuns)
	for _, j := range a.cfg.EffectiveJobs() {
		if j.Schedule == "" {
			continue
		}
		loc, err := time.LoadLocation(j.Timezone)
		if err != nil {
			continue // validated with the config
		}
		if sc, err := scheduler.NewSchedule(j.Schedule, loc); err == nil {
			c.SetSchedule(j.Name, sc)
		}
	}
	return c
}

// jobsAdmin serves reporting's admin routes from a scheduler.Control.
type jobsAdmin struct{ c *scheduler.Control }

var _ reporting.JobsAdmin = jobsAdmin{}

func adminErr(err error) error {
	if errors.Is(err, scheduler.ErrUnknownJob) {
		return fmt.Errorf("%w: %w", reporting.ErrUnknownJob, err)
	}
	return err
}

func (j jobsAdmin) Jobs(ctx context.Context) (any, error) { return j.c.Status(ctx) }

func (j jobsAdmin) History(ctx context.Context, job string, n int) (any, error) {
	h, err := j.c.History(ctx, job, n)
	return h, adminErr(err)
}

func (j jobsAdmin) Trigger(ctx context.Context, job string) (any, error) {
	at, err := j.c.Trigger(ctx, job)
	return map[string]any{"job": job, "triggered_at": at}, adminErr(err)
}

func (j jobsAdmin) Pause(ctx context.Context, job string) error {
	return adminErr(j.c.Pause(ctx, job, "paused by an operator (API)"))
}

func (j jobsAdmin) Resume(ctx context.Context, job string) error {
	return adminErr(j.c.Resume(ctx, job))
}

func (j jobsAdmin) PauseAll(ctx context.Context) error {
	for _, n := range j.c.Jobs() {
		if err := j.Pause(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (j jobsAdmin) ResumeAll(ctx context.Context) error {
	for _, n := range j.c.Jobs() {
		if err := j.Resume(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// startJobs starts the orchestrator of the configured jobs on g (its
// event senders beside it) and returns its Control.
// wh, when set, loads each generation a rebuild publishes into the
// warehouse targets, and runs the load jobs.
func (a *app) startJobs(ctx, gctx context.Context, g *errgroup.Group, st lake.Store, wh *warehouse.Runner, reg prometheus.Registerer, log *slog.Logger) (*scheduler.Control, error) {
	glue, err := a.openGlue(ctx, reg)
	if err != nil {
		return nil, &exitError{2, err}
	}
	o := &orchestrator{a: a, st: st, glue: glue, log: log.With("role", "batch")}
	if wh != nil {
		o.wh = wh
		o.load = func(ctx context.Context, target string, gen, fence uint64) (int64, error) {
			st, err := wh.Load(ctx, target, gen, fence)
			return st.Rows, err
		}
	}
	sink := newEventSink(a.cfg.Events, log)
	sched, err := o.newScheduler(reg, sink)
	if err != nil {
		return nil, &exitError{2, err}
	}
	// The senders outlive the scheduler's stop by their drain, so the last
	// run's events (RunCancelled) still go out.
	sctx, stopSink := context.WithCancel(context.WithoutCancel(gctx))
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- sink.run(sctx) }()
	g.Go(func() error {
		err := sched.Run(gctx)
		stopSink()
		<-sinkDone
		return err
	})
	return sched.Control(), nil
}
