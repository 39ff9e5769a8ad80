package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/realtime"
	"github.com/tidemark/tidemark/scheduler"
)

// captureRole is whether this process captures a source (holds its
// capture lease) or stands by, for /readyz.
type captureRole struct {
	source   string
	active   atomic.Bool
	streamed atomic.Bool // since it became active
}

// rolesNote says, for /readyz, which sources this process captures.
func rolesNote(roles []*captureRole) string {
	var parts []string
	for _, r := range roles {
		if r.active.Load() {
			parts = append(parts, "capturing "+r.source)
		} else {
			parts = append(parts, "standby for "+r.source)
		}
	}
	return strings.Join(parts, ", ")
}

// startSpeed starts on g the speed layer of every source with views (with
// its changelog archive when archive is set, and its heartbeat): under the
// source's capture election (orchestrator.capture_lease_ttl), so one
// process captures and the others stand by, or directly when the election
// is off.
func (a *app) startSpeed(gctx context.Context, g *errgroup.Group, st lake.Store, archive bool, metrics *realtime.Metrics,
	reg prometheus.Registerer, log *slog.Logger) []*captureRole {
	cfg := a.cfg
	roleMetrics := scheduler.NewRoleMetrics(reg)
	var roles []*captureRole
	for _, s := range a.sources {
		if len(s.views) == 0 {
			continue
		}
		role := &captureRole{source: s.cfg.Name}
		roles = append(roles, role)
		capture := func(ctx context.Context) error {
			role.streamed.Store(false)
			sg, ctx := errgroup.WithContext(ctx)
			if s.cfg.Heartbeat != "" {
				sg.Go(func() error { return s.cap.Heartbeat(ctx, s.cfg.HeartbeatInterval) })
			}
			var arch realtime.Archive
			if archive {
				ar, err := a.archiver(ctx, st, s, log.With("source", s.cfg.Name, "role", "archive"), metrics)
				if err != nil {
					return err
				}
				arch = ar
			}
			p, err := realtime.NewPipeline(s.cap, a.store, realtime.Options{
				Views:              s.views,
				SegmentWidth:       time.Duration(cfg.Speed.SegmentSeconds) * time.Second,
				MaxBatchEvents:     cfg.Speed.MaxBatchEvents,
				RebootstrapOnPurge: cfg.Speed.RebootstrapOnPurge,
				Logger:             log.With("source", s.cfg.Name),
				Metrics:            metrics,
				OnStreaming:        func() { role.streamed.Store(true) },
				Archive:            arch,
			})
			if err != nil {
				return err
			}
			sg.Go(func() error {
				if err := p.Run(ctx); err != nil {
					return fmt.Errorf("speed layer of source %s: %w", s.cfg.Name, err)
				}
				return nil
			})
			return sg.Wait()
		}
		if cfg.Orchestrator.CaptureLeaseTTL <= 0 {
			role.active.Store(true)
			roleMetrics.Set(s.cfg.Name, true)
			g.Go(func() error { return capture(gctx) })
			continue
		}
		el := scheduler.NewElector(scheduler.ElectorOptions{
			Redis: a.rdb, Prefix: cfg.Redis.Prefix, Name: "capture:" + s.cfg.Name, TTL: cfg.Orchestrator.CaptureLeaseTTL,
			Holder: cfg.Orchestrator.Instance, Log: log.With("source", s.cfg.Name, "role", "speed"),
			OnRole: func(active bool) {
				role.active.Store(active)
				roleMetrics.Set(s.cfg.Name, active)
			},
		})
		g.Go(func() error { return el.Run(gctx, capture) })
	}
	return roles
}
