package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/realtime"
	"github.com/tidemark/tidemark/reporting"
	"github.com/tidemark/tidemark/scheduler"
)

var allRoles = []string{"speed", "api", "batch"}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	roles := fs.String("roles", strings.Join(allRoles, ","), "comma-separated `roles` to run: "+strings.Join(allRoles, ", "))
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	return cmdRunConfig(ctx, cfg, *roles, stderr)
}

// cmdRunConfig runs the service roles (comma-separated) until ctx ends.
func cmdRunConfig(ctx context.Context, cfg *config.Config, roles string, stderr io.Writer) error {
	want := map[string]bool{}
	for _, r := range strings.Split(roles, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains(allRoles, r) {
			return &exitError{2, fmt.Errorf("--roles: unknown role %q (want %s)", r, strings.Join(allRoles, ", "))}
		}
		want[r] = true
	}
	log := newLogger(cfg.Log, stderr)
	limitMemory(cfg.Speed.MemoryLimitMiB, os.Getenv)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := realtime.NewMetrics(reg)
	a, err := newApp(cfg, log, metrics)
	if err != nil {
		return &exitError{2, err}
	}
	defer a.Close()
	if want["speed"] {
		if err := checkPrerequisites(ctx, a.sources); err != nil {
			return err
		}
	}

	// Two-phase stop: the signal context ends the components; each drains
	// (the applier finishes its batch, the API its requests) within
	// speed.shutdown_timeout, after which the process exits regardless.
	g, gctx := errgroup.WithContext(ctx)
	var streaming atomic.Int32
	var st lake.Store
	if want["batch"] {
		if st, err = a.openLake(ctx); err != nil {
			return err
		}
	}
	if want["batch"] && cfg.Batch.Schedule != "" {
		glue, err := a.openGlue(ctx, reg)
		if err != nil {
			return &exitError{2, err}
		}
		sched := scheduler.New(log)
		for _, s := range a.sources {
			if len(s.views) > 0 {
				job := &rebuildJob{a: a, st: st, s: s, log: log.With("source", s.cfg.Name, "role", "batch"), glue: glue}
				if err := sched.Add(cfg.Batch.Schedule, job); err != nil {
					return &exitError{2, err}
				}
			}
		}
		g.Go(func() error { return sched.Run(gctx) })
	}
	if want["speed"] {
		for _, s := range a.sources {
			if len(s.views) == 0 {
				continue
			}
			if s.cfg.Heartbeat != "" {
				g.Go(func() error { return s.cap.Heartbeat(gctx, s.cfg.HeartbeatInterval) })
			}
			var archive realtime.Archive
			if want["batch"] {
				arch, err := a.archiver(ctx, st, s, log.With("source", s.cfg.Name, "role", "archive"), metrics)
				if err != nil {
					return err
				}
				archive = arch
			}
			p, err := realtime.NewPipeline(s.cap, a.store, realtime.Options{
				Views:              s.views,
				SegmentWidth:       time.Duration(cfg.Speed.SegmentSeconds) * time.Second,
				MaxBatchEvents:     cfg.Speed.MaxBatchEvents,
				RebootstrapOnPurge: cfg.Speed.RebootstrapOnPurge,
				Logger:             log.With("source", s.cfg.Name),
				Metrics:            metrics,
				OnStreaming:        func() { streaming.Add(1) },
				Archive:            archive,
			})
			if err != nil {
				return err
			}
			g.Go(func() error {
				if err := p.Run(gctx); err != nil {
					return fmt.Errorf("speed layer of source %s: %w", s.cfg.Name, err)
				}
				return nil
			})
		}
	}
	if want["api"] {
		bound, err := bindWithRetry(gctx, a, log)
		if err != nil {
			return err
		}
		ready := func(ctx context.Context) error {
			if err := a.rdb.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			if want["speed"] && streaming.Load() == 0 {
				return errors.New("speed layer not streaming yet (bootstrapping)")
			}
			return nil
		}
		srv, err := reporting.New(cfg.API, bound, serving.New(a.store, bound), reg, ready)
		if err != nil {
			return &exitError{2, err}
		}
		g.Go(func() error { return srv.Run(gctx) })
		log.Info("reporting API listening", "addr", "http://"+cfg.API.Listen)
	}
	if cfg.Metrics.Listen != "" {
		g.Go(func() error { return serveMetrics(gctx, cfg.Metrics.Listen, reg) })
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining", "deadline", cfg.Speed.ShutdownTimeout)
	select {
	case err := <-done:
		log.Info("stopped cleanly")
		return err
	case <-time.After(cfg.Speed.ShutdownTimeout):
		return fmt.Errorf("shutdown did not finish within speed.shutdown_timeout (%s); checkpoints are safe in Redis, the next start resumes from them", cfg.Speed.ShutdownTimeout)
	}
}

// bindWithRetry binds the views for the API, waiting for the source while
// it is unreachable at start-up.
func bindWithRetry(ctx context.Context, a *app, log interface{ Warn(string, ...any) }) (bound []*formats.BoundView, err error) {
	for attempt := 1; ; attempt++ {
		bound, err = a.bind(ctx)
		if err == nil || ctx.Err() != nil || attempt >= 30 {
			return bound, err
		}
		log.Warn("binding views to source schemas; retrying", "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// limitMemory applies speed.memory_limit_mib: a soft memory limit of mib
// MiB for the Go runtime and GOGC 300 below it (see config.Speed). A
// GOMEMLIMIT or GOGC in the environment is the operator's choice and
// wins: then nothing is changed. mib <= 0 changes nothing either.
func limitMemory(mib int, getenv func(string) string) {
	if mib <= 0 || getenv("GOMEMLIMIT") != "" || getenv("GOGC") != "" {
		return
	}
	debug.SetMemoryLimit(int64(mib) << 20)
	debug.SetGCPercent(300)
}

// serveMetrics serves /metrics and, for profiling a running process, the
// net/http/pprof handlers under /debug/pprof/ (on this listener only,
// never on the API's).
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listening on %s: %w", addr, err)
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
