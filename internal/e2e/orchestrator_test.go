package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/scheduler"
)

const orchestratorYAML = `orchestrator:
  lease_ttl: 5s
  stop_timeout: 20s
jobs:
  - name: rebuild
    kind: rebuild
    schedule: "@every 2s"
    overlap: skip
`

func (e *env) jobHistory(t testing.TB, rc *redis.Client, job string) []scheduler.Record {
	t.Helper()
	h, err := scheduler.NewControl(rc, "tm", []string{job}, nil, 1000).History(context.Background(), job, 1000)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(h) // oldest first
	return h
}

func holderOf(p *proc) string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", h, p.cmd.Process.Pid)
}

func holderPid(s string) int {
	_, pid, _ := strings.Cut(s, ":")
	n, _ := strconv.Atoi(pid)
	return n
}

// waitHolder waits until process p runs the job.
func waitHolder(t testing.TB, rc *redis.Client, job string, p *proc, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if v, err := rc.Get(context.Background(), "tm:{job:"+job+"}:current").Result(); err == nil && strings.Contains(v, fmt.Sprintf(`"holder":"%s"`, holderOf(p))) && strings.Contains(v, `"outcome":"running"`) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d did not take the %s lease within %s", p.cmd.Process.Pid, job, within)
}

// checkTicks asserts that every tick got exactly one final outcome, that no
// two runs produced the same generation, and that the lake's generations
// are exactly the ones the runs produced, each complete.
func (e *env) checkTicks(t *testing.T, h []scheduler.Record) (succeeded int) {
	t.Helper()
	final := map[string][]scheduler.Record{}
	var order []string
	for _, r := range h {
		if r.Outcome == scheduler.Retried || r.Outcome == scheduler.Running {
			continue
		}
		if _, ok := final[r.Run]; !ok {
			order = append(order, r.Run)
		}
		final[r.Run] = append(final[r.Run], r)
	}
	gens := map[uint64]string{}
	for _, id := range order {
		rs := final[id]
		if len(rs) != 1 {
			t.Errorf("tick %s has %d final outcomes: %+v", id, len(rs), rs)
		}
		r := rs[0]
		if r.Outcome != scheduler.Succeeded {
			continue
		}
		succeeded++
		if r.Generation == nil {
			t.Errorf("run %s succeeded without a generation", id)
			continue
		}
		if other, dup := gens[*r.Generation]; dup {
			t.Errorf("generation %d published by two runs: %s and %s", *r.Generation, other, id)
		}
		gens[*r.Generation] = id
	}
	st, err := lake.Open(context.Background(), "file://"+filepath.Join(e.dir, "lake"), lake.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	inLake, err := batch.Generations(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range inLake {
		m, err := batch.ReadGeneration(context.Background(), st, g)
		if err != nil {
			t.Fatalf("generation %d: %v", g, err)
		}
		for _, tb := range m.Tables {
			for _, f := range tb.Files {
				if _, err := os.Stat(filepath.Join(e.dir, "lake", f.Key)); err != nil {
					t.Errorf("generation %d lists %s, which is missing: a partial generation is visible", g, f.Key)
				}
			}
		}
		if _, ok := gens[g]; !ok && g > inLake[0] {
			t.Errorf("generation %d is in the lake but no run recorded producing it", g)
		}
	}
	return succeeded
}

// TestOrchestratorOneRunPerTick: two `tidemark run` processes on one
// config schedule the same @every 2s rebuild: over 20+ ticks each tick has
// exactly one outcome and the generations are distinct. Then the lease
// holder is killed with -9 mid-run: its lease expires, the next tick runs,
// no partial generation is visible. Then a zombie: the holder is stopped
// (SIGSTOP) past its lease, the other process runs the job, and when the
// zombie continues its publish is refused.
func TestOrchestratorOneRunPerTick(t *testing.T) {
	e := newEnv(t, envOptions{sourceYAML: "    heartbeat: shop.heartbeat\n    heartbeat_interval: 200ms\n", extraYAML: orchestratorYAML})
	ctx := context.Background()
	if err := e.workload(11, 1).Seed(ctx, 20, 200); err != nil {
		t.Fatal(err)
	}
	rc := e.redis.Client(t)
	capture := e.start(t, "--roles", "speed,batch")
	e.waitBootstrapped(t, "orders_by_customer")
	standby := e.start(t, "--roles", "batch")

	deadline := time.Now().Add(4 * time.Minute)
	var h []scheduler.Record
	for {
		h = e.jobHistory(t, rc, "rebuild")
		if len(h) >= 24 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d records after 4 minutes", len(h))
		}
		time.Sleep(500 * time.Millisecond)
	}
	n := e.checkTicks(t, h)
	holders := map[string]int{}
	for _, r := range h {
		if r.Outcome == scheduler.Succeeded {
			holders[r.Holder]++
		}
	}
	t.Logf("%d records, %d succeeded runs, by holder %v", len(h), n, holders)
	if n < 3 {
		t.Fatalf("only %d rebuilds succeeded", n)
	}

	// kill -9 the holder mid-run (the standby: the capture must live on).
	waitHolder(t, rc, "rebuild", standby, 2*time.Minute)
	killedAt := time.Now()
	standby.kill9(t)
	deadline = time.Now().Add(2 * time.Minute)
	for {
		h = e.jobHistory(t, rc, "rebuild")
		last := h[len(h)-1]
		if last.Outcome == scheduler.Succeeded && last.Start.After(killedAt) && holderPid(last.Holder) == capture.cmd.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run after the holder was killed; last %+v", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	reaped := slices.ContainsFunc(h, func(r scheduler.Record) bool {
		return r.Outcome == scheduler.Failed && holderPid(r.Holder) == standby.cmd.Process.Pid && strings.Contains(r.Error, "lease expired")
	})
	if !reaped {
		t.Errorf("the killed holder's run is not recorded failed")
	}
	e.checkTicks(t, h)

	// A zombie: SIGSTOP the holder past its lease.
	zombie := e.start(t, "--roles", "batch")
	waitHolder(t, rc, "rebuild", zombie, 2*time.Minute)
	if err := zombie.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	deadline = time.Now().Add(2 * time.Minute)
	for {
		h = e.jobHistory(t, rc, "rebuild")
		last := h[len(h)-1]
		if last.Outcome == scheduler.Succeeded && last.Start.After(stoppedAt) && holderPid(last.Holder) == capture.cmd.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run while the holder was stopped; last %+v", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
	published := func() uint64 {
		g, err := rc.HGet(ctx, "tm:{orders_by_customer}:meta", "gen").Uint64()
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	before := published()
	if err := zombie.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The zombie notices at its next write or renewal: fenced.
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(readFile(t, zombie.log), "fenced") && !strings.Contains(readFile(t, zombie.log), "lease lost") {
		if time.Now().After(deadline) {
			t.Fatalf("the zombie did not report being fenced:\n%s", tail(readFile(t, zombie.log), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after := published(); after < before {
		t.Errorf("the zombie moved the published generation back from %d to %d", before, after)
	}
	h = e.jobHistory(t, rc, "rebuild")
	for _, r := range h {
		if holderPid(r.Holder) == zombie.cmd.Process.Pid && r.Outcome == scheduler.Succeeded && r.Start.Before(stoppedAt) && r.End.After(stoppedAt) {
			t.Errorf("the zombie's run %s succeeded", r.Run)
		}
	}
	e.checkTicks(t, h)
	if code := zombie.term(t); code != 0 {
		t.Errorf("zombie SIGTERM: exit %d", code)
	}
	e.verify(t)
	if code := capture.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if v, _ := rc.Exists(ctx, "tm:{job:lease:lake}:lease").Result(); v != 0 {
		t.Errorf("the lease outlived a clean stop")
	}
}

// TestOrchestratorSteering: pause, resume and trigger through the CLI and
// the admin API (admin token required), a pause surviving a restart, and a
// graceful stop mid-run.
func TestOrchestratorSteering(t *testing.T) {
	hook := newReceiver(t, "hook-secret")
	e := newEnv(t, envOptions{
		sourceYAML: "    heartbeat: shop.heartbeat\n    heartbeat_interval: 200ms\n",
		apiYAML:    "  tokens:\n    - {name: ops, secret: adm1n-secret-0123456, scope: admin}\n    - {name: dash, secret: read-secret-01234567, scope: read}\n",
		extraYAML: `events:
  webhook: ` + hook.url + `
  webhook_secret: hook-secret
jobs:
  - name: rebuild
    kind: rebuild
    schedule: "@every 3s"
  - name: check
    kind: verify
    after: [rebuild]
`})
	ctx := context.Background()
	rc := e.redis.Client(t)
	if out, code := e.tidemark(t, "jobs", "pause", "-c", e.cfg, "--all"); code != 0 || !strings.Contains(out, "paused rebuild") {
		t.Fatalf("jobs pause --all: %d\n%s", code, out)
	}
	p, base := e.startAPI(t)
	call := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(resp))
		return resp.StatusCode, b.String()
	}
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"read-secret-01234567", 403}, {"wrong", 401}, {"adm1n-secret-0123456", 200}} {
		if code, body := call("GET", "/v1/admin/jobs", c.token); code != c.want {
			t.Errorf("GET /v1/admin/jobs with token %q: %d, want %d: %s", c.token, code, c.want, body)
		}
	}
	if code, _ := call("POST", "/v1/admin/jobs/rebuild/trigger", "read-secret-01234567"); code != 403 {
		t.Errorf("trigger with a read token: %d, want 403", code)
	}
	if code, _ := call("POST", "/v1/admin/jobs/nope/trigger", "adm1n-secret-0123456"); code != 404 {
		t.Errorf("trigger of an unknown job: %d, want 404", code)
	}
	// Paused: ticks are recorded skipped-paused.
	waitRecord := func(what string, pred func(scheduler.Record) bool) scheduler.Record {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			for _, r := range e.jobHistory(t, rc, "rebuild") {
				if pred(r) {
					return r
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; history %+v", what, e.jobHistory(t, rc, "rebuild"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitRecord("a skipped-paused tick", func(r scheduler.Record) bool { return r.Outcome == scheduler.SkippedPaused })
	// A manual trigger through the API runs the paused job.
	if code, body := call("POST", "/v1/admin/jobs/rebuild/trigger", "adm1n-secret-0123456"); code != 202 {
		t.Fatalf("trigger: %d %s", code, body)
	}
	r := waitRecord("the API-triggered run", func(r scheduler.Record) bool { return r.Trigger == "manual" && r.Outcome == scheduler.Succeeded })
	if r.Generation == nil {
		t.Errorf("triggered run without generation: %+v", r)
	}
	// Paused across a restart.
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	if out, _ := e.tidemark(t, "jobs", "list", "-c", e.cfg); !strings.Contains(out, "paused") {
		t.Errorf("jobs list after restart-free stop:\n%s", out)
	}
	p = e.start(t, "--roles", "speed,api,batch")
	resumeAt := time.Now()
	waitReady(t, base)
	if code, body := call("GET", "/v1/admin/jobs", "adm1n-secret-0123456"); code != 200 || !strings.Contains(body, `"paused"`) {
		t.Errorf("after a restart the job should still be paused: %d %s", code, body)
	}
	// Resume through the API; the schedule runs it again and its after:
	// job follows with the generation.
	if code, body := call("POST", "/v1/admin/jobs/resume", "adm1n-secret-0123456"); code != 202 {
		t.Fatalf("resume: %d %s", code, body)
	}
	waitRecord("a scheduled run after resume", func(r scheduler.Record) bool {
		return r.Trigger == "schedule" && r.Outcome == scheduler.Succeeded && r.Start.After(resumeAt)
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		hc := e.jobHistory(t, rc, "check")
		if i := slices.IndexFunc(hc, func(r scheduler.Record) bool { return r.Outcome == scheduler.Succeeded && r.Trigger == "after:rebuild" }); i >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the after: verify job never succeeded: %+v", hc)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The webhook got the lifecycle events, signed, the first one again
	// after the receiver's 500.
	for _, name := range []string{"RunStarted", "RebuildStarted", "GenerationPublished", "RunSucceeded"} {
		if !hook.has(name) {
			t.Errorf("webhook never got %s (got %v)", name, hook.names())
		}
	}
	if hook.refused() != 1 {
		t.Errorf("the receiver refused %d deliveries, want the first only", hook.refused())
	}
	// `tidemark batch` beside the scheduler holds the lake's lease too:
	// its generation is none of the jobs'.
	out, code := e.tidemark(t, "batch", "-c", e.cfg)
	if code != 0 {
		t.Fatalf("tidemark batch beside the scheduler: exit %d\n%s", code, tail(out, 3000))
	}
	m := regexp.MustCompile(`generation (\d+) of shop published`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("tidemark batch output:\n%s", tail(out, 2000))
	}
	manual, _ := strconv.ParseUint(m[1], 10, 64)
	for _, r := range e.jobHistory(t, rc, "rebuild") {
		if r.Generation != nil && *r.Generation == manual {
			t.Errorf("generation %d built by both tidemark batch and run %s", manual, r.Run)
		}
	}
	// CLI history and trigger.
	if out, code := e.tidemark(t, "jobs", "history", "rebuild", "-c", e.cfg); code != 0 || !strings.Contains(out, "succeeded") || !strings.Contains(out, "manual") {
		t.Errorf("jobs history: %d\n%s", code, out)
	}
	if out, code := e.tidemark(t, "jobs", "trigger", "nope", "-c", e.cfg); code != 2 {
		t.Errorf("jobs trigger nope: %d, want 2\n%s", code, out)
	}
	// Graceful stop mid-run: exit 0, the run recorded (cancelled at its
	// safe point, or succeeded past its commit point), the lease released.
	waitHolder(t, rc, "rebuild", p, time.Minute)
	if code := p.term(t); code != 0 {
		t.Fatalf("SIGTERM mid-run: exit %d\n%s", code, tail(readFile(t, p.log), 3000))
	}
	h := e.jobHistory(t, rc, "rebuild")
	last := h[len(h)-1]
	if last.Outcome != scheduler.Cancelled && last.Outcome != scheduler.Succeeded {
		t.Errorf("the run stopped by SIGTERM is recorded %s", last.Outcome)
	}
	if v, _ := rc.Exists(ctx, "tm:{job:lease:lake}:lease").Result(); v != 0 {
		t.Errorf("SIGTERM left the lease held")
	}
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

func waitReady(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("API at %s not ready within 90s (last: %v)", base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// receiver is a local webhook endpoint: it answers 500 to the first
// delivery and records the events whose signature checks out.
type receiver struct {
	url    string
	mu     sync.Mutex
	events []string
	calls  int
	bad    int
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		if r.calls == 1 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		if req.Header.Get("X-Tidemark-Signature") != scheduler.Sign([]byte(secret), req.Header.Get("X-Tidemark-Timestamp"), body) {
			r.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		r.events = append(r.events, req.Header.Get("X-Tidemark-Event"))
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *receiver) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *receiver) has(name string) bool { return slices.Contains(r.names(), name) }

func (r *receiver) refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return 1 + r.bad
}

// TestJobsPageInChromium: the dashboard's Jobs page lists the jobs, shows a
// run's outcome, and its Trigger button runs the job (scripts/jobs-check.cjs).
func TestJobsPageInChromium(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed; the check drives Chromium with playwright-core")
	}
	pw := filepath.Join(os.Getenv("HOME"), ".cache", "tidemark", "node", "node_modules", "playwright-core")
	if _, err := os.Stat(pw); err != nil {
		t.Skip("playwright-core not installed; scripts/dashboard-check.sh installs it")
	}
	e := newEnv(t, envOptions{
		sourceYAML: "    heartbeat: shop.heartbeat\n    heartbeat_interval: 200ms\n",
		apiYAML:    "  tokens:\n    - {name: ops, secret: adm1n-secret-0123456, scope: admin}\n",
		extraYAML: `jobs:
  - name: rebuild
    kind: rebuild
    schedule: "@every 5s"
  - name: check
    kind: verify
    after: [rebuild]
`})
	p, base := e.startAPI(t)
	shot := filepath.Join(t.TempDir(), "jobs.png")
	if d := os.Getenv("JOBS_PAGE_SHOT"); d != "" {
		shot = d
	}
	cmd := exec.Command("node", filepath.Join(stack.Root(), "scripts", "jobs-check.cjs"), base, "rebuild", shot)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+pw, "TIDEMARK_TOKEN=adm1n-secret-0123456")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("jobs page check failed: %v\n%s", err, tail(string(out), 4000))
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("no screenshot saved (%v)", err)
	}
	t.Logf("jobs page check:\n%s", out)
	if code := p.term(t); code != 0 {
		t.Errorf("SIGTERM: exit %d", code)
	}
}

// startEnv is env.start with extra environment variables.
func (e *env) startEnv(t testing.TB, vars []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(e.dir, fmt.Sprintf("tidemark-%d.log", time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), append([]string{"run", "-c", e.cfg}, args...)...)
	cmd.Env = append(os.Environ(), vars...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("tidemark log %s (tail):\n%s", logPath, tail(string(b), 4000))
		}
	})
	return p
}

func readyz(base string) string {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	return readAll(resp)
}

// TestCaptureStandbyTakesOver: two `tidemark run` processes with the speed
// role on one config under a workload: exactly one captures (its /readyz
// and tidemark_capture_role say so), the other stands by; kill -9 of the
// capturing one, and the standby captures within the lease's expiry plus
// 5 s, resuming from the checkpoints: every view exact, nothing counted
// twice.
func TestCaptureStandbyTakesOver(t *testing.T) {
	e := newEnv(t, envOptions{extraYAML: "orchestrator:\n  capture_lease_ttl: 4s\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := e.workload(23, 1)
	if err := g.Seed(ctx, 30, 300); err != nil {
		t.Fatal(err)
	}
	var procs []*proc
	var bases []string
	// Instance names as on two machines: the standby cannot tell the
	// holder died, it waits for the lease to expire.
	for i := range 2 {
		port := freePort(t)
		bases = append(bases, fmt.Sprintf("http://127.0.0.1:%d", port))
		procs = append(procs, e.startEnv(t, []string{fmt.Sprintf("TIDEMARK_API_LISTEN=127.0.0.1:%d", port),
			fmt.Sprintf("TIDEMARK_ORCHESTRATOR_INSTANCE=node-%d", i)}, "--roles", "speed,api"))
	}
	active := -1
	deadline := time.Now().Add(2 * time.Minute)
	for active < 0 {
		a, b := readyz(bases[0]), readyz(bases[1])
		switch {
		case strings.Contains(a, "capturing shop") && strings.Contains(b, "standby for shop"):
			active = 0
		case strings.Contains(b, "capturing shop") && strings.Contains(a, "standby for shop"):
			active = 1
		case strings.Contains(a, "capturing") && strings.Contains(b, "capturing"):
			t.Fatalf("both processes capture: %q, %q", a, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no capture and standby within 2 minutes: %q, %q", a, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	standby := 1 - active
	resp, err := http.Get(bases[standby] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m := readAll(resp); !strings.Contains(m, `tidemark_capture_role{source="shop"} 0`) {
		t.Errorf("the standby's metrics lack tidemark_capture_role 0")
	}
	werr := make(chan error, 1)
	go func() { werr <- g.Run(ctx, 600, 200) }()
	time.Sleep(1500 * time.Millisecond)
	procs[active].kill9(t)
	killed := time.Now()
	for !strings.HasPrefix(readyz(bases[standby]), "ready: capturing shop") {
		if time.Since(killed) > 4*time.Second+5*time.Second+30*time.Second {
			t.Fatalf("the standby did not take over: %q", readyz(bases[standby]))
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("the standby captures %s after the kill", took.Round(time.Millisecond))
	if took > 4*time.Second+5*time.Second {
		t.Errorf("takeover took %s, want within the lease's 4s + 5s", took)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	e.verify(t)
	if code := procs[standby].term(t); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
}
