package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects the results table and the figures the summary compares.
type report struct {
	rows []row

	ceilRaw, ceilStream, ceilGo float64   // rows/s
	ceilCPU                     []float64 // CPU seconds per row change of each stage
	catchUp                     []float64 // rows/s of each run
	peakRSS                     int64
	tidemarkCPU, redisCPU       []float64 // CPU seconds per row change of each catch-up run
	luaHSetCPU                  float64   // Redis CPU seconds per row of the Lua HSET loop
	lagP50, lagP99              time.Duration
	luaHSet                     float64
	oltp                        []catchUpStats // the OLTP phase's catch-up runs
	oltpCeil                    float64        // go-mysql's decode of its backlog, rows/s
	oltpCeilCPU                 float64        // its CPU seconds per row change
	oltpCompare                 []catchUpStats // runs of -oltp-compare's binary
}

type row struct{ section, metric, value, target, note string }

func (r *report) add(section, metric, value, target, note string) {
	r.rows = append(r.rows, row{section, metric, value, target, note})
}

// machine records what the numbers were measured on.
func (r *report) machine(b *bench) {
	model := "?"
	if s, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(s), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "?"
	if s, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(s), "\n")
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	load := "?"
	if s, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(s))[:3], " ")
	}
	var mariaVer string
	_ = b.db.QueryRowContext(context.Background(), "SELECT VERSION()").Scan(&mariaVer)
	redisVer := "?"
	if info, err := b.rdb.Info(context.Background(), "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
				redisVer = v
			}
		}
	}
	r.add("machine", "CPU", fmt.Sprintf("%d × %s", runtime.NumCPU(), model), "", "shared by MariaDB, Redis, Tidemark and the driver")
	r.add("machine", "RAM", mem, "", "")
	r.add("machine", "load average at start (1/5/15 min)", load, "", "other work on the machine")
	r.add("machine", "Go / MariaDB / Redis", runtime.Version()+" / "+mariaVer+" / "+redisVer, "", "")
}

// summary adds how close the catch-up came to each ceiling. With several
// catch-up runs it takes the fastest one and the lowest CPU costs: other
// work on a shared machine only ever slows a run down, so the best run is
// the closest estimate of what Tidemark itself costs. Peak RSS is the
// largest of all runs.
func (r *report) summary() {
	r.oltpSummary()
	if len(r.catchUp) == 0 {
		return
	}
	best := slices.Max(r.catchUp)
	label := "catch-up"
	if len(r.catchUp) > 1 {
		label = fmt.Sprintf("catch-up (best of %d runs)", len(r.catchUp))
	}
	ratio := func(c float64) string {
		if c == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f%%", 100*best/c)
	}
	r.add("summary", label+" vs go-mysql decode ceiling", ratio(r.ceilRaw), "", "")
	r.add("summary", label+" vs capture.Stream ceiling", ratio(r.ceilStream), "", "")
	r.add("summary", label+" vs Go pipeline with a null store", ratio(r.ceilGo), "", "")
	r.add("summary", label+" vs Lua HSET of mirror rows", ratio(r.luaHSet), "", "Redis's share: 1 HSET per row change for the mirror")
	tm := slices.Min(r.tidemarkCPU)
	if len(r.ceilCPU) == 3 {
		r.add("summary", "CPU per row change: tidemark / Go pipeline, null store / capture.Stream / go-mysql",
			fmt.Sprintf("%.1f / %.1f / %.1f / %.1f µs", 1e6*tm, 1e6*r.ceilCPU[2], 1e6*r.ceilCPU[1], 1e6*r.ceilCPU[0]), "",
			fmt.Sprintf("CPU time, less sensitive to the machine's other load than rates: tidemark does %s row changes per CPU-second", fmtRate(1/tm)))
	}
	if rc := slices.Min(r.redisCPU); rc > 0 && r.luaHSetCPU > 0 {
		r.add("summary", "Redis CPU per row change: catch-up / plain Lua HSET loop", fmt.Sprintf("%.1f / %.1f µs", 1e6*rc, 1e6*r.luaHSetCPU), "",
			fmt.Sprintf("one Redis core at the catch-up's cost per row change applies at most %s row changes/s", fmtRate(1/rc)))
	}
	pass := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	rates := make([]string, len(r.catchUp))
	for i, c := range r.catchUp {
		rates[i] = fmtRate(c)
	}
	r.add("summary", "target catch-up ≥ 250,000 row changes/s", pass(best >= 250000), "", "runs: "+strings.Join(rates, ", "))
	if r.peakRSS > 0 {
		r.add("summary", "target peak RSS ≤ 256 MiB", pass(r.peakRSS <= 256<<20), "", fmtMiB(r.peakRSS)+" (largest VmHWM of the runs)")
	}
	if r.lagP50 != 0 {
		r.add("summary", "target lag p50 ≤ 1 ms", pass(r.lagP50 <= time.Millisecond), "", fmtMs(r.lagP50))
		r.add("summary", "target lag p99 ≤ 5 ms", pass(r.lagP99 <= 5*time.Millisecond), "", fmtMs(r.lagP99))
	}
}

// oltpSummary compares the OLTP phase's best run with its target and
// ceiling.
func (r *report) oltpSummary() {
	if len(r.oltp) == 0 {
		return
	}
	var rates []string
	best, tm, rc, hwm := 0.0, 0.0, 0.0, int64(0)
	for i, s := range r.oltp {
		rates = append(rates, fmtRate(s.rate))
		best, hwm = max(best, s.rate), max(hwm, s.hwm)
		if i == 0 || s.tidemarkCPU < tm {
			tm = s.tidemarkCPU
		}
		if i == 0 || s.redisCPU < rc {
			rc = s.redisCPU
		}
	}
	pass := "NOT met"
	if best >= 250000 {
		pass = "met"
	}
	r.add("summary", "target OLTP catch-up (4-row transactions) ≥ 250,000 row changes/s", pass, "", "runs: "+strings.Join(rates, ", "))
	if r.oltpCeil > 0 {
		r.add("summary", "OLTP catch-up (best run) vs go-mysql decode of its backlog", fmt.Sprintf("%.0f%%", 100*best/r.oltpCeil), "", fmtRate(r.oltpCeil)+" rows/s")
	}
	r.add("summary", "OLTP CPU per row change: tidemark / Redis / go-mysql decode alone", fmt.Sprintf("%.1f / %.1f / %.1f µs", 1e6*tm, 1e6*rc, 1e6*r.oltpCeilCPU), "",
		fmt.Sprintf("lowest of the runs; peak RSS %s (target ≤ 256 MiB)", fmtMiB(hwm)))
	if len(r.oltpCompare) > 0 {
		var cs []string
		for _, s := range r.oltpCompare {
			cs = append(cs, fmt.Sprintf("%s (%.1f / %.1f µs)", fmtRate(s.rate), 1e6*s.tidemarkCPU, 1e6*s.redisCPU))
		}
		var ts []string
		for _, s := range r.oltp {
			ts = append(ts, fmt.Sprintf("%s (%.1f / %.1f µs)", fmtRate(s.rate), 1e6*s.tidemarkCPU, 1e6*s.redisCPU))
		}
		r.add("summary", "OLTP runs: -bin vs -oltp-compare, row changes/s (tidemark / Redis CPU per row change)", strings.Join(ts, ", "), "",
			"-oltp-compare: "+strings.Join(cs, ", ")+"; alternated on the same backlog")
	}
}

// print writes the table as Markdown.
func (r *report) print(w io.Writer) {
	fmt.Fprintln(w, "| phase | measure | result | target | notes |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for _, x := range r.rows {
		note := strings.ReplaceAll(strings.ReplaceAll(x.note, "|", `\|`), "\n", " ")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", x.section, x.metric, x.value, x.target, note)
	}
}

func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtRate(r float64) string { return fmtInt(int64(r + 0.5)) }

func fmtDur(d time.Duration) string {
	if d < time.Second {
		return fmtMs(d)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func fmtMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20 || n <= -1<<20:
		return fmtMiB(n)
	case n >= 1<<10 || n <= -1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
