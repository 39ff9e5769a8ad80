package main

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestLimitMemory(t *testing.T) {
	prevLimit := debug.SetMemoryLimit(-1)
	prevGC := debug.SetGCPercent(-1)
	debug.SetGCPercent(prevGC)
	t.Cleanup(func() {
		debug.SetMemoryLimit(prevLimit)
		debug.SetGCPercent(prevGC)
	})
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	debug.SetMemoryLimit(math.MaxInt64)
	limitMemory(200, getenv)
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("limit %d, want 200 MiB", got)
	}
	if got := debug.SetGCPercent(prevGC); got != 300 {
		t.Errorf("GOGC %d, want 300", got)
	}

	// The operator's GOMEMLIMIT wins: nothing changes.
	debug.SetMemoryLimit(math.MaxInt64)
	env["GOMEMLIMIT"] = "1GiB"
	limitMemory(200, getenv)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set: limit %d, want unchanged", got)
	}
	delete(env, "GOMEMLIMIT")
	limitMemory(0, getenv)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory_limit_mib 0: limit %d, want unchanged", got)
	}
}

func TestMetricsServesPprof(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveMetrics(ctx, addr, prometheus.NewRegistry()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	var body string
	for attempt := 0; ; attempt++ {
		resp, err := http.Get("http://" + addr + "/debug/pprof/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if attempt > 100 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, "heap") || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ answered %q", body)
	}
}
