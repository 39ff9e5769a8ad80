package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tidemark is one running `tidemark run --roles speed`, a child of the
// driver.
type tidemark struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // Wait's result, once done is closed
}

// startTidemark starts the speed role (`tidemark run --roles speed`).
func (b *bench) startTidemark(name string) (*tidemark, error) {
	return b.startChild(name, "run", "-c", b.cfg, "--roles", "speed")
}

func (p *tidemark) pid() int { return p.cmd.Process.Pid }

// alive returns an error if the process has exited.
func (p *tidemark) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("tidemark exited early (%v); log %s:\n%s", p.err, p.logPath, tailFile(p.logPath, 3000))
	default:
		return nil
	}
}

// term sends SIGTERM and waits for the exit; it returns the exit code.
func (p *tidemark) term(timeout time.Duration) (int, error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		p.kill()
		return -1, fmt.Errorf("tidemark did not exit within %s of SIGTERM (log %s)", timeout, p.logPath)
	}
}

// kill stops the process with SIGKILL if it still runs (deferred cleanup).
func (p *tidemark) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// procStatus reads VmRSS and VmHWM (bytes) of pid.
func procStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			name string
			dst  *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			if v, ok := strings.CutPrefix(line, k.name); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				*k.dst = kb * 1024
			}
		}
	}
	return rss, hwm, sc.Err()
}

// clockTick is USER_HZ: /proc/PID/stat counts CPU time in these ticks. It
// is 100 on every Linux this runs on (sysconf(_SC_CLK_TCK) needs cgo).
const clockTick = 100

// procCPU is the user+system CPU time pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces) in parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f))
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / clockTick, nil
}

// machineCPU is the busy and total CPU time of the whole machine
// (/proc/stat), to tell how much of it others used during a phase.
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("parsing /proc/stat")
	}
	var sum, idle int64
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		sum += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return time.Duration(sum-idle) * time.Second / clockTick, time.Duration(sum) * time.Second / clockTick, nil
}

// pidFromFile reads a pid file of scripts/lib.sh (first line); 0 if none.
func pidFromFile(path string) int {
	if path == "" {
		return 0
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// cpuMeter measures the CPU time used by a set of processes, and by the
// whole machine, between start and stop.
type cpuMeter struct {
	names                 []string
	pids                  []int
	start                 []time.Duration
	machBusy0, machTotal0 time.Duration
	wall0                 time.Time
	used                  []time.Duration
	machBusy, machTotal   time.Duration
	wall                  time.Duration
}

func newCPUMeter(names []string, pids []int) *cpuMeter {
	m := &cpuMeter{names: names, pids: pids, start: make([]time.Duration, len(pids)), used: make([]time.Duration, len(pids))}
	for i, p := range pids {
		if p > 0 {
			m.start[i], _ = procCPU(p)
		}
	}
	m.machBusy0, m.machTotal0, _ = machineCPU()
	m.wall0 = time.Now()
	return m
}

// stop records the CPU used since newCPUMeter; a process that exited in
// between reports what it had at its last reading (none: 0).
func (m *cpuMeter) stop() {
	m.wall = time.Since(m.wall0)
	for i, p := range m.pids {
		if p > 0 {
			if c, err := procCPU(p); err == nil {
				m.used[i] = c - m.start[i]
			}
		}
	}
	b, t, err := machineCPU()
	if err == nil {
		m.machBusy, m.machTotal = b-m.machBusy0, t-m.machTotal0
	}
}

// cores is process i's average CPU use in cores over the measured wall time.
func (m *cpuMeter) cores(i int) float64 { return m.used[i].Seconds() / m.wall.Seconds() }

// machineCores is the whole machine's busy cores over the measured time.
func (m *cpuMeter) machineCores() float64 {
	if m.machTotal == 0 {
		return 0
	}
	return float64(numCPU()) * m.machBusy.Seconds() / m.machTotal.Seconds()
}

// rssSampler samples a process's RSS every period until stopped.
type rssSampler struct {
	mu       sync.Mutex
	peakRSS  int64
	samples  int
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
}

func sampleRSS(pid int, period time.Duration) *rssSampler {
	s := &rssSampler{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			if rss, _, err := procStatus(pid); err == nil {
				s.mu.Lock()
				s.peakRSS = max(s.peakRSS, rss)
				s.samples++
				s.mu.Unlock()
			}
			select {
			case <-s.stopCh:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() (peak int64, samples int) {
	s.stopOnce.Do(func() { close(s.stopCh) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakRSS, s.samples
}
