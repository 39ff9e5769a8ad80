package config

import (
	"strings"
	"testing"
	"time"
)

// TestJobTables: a rebuild job of a subset of tables, also set by env.
func TestJobTables(t *testing.T) {
	c, err := Parse([]byte(good+"jobs:\n  - {name: part, kind: rebuild, schedule: \"@hourly\", source: shop, tables: [shop.orders]}\n"),
		[]string{"TIDEMARK_JOBS_0_TABLES=shop.orders,shop.customers"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Jobs[0].Tables; len(got) != 2 || got[0] != "shop.orders" || got[1] != "shop.customers" {
		t.Errorf("tables %v", got)
	}
}

func TestJobsGood(t *testing.T) {
	c, err := Parse([]byte(good+`
batch:
  schedule: "@every 2s"
jobs:
  - name: heal
    kind: extract
    schedule: "0 0 3 * * *"
    timezone: Europe/Berlin
    overlap: buffer_one
    catchup_window: 1h
    retries: {max: 3, initial_backoff: 2s, max_backoff: 30s}
    timeout: 10m
    pause_on_failure: true
  - name: check
    kind: verify
    after: [rebuild, heal]
    views: [revenue_by_day]
`), []string{"TIDEMARK_JOBS_1_OVERLAP=cancel_running", "TIDEMARK_ORCHESTRATOR_LEASE_TTL=9s"})
	if err != nil {
		t.Fatal(err)
	}
	jobs := c.EffectiveJobs()
	if len(jobs) != 3 || jobs[0].Name != "rebuild" || jobs[0].Kind != "rebuild" || jobs[0].Schedule != "@every 2s" {
		t.Fatalf("batch.schedule shorthand: %+v", jobs)
	}
	if jobs[1].Retries.Max != 3 || jobs[1].Retries.MaxBackoff != 30*time.Second || !jobs[1].PauseOnFailure || jobs[1].CatchupWindow != time.Hour {
		t.Errorf("heal: %+v", jobs[1])
	}
	if jobs[2].Overlap != "cancel_running" || jobs[2].Timezone != "UTC" || jobs[2].Retries.InitialBackoff != time.Second {
		t.Errorf("check (env override, defaults): %+v", jobs[2])
	}
	if c.Orchestrator.LeaseTTL != 9*time.Second || c.Orchestrator.HistoryRuns != 100 {
		t.Errorf("orchestrator: %+v", c.Orchestrator)
	}
}

func TestJobsBad(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@every 1s\", retry: {max: 1}}\n", "jobs[0].retry (line"},
		{"jobs:\n  - {name: a, kind: rebild, schedule: \"@every 1s\"}\n", "jobs[0].kind: \"rebild\""},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"every day\"}\n", "jobs[0].schedule:"},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\", timezone: Mars/Olympus}\n", "jobs[0].timezone:"},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\", overlap: queue}\n", "jobs[0].overlap:"},
		{"jobs:\n  - {name: a, kind: rebuild, after: [b]}\n  - {name: b, kind: verify, after: [a]}\n", "waits, through its after jobs, for itself"},
		{"jobs:\n  - {name: a, kind: rebuild, after: [nope]}\n", "jobs[0].after[0]: \"nope\": no job"},
		{"jobs:\n  - {name: a, kind: rebuild}\n", "jobs[0]: set schedule"},
		{"jobs:\n  - {name: a, kind: load, schedule: \"@hourly\"}\n", "jobs[0].target: required"},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\", retries: {max: 2, initial_backoff: 1m, max_backoff: 1s}}\n", "jobs[0].retries.max_backoff"},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\"}\n  - {name: a, kind: verify, schedule: \"@hourly\"}\n", "jobs[1].name: \"a\" is used by two jobs"},
		{"batch: {schedule: \"@hourly\"}\njobs:\n  - {name: rebuild, kind: rebuild, schedule: \"@hourly\"}\n", "batch.schedule: is shorthand"},
		{"events: {webhook: \"http://127.0.0.1:9/hook\"}\n", "events.webhook_secret: required"},
		{"orchestrator: {lease_ttl: 1s}\n", "orchestrator.lease_ttl"},
		{"orchestrator: {capture_lease_ttl: 1s}\n", "orchestrator.capture_lease_ttl"},
		{"events: {webhook: \"ftp://x\", webhook_secret: s}\n", "events.webhook: \"ftp://x\""},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\", views: [revenue_by_day]}\n", "jobs[0].views[0]: only verify jobs"},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\", tables: [shop.nope]}\n", "jobs[0].tables[0]: \"shop.nope\" is not a table the batch rebuilds"},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\", tables: [orders]}\n", "jobs[0].tables[0]: \"orders\": want db.table"},
		{"jobs:\n  - {name: a, kind: verify, schedule: \"@hourly\", tables: [shop.orders]}\n", "jobs[0].tables[0]: only rebuild and extract"},
		{"jobs:\n  - {name: a, kind: rebuild, schedule: \"@hourly\", tables: [shop.orders, shop.orders]}\n", "jobs[0].tables[1]: \"shop.orders\" is listed twice"},
	} {
		_, err := Parse([]byte(good+tc.yaml), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
