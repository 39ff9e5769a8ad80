package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Outcome is how a tick or an attempt ended.
type Outcome string

// The outcomes. Every tick gets one, including the ticks that did not run.
const (
	Running        Outcome = "running"
	Succeeded      Outcome = "succeeded"
	Failed         Outcome = "failed"
	Retried        Outcome = "retried" // the attempt failed and another follows
	SkippedOverlap Outcome = "skipped-overlap"
	SkippedPaused  Outcome = "skipped-paused"
	Missed         Outcome = "missed"
	Cancelled      Outcome = "cancelled"
)

// Record is one entry of a job's run history: one attempt of a run, or a
// tick that did not run.
type Record struct {
	Job       string    `json:"job"`
	Run       string    `json:"run"` // the run's id; its attempts share it
	Scheduled time.Time `json:"scheduled"`
	// Trigger is schedule, catchup, manual or after:<job>.
	Trigger    string     `json:"trigger"`
	Start      *time.Time `json:"start,omitempty"`
	End        *time.Time `json:"end,omitempty"`
	Outcome    Outcome    `json:"outcome"`
	Attempt    int        `json:"attempt,omitempty"`
	Holder     string     `json:"holder,omitempty"`
	Fence      uint64     `json:"fence,omitempty"`
	Generation *uint64    `json:"generation,omitempty"`
	Cut        string     `json:"cut,omitempty"`
	CutTime    *time.Time `json:"cut_time,omitempty"`
	Rows       int64      `json:"rows,omitempty"`
	Bytes      int64      `json:"bytes,omitempty"`
	Inputs     []Dataset  `json:"inputs,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Count > 1 folds that many consecutive missed ticks into one record
	// (Scheduled is the first of them).
	Count int `json:"count,omitempty"`
}

// keys are a job's Redis keys, hash-tagged so the scripts touching several
// of them run on one Redis Cluster slot.
type keys struct{ lease, fence, claimed, runs, current, paused, trigger, cancel string }

func jobKeys(prefix, job string) keys {
	b := prefix + ":{job:" + job + "}:"
	return keys{b + "lease", b + "fence", b + "claimed", b + "runs", b + "current", b + "paused", b + "trigger", b + "cancel"}
}

// Acquiring: set the lease if absent and mint the fencing token in the
// same atomic step, so a token is never handed out without the lease.
var acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[3])
  return redis.call('INCR', KEYS[2])
end
return 0`)

// Renewing by compare-value: only the holder extends its lease. 2 means
// renewed, and a later tick asks the run to stop (cancel_running).
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
return 1`)

// Releasing by compare-and-delete.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0`)

// Checking a fence: the lease is still ours and no newer token exists.
// 1 ok, 0 lease lost, -1 fenced.
var checkScript = redis.NewScript(`
local f = tonumber(redis.call('GET', KEYS[2]) or '0')
if f > tonumber(ARGV[2]) then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return 1`)

// Claiming a tick: tick times only move forward, and each is claimed by
// one process, the one that gives it its outcome.
var claimScript = redis.NewScript(`
local c = tonumber(redis.call('GET', KEYS[1]) or '-1')
if c >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1`)

// Pushing a record: newest first, the list trimmed to N.
var pushScript = redis.NewScript(`
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1`)

// Control reads and steers the jobs' state in Redis: history, pause,
// trigger. It needs no running scheduler (the CLI uses it alone) and is
// safe for concurrent use.
type Control struct {
	rdb    redis.UniversalClient
	prefix string
	jobs   []string
	clock  Clock
	keep   int
	scheds map[string]*Schedule // for Status's next tick; may lack a job
	leases map[string]string    // job → its lease's name, when not its own
}

// NewControl returns a Control over the named jobs' state under prefix;
// keep is the history length (<= 0: 100).
func NewControl(rdb redis.UniversalClient, prefix string, jobs []string, clock Clock, keep int) *Control {
	if clock == nil {
		clock = RealClock{}
	}
	if keep <= 0 {
		keep = 100
	}
	return &Control{rdb: rdb, prefix: prefix, jobs: slices.Clone(jobs), clock: clock, keep: keep, scheds: map[string]*Schedule{}, leases: map[string]string{}}
}

// SetLease tells Status which lease job runs under (Spec.Lease). Call it
// before the Control is shared.
func (c *Control) SetLease(job, lease string) { c.leases[job] = lease }

func (c *Control) leaseOf(job string) string {
	if l := c.leases[job]; l != "" {
		return l
	}
	return job
}

// SetSchedule tells Status job's schedule (for its next tick). Call it
// before the Control is shared.
func (c *Control) SetSchedule(job string, s *Schedule) { c.scheds[job] = s }

func (c *Control) keys(job string) (keys, error) {
	if !slices.Contains(c.jobs, job) {
		return keys{}, fmt.Errorf("%w %q (configured: %v)", ErrUnknownJob, job, c.jobs)
	}
	return jobKeys(c.prefix, job), nil
}

// Jobs are the job names.
func (c *Control) Jobs() []string { return slices.Clone(c.jobs) }

// PauseState says why and since when a job is paused.
type PauseState struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// Pause pauses job: its ticks are recorded skipped-paused until Resume. The
// state is in Redis: it holds across restarts and for every process.
func (c *Control) Pause(ctx context.Context, job, reason string) error {
	k, err := c.keys(job)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(PauseState{Reason: reason, Since: c.clock.Now().UTC()})
	if err := c.rdb.Set(ctx, k.paused, b, 0).Err(); err != nil {
		return fmt.Errorf("pausing job %s: %w", job, err)
	}
	return nil
}

// Resume undoes Pause.
func (c *Control) Resume(ctx context.Context, job string) error {
	k, err := c.keys(job)
	if err != nil {
		return err
	}
	if err := c.rdb.Del(ctx, k.paused).Err(); err != nil {
		return fmt.Errorf("resuming job %s: %w", job, err)
	}
	return nil
}

// Paused returns the job's pause state, nil when it runs.
func (c *Control) Paused(ctx context.Context, job string) (*PauseState, error) {
	k, err := c.keys(job)
	if err != nil {
		return nil, err
	}
	b, err := c.rdb.Get(ctx, k.paused).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading job %s's pause state: %w", job, err)
	}
	var p PauseState
	if err := json.Unmarshal(b, &p); err != nil {
		return &PauseState{Reason: string(b)}, nil
	}
	return &p, nil
}

// trigger is a queued request to run a job now.
type trigger struct {
	Trigger    string    `json:"trigger"` // manual | after:<job>
	At         time.Time `json:"at"`
	Generation *uint64   `json:"generation,omitempty"`
	Cut        string    `json:"cut,omitempty"`
	Run        string    `json:"run,omitempty"` // the upstream run
}

// Trigger queues a run of job now; whichever process polls the queue first
// runs it (a paused job runs too: the operator asked). It returns the
// time of the request, the run's scheduled time.
func (c *Control) Trigger(ctx context.Context, job string) (time.Time, error) {
	return c.enqueue(ctx, job, trigger{Trigger: "manual"})
}

func (c *Control) enqueue(ctx context.Context, job string, t trigger) (time.Time, error) {
	k, err := c.keys(job)
	if err != nil {
		return time.Time{}, err
	}
	t.At = c.clock.Now().UTC()
	b, _ := json.Marshal(t)
	if err := c.rdb.LPush(ctx, k.trigger, b).Err(); err != nil {
		return time.Time{}, fmt.Errorf("triggering job %s: %w", job, err)
	}
	return t.At, nil
}

func (c *Control) popTrigger(ctx context.Context, job string) (*trigger, error) {
	k := jobKeys(c.prefix, job)
	b, err := c.rdb.RPop(ctx, k.trigger).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var t trigger
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decoding a trigger of job %s: %w", job, err)
	}
	return &t, nil
}

// History returns up to n records of job, newest first, a running attempt
// (if any) on top.
func (c *Control) History(ctx context.Context, job string, n int) ([]Record, error) {
	k, err := c.keys(job)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		n = c.keep
	}
	var out []Record
	cur, err := c.rdb.Get(ctx, k.current).Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading job %s's history: %w", job, err)
	}
	if len(cur) > 0 {
		var r Record
		if json.Unmarshal(cur, &r) == nil {
			out = append(out, r)
		}
	}
	raw, err := c.rdb.LRange(ctx, k.runs, 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("reading job %s's history: %w", job, err)
	}
	for _, s := range raw {
		var r Record
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			continue
		}
		out = append(out, r)
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

func (c *Control) push(ctx context.Context, r Record) error {
	b, _ := json.Marshal(r)
	k := jobKeys(c.prefix, r.Job)
	if err := pushScript.Run(ctx, c.rdb, []string{k.runs}, b, c.keep).Err(); err != nil {
		return fmt.Errorf("recording run %s of job %s: %w", r.Run, r.Job, err)
	}
	return nil
}

func (c *Control) setCurrent(ctx context.Context, r Record) error {
	b, _ := json.Marshal(r)
	return c.rdb.Set(ctx, jobKeys(c.prefix, r.Job).current, b, 0).Err()
}

// clearCurrentScript deletes the running record if it is the one of run
// with token; 1 when it was.
var clearCurrentScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, r = pcall(cjson.decode, cur)
if ok and r.run == ARGV[1] and tostring(r.fence or 0) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`)

// clearCurrent removes the running record of run (with fencing token
// token) and reports whether it was there.
func (c *Control) clearCurrent(ctx context.Context, job, run string, token uint64) (bool, error) {
	v, err := clearCurrentScript.Run(ctx, c.rdb, []string{jobKeys(c.prefix, job).current}, run, strconv.FormatUint(token, 10)).Int64()
	return v == 1, err
}

// Status is a job's state at a glance.
type Status struct {
	Job      string      `json:"job"`
	Paused   *PauseState `json:"paused,omitempty"`
	Holder   string      `json:"holder,omitempty"` // the lease holder while a run is going
	LastTick *time.Time  `json:"last_tick,omitempty"`
	NextTick *time.Time  `json:"next_tick,omitempty"`
	Schedule string      `json:"schedule,omitempty"`
	Last     *Record     `json:"last,omitempty"`
}

// Status returns each job's status.
func (c *Control) Status(ctx context.Context) ([]Status, error) {
	var out []Status
	for _, j := range c.jobs {
		k := jobKeys(c.prefix, j)
		st := Status{Job: j}
		p, err := c.Paused(ctx, j)
		if err != nil {
			return nil, err
		}
		st.Paused = p
		if cur, err := c.rdb.Get(ctx, k.current).Bytes(); err == nil {
			var r Record
			if json.Unmarshal(cur, &r) == nil {
				st.Holder = r.Holder
			}
		} else if h, err := c.rdb.Get(ctx, jobKeys(c.prefix, c.leaseOf(j)).lease).Result(); err == nil && c.leaseOf(j) == j {
			st.Holder = h
		}
		if ms, err := c.rdb.Get(ctx, k.claimed).Result(); err == nil {
			if v, err := strconv.ParseInt(ms, 10, 64); err == nil {
				t := time.UnixMilli(v).UTC()
				st.LastTick = &t
			}
		}
		if sc := c.scheds[j]; sc != nil {
			st.Schedule = sc.String()
			if n := sc.Next(c.clock.Now()); !n.IsZero() {
				n = n.UTC()
				st.NextTick = &n
			}
		}
		h, err := c.History(ctx, j, 1)
		if err != nil {
			return nil, err
		}
		if len(h) > 0 {
			st.Last = &h[0]
		}
		out = append(out, st)
	}
	return out, nil
}
