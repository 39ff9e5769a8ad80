package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// catchUpStats are one catch-up run's figures the summary compares.
type catchUpStats struct {
	rate                  float64 // row changes/s
	hwm                   int64   // peak RSS
	tidemarkCPU, redisCPU float64 // CPU seconds per row change
}

// catchUp starts tidemark on the backlog and measures how fast it applies
// it, reporting under section sec; with profile the run is profiled with
// perf (which costs a little CPU). It returns the still running process.
func (b *bench) catchUp(ctx context.Context, bl *backlog, sec string, profile bool, rep *report) (*tidemark, catchUpStats, error) {
	mariaPid, redisPid := pidFromFile(b.o.mariaPidFile), pidFromFile(b.o.redisPidFile)
	var stats catchUpStats
	start := time.Now()
	p, err := b.startTidemark(strings.ReplaceAll(sec, " ", "-"))
	if err != nil {
		return nil, stats, err
	}
	cpu := newCPUMeter([]string{"tidemark", "mariadbd", "redis-server"}, []int{p.pid(), mariaPid, redisPid})
	rss := sampleRSS(p.pid(), 50*time.Millisecond)
	var perfs []*perfRecording
	if profile {
		pre := "perf-"
		if !strings.HasPrefix(sec, "catch-up") {
			pre += strings.ReplaceAll(sec, " ", "-") + "-"
		}
		perfs = []*perfRecording{b.startPerfTo("tidemark", pre+"tidemark.data", p.pid()), b.startPerfTo("redis-server", pre+"redis-server.data", redisPid)}
	}
	var firstMove time.Duration
	var peakHeap float64
	lastScrape := time.Now()
	for {
		if time.Since(lastScrape) >= 500*time.Millisecond {
			lastScrape = time.Now()
			if m, err := b.scrape(ctx); err == nil {
				peakHeap = max(peakHeap, m["go_memstats_heap_inuse_bytes"])
			}
		}
		ps, err := b.checkpoints(ctx)
		if err != nil {
			p.kill()
			return nil, stats, err
		}
		m, _ := minCheckpoint(ps)
		if firstMove == 0 {
			for _, c := range ps {
				if bl.start.Less(c) {
					firstMove = time.Since(start)
				}
			}
		}
		if !m.Less(bl.end) {
			break
		}
		if err := p.alive(); err != nil {
			return nil, stats, err
		}
		if time.Since(start) > 10*time.Minute {
			p.kill()
			return nil, stats, fmt.Errorf("not caught up after 10 minutes (checkpoint %s, target %s; log %s)", m, bl.end, p.logPath)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			p.kill()
			return nil, stats, err
		}
	}
	took := time.Since(start)
	cpu.stop()
	var profiles []row
	for i, r := range perfs {
		samples, err := r.stop(ctx)
		if err != nil {
			progress("note: %v", err)
			continue
		}
		if r == nil || len(samples) == 0 {
			continue
		}
		summary := summarizeGo(samples)
		if i > 0 {
			summary = summarizeNative(samples)
		}
		profiles = append(profiles, row{sec, "perf: where " + r.name + " spent its CPU", "see notes", "", summary})
	}
	peakSampled, samples := rss.stop()
	_, hwm, err := procStatus(p.pid())
	if err != nil {
		p.kill()
		return nil, stats, err
	}
	rate := float64(bl.rows) / took.Seconds()
	stats.rate, stats.hwm = rate, hwm
	rep.add(sec, "row changes/s, process start → every checkpoint at the end", fmtRate(rate), "≥ 250,000",
		fmt.Sprintf("%s row changes in %s", fmtInt(bl.rows), fmtDur(took)))
	rep.add(sec, "  start → first checkpoint move", fmtDur(firstMove), "", "connect, bind, first batch")
	rep.add(sec, "peak RSS of tidemark (VmHWM)", fmtMiB(hwm), "≤ 256 MiB", fmt.Sprintf("max of %d VmRSS samples: %s", samples, fmtMiB(peakSampled)))
	for i, name := range cpu.names {
		if cpu.pids[i] == 0 {
			continue
		}
		rep.add(sec, "CPU "+name, fmt.Sprintf("%.2f cores", cpu.cores(i)),
			"", fmt.Sprintf("%.1f s CPU; %.1f µs per row change", cpu.used[i].Seconds(), 1e6*cpu.used[i].Seconds()/float64(bl.rows)))
	}
	stats.tidemarkCPU, stats.redisCPU = cpu.used[0].Seconds()/float64(bl.rows), cpu.used[2].Seconds()/float64(bl.rows)
	if mc := cpu.machineCores(); mc > 0 {
		rep.add(sec, "CPU whole machine (all processes)", fmt.Sprintf("%.2f of %d cores", mc, numCPU()), "", "the rest is other work on the shared machine")
	}
	if m, err := b.scrape(ctx); err == nil {
		n, sum := m["tidemark_apply_duration_seconds_count"], m["tidemark_apply_duration_seconds_sum"]
		ev := m["tidemark_apply_batch_events_sum"]
		if n > 0 {
			rep.add(sec, "batches applied (tidemark_apply_duration_seconds)", fmt.Sprintf("%.0f", n), "",
				fmt.Sprintf("mean %.0f row changes, %.1f ms each (accumulate + Redis); %.0f%% of the wall time", ev/n, 1000*sum/n, 100*sum/took.Seconds()))
		}
		if v, ok := m["process_resident_memory_bytes"]; ok {
			rep.add(sec, "process_resident_memory_bytes after catch-up", fmtMiB(int64(v)), "", "")
		}
		if v, ok := m["go_memstats_heap_inuse_bytes"]; ok {
			rep.add(sec, "Go heap in use: peak / after catch-up", fmtMiB(int64(peakHeap))+" / "+fmtMiB(int64(v)), "",
				"go_memstats_heap_inuse_bytes sampled every 0.5 s")
		}
	} else {
		progress("note: scraping metrics: %v", err)
	}
	rep.rows = append(rep.rows, profiles...)
	return p, stats, nil
}

// scrape reads tidemark's /metrics into name → value (unlabelled series,
// and histogram _sum/_count).
func (b *bench) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", b.metricsPort), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		// A labelled series is keyed by its name and labels as printed.
		name, val, ok := strings.Cut(line, " ")
		if i := strings.LastIndexByte(line, '}'); i > 0 {
			name, val, ok = line[:i+1], line[i+1:], true
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// verify runs `tidemark verify` over the caught-up views: a fast catch-up
// that is wrong would be worth nothing.
func (b *bench) verify(ctx context.Context, rep *report) error {
	args := []string{"verify", "-c", b.cfg, "--wait", "60s"}
	n := len(b.views)
	if b.o.verify == "aggregates" {
		n = 0
		for _, v := range b.views {
			if !v.Mirror {
				args = append(args, v.Name)
				n++
			}
		}
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, b.o.bin, args...).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		rep.add("verify", "tidemark verify", "FAILED", "exact", strings.TrimSpace(string(out)))
		return fmt.Errorf("tidemark verify: %v\n%s", err, out)
	}
	rep.add("verify", "tidemark verify (views = source queries)", "ok", "exact", fmt.Sprintf("%d views in %s", n, fmtDur(took)))
	return nil
}

func numCPU() int { return runtime.NumCPU() }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// redisState is a copy of every tm:* key (DUMP payloads), to put the views
// back where the bootstrap left them before another catch-up run.
type redisState map[string]string

func (b *bench) saveState(ctx context.Context) (redisState, error) {
	st := redisState{}
	iter := b.rdb.Scan(ctx, 0, "tm:*", 1000).Iterator()
	for iter.Next(ctx) {
		v, err := b.rdb.Dump(ctx, iter.Val()).Result()
		if err != nil {
			return nil, fmt.Errorf("DUMP %s: %w", iter.Val(), err)
		}
		st[iter.Val()] = v
	}
	return st, iter.Err()
}

// restoreState deletes every tm:* key and restores the saved ones.
func (b *bench) restoreState(ctx context.Context, st redisState) error {
	iter := b.rdb.Scan(ctx, 0, "tm:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.rdb.Unlink(ctx, k).Err(); err != nil {
			return err
		}
	}
	for k, v := range st {
		if err := b.rdb.Restore(ctx, k, 0, v).Err(); err != nil {
			return fmt.Errorf("RESTORE %s: %w", k, err)
		}
	}
	return nil
}
