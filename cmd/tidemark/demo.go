package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/internal/workload"
	"github.com/tidemark/tidemark/reporting"
)

// cmdDemo runs the sample shop against the servers named in the config
// (scripts/demo.sh starts throwaway ones): it creates the schema, seeds it,
// runs a live workload and the service, and prints fresh answers.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	rate := fs.Float64("rate", 200, "workload `transactions` per second")
	every := fs.Duration("every", 3*time.Second, "print the answers this often")
	stopAfter := fs.Duration("for", 0, "stop after this long (0: until Ctrl-C)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if *stopAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *stopAfter)
		defer cancel()
	}
	src := cfg.Sources[0]
	dsn := mysql.NewConfig()
	dsn.User, dsn.Passwd, dsn.Net, dsn.Addr = src.User, string(src.Password), "tcp", fmt.Sprintf("%s:%d", src.Host, src.Port)
	dsn.InterpolateParams = true
	dsn.Params = map[string]string{"time_zone": "'+00:00'"}
	db, err := sql.Open("mysql", dsn.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := workload.CreateSchema(ctx, db, "shop"); err != nil {
		return err
	}
	g := workload.New(db, "shop", uint64(time.Now().UnixNano()), 1)
	fmt.Fprintln(stdout, "demo: seeding 200 customers and 20,000 orders")
	if err := g.Seed(ctx, 200, 20000); err != nil {
		return err
	}
	logPath := filepath.Join(filepath.Dir(strings.TrimPrefix(cfg.Lake.Root, "file://")), "tidemark.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(stdout, "demo: Tidemark logs to %s\n", logPath)
	fmt.Fprintf(stdout, "demo: dashboard  http://%s/\n", cfg.API.Listen)
	fmt.Fprintf(stdout, "demo: API        http://%s/v1/views/revenue_by_day?limit=5\n", cfg.API.Listen)
	fmt.Fprintf(stdout, "demo: metrics    http://%s/metrics\n", cfg.Metrics.Listen)

	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return cmdRunConfig(gctx, cfg, "speed,api,batch", logf) })
	grp.Go(func() error { return demoRebuild(gctx, cfg, stdout, logf) })
	grp.Go(func() error { return g.Run(gctx, 0, *rate) })
	grp.Go(func() error { return printAnswers(gctx, cfg, *every, stdout, &g.Stats) })
	err = grp.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "demo: stopped")
		return nil
	}
	return err
}

// printAnswers prints the top of revenue_by_day with its freshness, as the
// API answers it, every interval.
func printAnswers(ctx context.Context, cfg *config.Config, every time.Duration, w io.Writer, stats *workload.Stats) error {
	a, err := newApp(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer a.Close()
	t := time.NewTicker(every)
	defer t.Stop()
	var srv *reporting.Server
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if srv == nil {
			bound, err := a.bind(ctx)
			if err != nil {
				continue
			}
			if srv, err = reporting.New(cfg.API, bound, serving.New(a.store, bound), prometheus.NewRegistry(), nil); err != nil {
				return err
			}
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/views/revenue_by_day?order=-revenue&limit=5", nil)
		if len(cfg.API.Tokens) > 0 {
			req.Header.Set("Authorization", "Bearer "+cfg.API.Tokens[0].Secret)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			fmt.Fprintf(w, "demo: revenue_by_day not ready yet (%d)\n", rec.Code)
			continue
		}
		var ans struct {
			Rows      []map[string]any `json:"rows"`
			Freshness map[string]any   `json:"freshness"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
			return err
		}
		fmt.Fprintf(w, "\n%s  workload: %d txns committed, %d rolled back | generation %v, speed position %v, lag %v ms\n",
			time.Now().Format("15:04:05"), stats.Txns, stats.Rollbacks, ans.Freshness["generation"], ans.Freshness["speed_position"], ans.Freshness["lag_ms"])
		fmt.Fprintf(w, "  %-12s %-10s %8s %14s %12s\n", "day", "status", "orders", "revenue", "avg_amount")
		for _, r := range ans.Rows {
			fmt.Fprintf(w, "  %-12v %-10v %8v %14v %12v\n", r["day"], r["status"], r["orders"], r["revenue"], r["avg_amount"])
		}
	}
}

// demoRebuild runs one batch rebuild after the service has streamed a
// while, and shows where its Parquet files are.
func demoRebuild(ctx context.Context, cfg *config.Config, w, logw io.Writer) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(15 * time.Second):
	}
	a, err := newApp(cfg, newLogger(cfg.Log, logw), nil)
	if err != nil {
		return err
	}
	defer a.Close()
	st, err := a.openLake(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\ndemo: running a batch rebuild (generation from the source, rolled forward with the changelog archive)")
	g, err := (&rebuildJob{a: a, st: st, s: a.sources[0], log: newLogger(cfg.Log, logw)}).rebuild(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	root := strings.TrimSuffix(cfg.Lake.Root, "/")
	fmt.Fprintf(w, "demo: generation %d published at cut %s; Parquet files:\n", g.Generation, g.Cut)
	for _, t := range g.Tables {
		fmt.Fprintf(w, "  %s/%s/\n", root, batch.TablePrefix(mustTable(t.Table), g.Generation))
	}
	for _, v := range g.Views {
		fmt.Fprintf(w, "  %s/%s/\n", root, batch.ViewPrefix(v.View, g.Generation))
	}
	return nil
}
