package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// perfRecording is a `perf record` attached to one process: the profile of
// the real binary (tidemark has no pprof endpoint) or of redis-server.
type perfRecording struct {
	name, out string
	cmd       *exec.Cmd
	done      chan error
}

// startPerf attaches perf to pid, sampling at 499 Hz, if perf is installed
// and profiling was asked for; nil otherwise.
func (b *bench) startPerf(name string, pid int) *perfRecording {
	return b.startPerfTo(name, "perf-"+name+".data", pid)
}

// startPerfTo is startPerf writing to file (in the work dir).
func (b *bench) startPerfTo(name, file string, pid int) *perfRecording {
	if !b.o.perf || pid == 0 {
		return nil
	}
	if _, err := exec.LookPath("perf"); err != nil {
		return nil
	}
	r := &perfRecording{name: name, out: filepath.Join(b.o.dir, file), done: make(chan error, 1)}
	r.cmd = exec.Command("perf", "record", "-F", "499", "-p", fmt.Sprint(pid), "-o", r.out)
	var errb bytes.Buffer
	r.cmd.Stdout, r.cmd.Stderr = &errb, &errb
	if err := r.cmd.Start(); err != nil {
		progress("note: perf record of %s: %v", name, err)
		return nil
	}
	go func() {
		err := r.cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
		}
		r.done <- err
	}()
	return r
}

// perfSample is one line of `perf report --sort dso,symbol`.
type perfSample struct {
	pct      float64
	dso, sym string
	kernel   bool
}

// stop ends the recording (SIGINT, as perf expects) and returns the
// samples by dso and symbol, largest first.
func (r *perfRecording) stop(ctx context.Context) ([]perfSample, error) {
	if r == nil {
		return nil, nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-r.done:
		if err != nil {
			if _, serr := os.Stat(r.out); serr != nil {
				return nil, fmt.Errorf("perf record of %s: %w", r.name, err)
			}
		}
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		return nil, fmt.Errorf("perf record of %s did not stop", r.name)
	}
	out, err := exec.CommandContext(ctx, "perf", "report", "-i", r.out, "--stdio", "--no-children",
		"--sort", "dso,symbol", "--percent-limit", "0").Output()
	if err != nil {
		return nil, fmt.Errorf("perf report of %s: %w", r.name, err)
	}
	return parsePerfReport(out)
}

// parsePerfReport reads the sample lines of `perf report --stdio --sort
// dso,symbol`.
func parsePerfReport(out []byte) ([]perfSample, error) {
	var samples []perfSample
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// "    12.34%  tidemark  [.] runtime.memmove   -   -"
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasSuffix(f[0], "%") || (f[2] != "[.]" && f[2] != "[k]") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		samples = append(samples, perfSample{pct: pct, dso: f[1], sym: f[3], kernel: f[2] == "[k]"})
	}
	return samples, sc.Err()
}

// goCategories name the parts of tidemark's time, by symbol prefix; the
// first match wins.
var goCategories = []struct{ prefix, name string }{
	{"github.com/go-mysql-org/go-mysql/", "go-mysql decoding"},
	{"github.com/tidemark/tidemark/formats.", "formats (value conversion, view accumulate, JSON)"},
	{"github.com/tidemark/tidemark/realtime/capture.", "capture (txn assembly)"},
	{"github.com/tidemark/tidemark/realtime/apply.", "apply (batching)"},
	{"github.com/tidemark/tidemark/realtime/redisview.", "redisview (encoding the calls)"},
	{"github.com/redis/go-redis/", "go-redis client"},
	{"fmt.", "fmt/strconv/strings/time"},
	{"strconv.", "fmt/strconv/strings/time"},
	{"strings.", "fmt/strconv/strings/time"},
	{"time.", "fmt/strconv/strings/time"},
	{"unicode/", "fmt/strconv/strings/time"},
	{"bytes.", "fmt/strconv/strings/time"},
	{"math/", "fmt/strconv/strings/time"},
	{"runtime.", "Go runtime (GC, allocation, maps, memmove)"},
	{"internal/runtime/", "Go runtime (GC, allocation, maps, memmove)"},
	{"gcWriteBarrier", "Go runtime (GC, allocation, maps, memmove)"},
	{"aeshash", "Go runtime (GC, allocation, maps, memmove)"},
	{"memeqbody", "Go runtime (GC, allocation, maps, memmove)"},
	{"indexbyte", "Go runtime (GC, allocation, maps, memmove)"},
	{"cmpbody", "Go runtime (GC, allocation, maps, memmove)"},
	{"net.", "network (net, syscall)"},
	{"internal/poll.", "network (net, syscall)"},
	{"syscall.", "network (net, syscall)"},
	{"internal/runtime/syscall", "network (net, syscall)"},
}

// summarizeGo groups a Go process's samples into goCategories.
func summarizeGo(samples []perfSample) string {
	shares := map[string]float64{}
	for _, s := range samples {
		name := "other"
		switch {
		case s.kernel:
			name = "kernel (syscalls, page faults, IRQ)"
		default:
			for _, c := range goCategories {
				if strings.HasPrefix(s.sym, c.prefix) {
					name = c.name
					break
				}
			}
		}
		shares[name] += s.pct
	}
	return topShares(shares, 8)
}

// summarizeNative groups a native process's samples by shared object and
// names its hottest symbols.
func summarizeNative(samples []perfSample) string {
	shares := map[string]float64{}
	var top []string
	for _, s := range samples {
		dso := s.dso
		switch {
		case s.kernel:
			dso = "kernel"
		case dso == "redis-check-rdb":
			// Debian's redis-server is a link to this binary.
			dso = "redis-server"
		}
		shares[dso] += s.pct
		if len(top) < 5 && !strings.HasPrefix(s.sym, "0x") {
			top = append(top, fmt.Sprintf("%.1f%% %s", s.pct, s.sym))
		}
	}
	return topShares(shares, 5) + "; hottest symbols: " + strings.Join(top, ", ")
}

func topShares(shares map[string]float64, n int) string {
	names := make([]string, 0, len(shares))
	for k := range shares {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return shares[names[i]] > shares[names[j]] })
	var parts []string
	for i, k := range names {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%.0f%% %s", shares[k], k))
	}
	return strings.Join(parts, ", ")
}
