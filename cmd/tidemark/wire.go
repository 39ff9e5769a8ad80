package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// app holds the clients every command builds from the config. Close
// releases them.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	rdb     redis.UniversalClient
	store   *redisview.Store
	sources []*source
}

// openApp loads the config file named by the -c flag's value path and
// builds the app, logging to logw (nil: no logs). It is the common start of
// the one-shot commands; the caller closes the app.
func openApp(path string, logw io.Writer) (*app, error) {
	cfg, err := loadConfig(flag.NewFlagSet("tidemark", flag.ContinueOnError), []string{"-c", path})
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	if logw != nil {
		log = newLogger(cfg.Log, logw)
	}
	a, err := newApp(cfg, log, nil)
	if err != nil {
		return nil, &exitError{2, err}
	}
	return a, nil
}

// source is one configured source with its capture and views.
type source struct {
	cfg   config.Source
	cap   *capture.Capture
	views []*formats.View
	// history are the tables of batch.history this source captures.
	history []formats.TableID
}

func newApp(cfg *config.Config, log *slog.Logger, metrics capture.Metrics) (*app, error) {
	a := &app{cfg: cfg, log: log}
	if len(cfg.Redis.Cluster) > 0 {
		a.rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.Redis.Cluster, Password: string(cfg.Redis.Password)})
	} else {
		a.rdb = redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, Password: string(cfg.Redis.Password), DB: cfg.Redis.DB})
	}
	a.store = redisview.New(a.rdb, redisview.Options{Prefix: cfg.Redis.Prefix})
	for i, sc := range cfg.Sources {
		tables := make([]formats.TableID, 0, len(sc.Tables))
		for _, t := range sc.Tables {
			id, _ := formats.ParseTableID(t) // validated with the config
			tables = append(tables, id)
		}
		var hb formats.TableID
		if sc.Heartbeat != "" {
			hb, _ = formats.ParseTableID(sc.Heartbeat) // validated with the config
		}
		c, err := capture.New(capture.Config{
			Flavor: sc.Flavor, Host: sc.Host, Port: sc.Port, User: sc.User, Password: string(sc.Password), Columns: columnPolicy(sc.Columns),
			ServerID: sc.ServerID, Databases: sc.Databases, Tables: tables,
			Logger: log.With("source", sc.Name), Metrics: metrics, HeartbeatTable: hb,
		})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("sources[%d]: %w", i, err)
		}
		a.sources = append(a.sources, &source{cfg: sc, cap: c})
	}
	// cfg is validated (config.Validate): every view's table is captured by
	// exactly one source, every batch.history table by one with views.
	for i, spec := range cfg.Views {
		v, err := formats.ParseView(spec)
		k := -1
		if err == nil {
			if k = cfg.CapturingSource(v.From); k < 0 {
				err = fmt.Errorf("%s is not captured by any source (the config was not validated)", v.From)
			}
		}
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("views[%d]: %w", i, err)
		}
		a.sources[k].views = append(a.sources[k].views, v)
	}
	for _, h := range cfg.Batch.History {
		id, _ := formats.ParseTableID(h)
		if k := cfg.CapturingSource(id); k >= 0 {
			a.sources[k].history = append(a.sources[k].history, id)
		}
	}
	return a, nil
}

// bind binds every view to its table's current schema on its source. The
// errors name the view's config path.
func (a *app) bind(ctx context.Context) ([]*formats.BoundView, error) {
	if problems, err := a.checkColumns(ctx); problems != nil || err != nil {
		return nil, errors.Join(problems, err)
	}
	index := map[string]int{}
	for i, v := range a.cfg.Views {
		index[v.Name] = i
	}
	var out []*formats.BoundView
	for _, s := range a.sources {
		if len(s.views) == 0 {
			continue
		}
		var tables []formats.TableID
		for _, v := range s.views {
			if !slices.Contains(tables, v.From) {
				tables = append(tables, v.From)
			}
		}
		schemas, err := s.cap.Schemas(ctx, tables)
		if err != nil {
			return nil, fmt.Errorf("reading table schemas from source %s: %w", s.cfg.Name, err)
		}
		for _, v := range s.views {
			sch, ok := schemas[v.From]
			if !ok || sch == nil {
				return nil, fmt.Errorf("views[%d].from: table %s does not exist on source %s", index[v.Name], v.From, s.cfg.Name)
			}
			bv, err := v.Bind(sch)
			if err != nil {
				return nil, fmt.Errorf("views[%d]: %w", index[v.Name], err)
			}
			out = append(out, bv)
		}
	}
	return out, nil
}

func (a *app) Close() {
	for _, s := range a.sources {
		_ = s.cap.Close()
	}
	if a.rdb != nil {
		_ = a.rdb.Close()
	}
}
