package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/scheduler"
)

// Job is one scheduled job of the orchestrator (docs/orchestrator.md).
// batch.schedule is shorthand for one rebuild job named "rebuild".
type Job struct {
	// Name identifies the job in history, metrics, the CLI and the API.
	Name string `yaml:"name"`
	// Kind is rebuild, extract, verify, retention, glue_sync or load.
	Kind string `yaml:"kind"`
	// Source restricts the job to one source; "" means every source with
	// views.
	Source string `yaml:"source"`
	// Views (verify) are the views compared; empty means all.
	Views []string `yaml:"views"`
	// Tables (rebuild, extract) restricts the job to these tables (db.table,
	// each one the batch rebuilds: a view's from or a batch.history
	// table); the others are carried forward from the previous generation.
	// Empty means all.
	Tables []string `yaml:"tables"`
	// Target (load) names the warehouse target to load.
	Target string `yaml:"target"`
	// Schedule is a cron expression (optional seconds field) or a
	// descriptor (@every 2s, @hourly); "" means the job runs only after
	// its After jobs or when triggered.
	Schedule string `yaml:"schedule"`
	// Timezone is the IANA zone the cron fields are read in; default UTC.
	Timezone string `yaml:"timezone"`
	// After lists jobs whose success triggers this one, with the
	// generation they produced.
	After []string `yaml:"after"`
	// Overlap is what a tick does while the previous run still holds the
	// job's lease: skip (default), buffer_one or cancel_running.
	Overlap string `yaml:"overlap"`
	// CatchupWindow: ticks missed while no process ran the job are run
	// once if the latest is within this window of now, else recorded as
	// missed; 0 records them all as missed.
	CatchupWindow time.Duration `yaml:"catchup_window"`
	Retries       Retries       `yaml:"retries"`
	// Timeout bounds one attempt; 0 means none.
	Timeout time.Duration `yaml:"timeout"`
	// PauseOnFailure pauses the job once a run fails for good (after its
	// retries): it stays paused, across restarts, until resumed.
	PauseOnFailure bool `yaml:"pause_on_failure"`
}

// Retries is a job's retry policy for errors not marked permanent.
type Retries struct {
	// Max is the number of retries after the first attempt; 0 means none.
	Max int `yaml:"max"`
	// InitialBackoff is the wait before the first retry (default 1s); each
	// next one doubles, up to MaxBackoff (default 1m), with jitter.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// Orchestrator tunes the scheduler shared by all jobs.
type Orchestrator struct {
	// LeaseTTL is how long a job's lease lives without renewal (renewed
	// every third of it); default 15s. A holder that dies is replaced
	// after at most this long.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// HistoryRuns is how many run records each job keeps; default 100.
	HistoryRuns int `yaml:"history_runs"`
	// StopTimeout is how long SIGTERM waits for a running job to reach its
	// next safe point before its context is cancelled; default 20s.
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// CaptureLeaseTTL is the expiry of each source's capture lease: of the
	// processes running the speed role on one config, the holder captures
	// the source and the others stand by, taking over within about this
	// long when it dies. Default 5s; 0 turns the election off (every speed
	// process captures, as before).
	CaptureLeaseTTL time.Duration `yaml:"capture_lease_ttl"`
	// Instance names this process in leases and run history; default
	// hostname:pid. Give each process its own (a pod name). Only with the
	// default can a restarted process take a lease its dead predecessor on
	// the same host held without waiting for it to expire.
	Instance string `yaml:"instance"`
}

// Events configures where the orchestrator's lifecycle events go besides
// the log.
type Events struct {
	// Webhook, when set, receives each event as a JSON POST signed with
	// WebhookSecret (header X-Tidemark-Signature: sha256=<hex HMAC>).
	Webhook       string `yaml:"webhook"`
	WebhookSecret Secret `yaml:"webhook_secret"`
	// OpenLineageURL, when set, receives OpenLineage run events.
	OpenLineageURL string `yaml:"openlineage_url"`
}

// JobKinds are the kinds a job may have.
var JobKinds = []string{"rebuild", "extract", "verify", "retention", "glue_sync", "load"}

func defaultOrchestrator() Orchestrator {
	return Orchestrator{LeaseTTL: 15 * time.Second, HistoryRuns: 100, StopTimeout: 20 * time.Second, CaptureLeaseTTL: 5 * time.Second}
}

// EffectiveJobs returns the configured jobs with batch.schedule's
// shorthand rebuild job first, and the defaults filled in.
func (c *Config) EffectiveJobs() []Job {
	var out []Job
	if c.Batch.Schedule != "" {
		out = append(out, Job{Name: "rebuild", Kind: "rebuild", Schedule: c.Batch.Schedule})
	}
	out = append(out, c.Jobs...)
	for i := range out {
		j := &out[i]
		if j.Overlap == "" {
			j.Overlap = "skip"
		}
		if j.Timezone == "" {
			j.Timezone = "UTC"
		}
		if j.Retries.InitialBackoff == 0 {
			j.Retries.InitialBackoff = time.Second
		}
		if j.Retries.MaxBackoff == 0 {
			j.Retries.MaxBackoff = time.Minute
		}
	}
	return out
}

// validateJobs checks jobs, orchestrator and events; add reports a problem
// at a dotted path.
func (c *Config) validateJobs(add func(path, format string, args ...any)) {
	o := c.Orchestrator
	if o.LeaseTTL < 3*time.Second {
		add("orchestrator.lease_ttl", "%s: want at least 3s (the lease is renewed every third of it)", o.LeaseTTL)
	}
	if o.HistoryRuns < 1 {
		add("orchestrator.history_runs", "%d: keep at least 1 run", o.HistoryRuns)
	}
	if o.CaptureLeaseTTL != 0 && o.CaptureLeaseTTL < 3*time.Second {
		add("orchestrator.capture_lease_ttl", "%s: want 0 (no election) or at least 3s", o.CaptureLeaseTTL)
	}
	if o.StopTimeout < 0 {
		add("orchestrator.stop_timeout", "%s: must not be negative", o.StopTimeout)
	}
	for _, u := range []struct{ path, v string }{{"events.webhook", c.Events.Webhook}, {"events.openlineage_url", c.Events.OpenLineageURL}} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			add(u.path, "%q: want an http:// or https:// URL", u.v)
		}
	}
	if c.Events.Webhook != "" && c.Events.WebhookSecret == "" {
		add("events.webhook_secret", "required with events.webhook: the key of the HMAC-SHA256 signature receivers check")
	}
	jobs := c.EffectiveJobs()
	names := map[string]bool{}
	for _, j := range jobs {
		names[j.Name] = true
	}
	if c.Batch.Schedule != "" {
		if slices.ContainsFunc(c.Jobs, func(j Job) bool { return j.Name == "rebuild" }) {
			add("batch.schedule", "is shorthand for a job named \"rebuild\", and jobs declares one too: move the schedule into that job")
		}
	}
	seen := map[string]bool{}
	for i, j := range c.Jobs {
		p := fmt.Sprintf("jobs[%d]", i)
		if !nameRE.MatchString(j.Name) {
			add(p+".name", "%q: want a lowercase name like \"nightly\" ([a-z][a-z0-9_]*)", j.Name)
		} else if seen[j.Name] {
			add(p+".name", "%q is used by two jobs; names must be unique", j.Name)
		}
		seen[j.Name] = true
		if !slices.Contains(JobKinds, j.Kind) {
			add(p+".kind", "%q: want one of %s", j.Kind, strings.Join(JobKinds, ", "))
		}
		if j.Source != "" && !slices.ContainsFunc(c.Sources, func(s Source) bool { return s.Name == j.Source }) {
			add(p+".source", "%q: no source of that name", j.Source)
		}
		for k, v := range j.Views {
			if j.Kind != "verify" {
				add(fmt.Sprintf("%s.views[%d]", p, k), "only verify jobs take views")
				break
			}
			if !slices.ContainsFunc(c.Views, func(s formats.ViewSpec) bool { return s.Name == v }) {
				add(fmt.Sprintf("%s.views[%d]", p, k), "%q: no view of that name", v)
			}
		}
		for k, tb := range j.Tables {
			tp := fmt.Sprintf("%s.tables[%d]", p, k)
			if j.Kind != "rebuild" && j.Kind != "extract" {
				add(tp, "only rebuild and extract jobs take tables")
				break
			}
			id, err := formats.ParseTableID(tb)
			if err != nil {
				add(tp, "%q: want db.table", tb)
				continue
			}
			if slices.Contains(j.Tables[:k], tb) {
				add(tp, "%q is listed twice", tb)
			}
			if !slices.ContainsFunc(c.Views, func(v formats.ViewSpec) bool { return v.From == tb }) && !slices.Contains(c.Batch.History, tb) {
				add(tp, "%q is not a table the batch rebuilds (no view reads it and batch.history does not list it)", tb)
				continue
			}
			if j.Source != "" && !slices.ContainsFunc(c.Sources, func(s Source) bool {
				return s.Name == j.Source && (slices.Contains(s.Databases, id.DB) || slices.Contains(s.Tables, tb))
			}) {
				add(tp, "%q is not captured by source %q", tb, j.Source)
			}
		}
		if j.Kind == "load" && j.Target == "" {
			add(p+".target", "required for a load job: the warehouse target to load")
		} else if j.Kind != "load" && j.Target != "" {
			add(p+".target", "only load jobs take a target")
		}
		if j.Schedule == "" && len(j.After) == 0 {
			add(p, "set schedule (cron or @every) or after: [job], or the job never runs except when triggered")
		}
		if j.Schedule != "" {
			if err := scheduler.ParseSpec(j.Schedule); err != nil {
				add(p+".schedule", "%v", err)
			}
		}
		if j.Timezone != "" {
			if _, err := time.LoadLocation(j.Timezone); err != nil {
				add(p+".timezone", "%q: not an IANA time zone (e.g. Europe/Berlin, UTC): %v", j.Timezone, err)
			}
		}
		for k, a := range j.After {
			switch {
			case a == j.Name:
				add(fmt.Sprintf("%s.after[%d]", p, k), "%q: a job cannot wait for itself", a)
			case !names[a]:
				add(fmt.Sprintf("%s.after[%d]", p, k), "%q: no job of that name", a)
			}
		}
		switch j.Overlap {
		case "", "skip", "buffer_one", "cancel_running":
		default:
			add(p+".overlap", "%q: want skip, buffer_one or cancel_running", j.Overlap)
		}
		if j.CatchupWindow < 0 {
			add(p+".catchup_window", "%s: must not be negative", j.CatchupWindow)
		}
		r := j.Retries
		if r.Max < 0 {
			add(p+".retries.max", "%d: must not be negative", r.Max)
		}
		if r.InitialBackoff < 0 {
			add(p+".retries.initial_backoff", "%s: must not be negative", r.InitialBackoff)
		}
		if r.MaxBackoff < 0 || (r.MaxBackoff > 0 && r.MaxBackoff < r.InitialBackoff) {
			add(p+".retries.max_backoff", "%s: must be at least retries.initial_backoff (%s)", r.MaxBackoff, r.InitialBackoff)
		}
		if j.Timeout < 0 {
			add(p+".timeout", "%s: must not be negative", j.Timeout)
		}
	}
	if cyc := afterCycle(jobs); cyc != "" {
		add(fmt.Sprintf("jobs[%d].after", slices.IndexFunc(c.Jobs, func(j Job) bool { return j.Name == cyc })), "%q waits, through its after jobs, for itself", cyc)
	}
}

// afterCycle returns a job on a cycle of after dependencies, or "".
func afterCycle(jobs []Job) string {
	deps := map[string][]string{}
	for _, j := range jobs {
		deps[j.Name] = j.After
	}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string) bool
	visit = func(n string) bool {
		switch state[n] {
		case 1:
			return true
		case 2:
			return false
		}
		state[n] = 1
		for _, d := range deps[n] {
			if visit(d) {
				return true
			}
		}
		state[n] = 2
		return false
	}
	for _, j := range jobs {
		if visit(j.Name) {
			return j.Name
		}
	}
	return ""
}
