package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/batch/warehouse/postgres"
	"github.com/tidemark/tidemark/internal/config"
)

// warehouseKillEnv names a load hook point (postgres.Hook*) at which the
// process kills itself with SIGKILL: the crash tests' kill -9 at an exact
// point of a load. Tooling only (TIDEMARK_TEST_ is no config key).
const warehouseKillEnv = "TIDEMARK_TEST_WAREHOUSE_KILL"

// newLoader builds target w's loader; it does not connect.
func (a *app) newLoader(w *config.Warehouse, st lake.Store) (warehouse.Loader, error) {
	switch w.Kind {
	case "postgres":
		o := postgres.Options{DSN: w.PostgresDSN(), Schema: w.SchemaName(), Store: st}
		if point := os.Getenv(warehouseKillEnv); point != "" {
			o.Hook = func(p string) {
				if p == point {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
		return postgres.New(o)
	case "redshift":
		return a.newRedshiftLoader(w, st)
	}
	return nil, fmt.Errorf("warehouse target %s: unknown kind %q", w.Name, w.Kind)
}

// openWarehouse returns the runner over every configured target, nil when
// there is none; reg receives its metrics. Nothing connects yet.
func (a *app) openWarehouse(st lake.Store, reg prometheus.Registerer, log *slog.Logger) (*warehouse.Runner, error) {
	if len(a.cfg.Warehouse) == 0 {
		return nil, nil
	}
	var targets []warehouse.Target
	for i := range a.cfg.Warehouse {
		w := &a.cfg.Warehouse[i]
		l, err := a.newLoader(w, st)
		if err != nil {
			for _, t := range targets {
				t.Loader.Close()
			}
			return nil, err
		}
		targets = append(targets, warehouse.Target{Name: w.Name, Kind: w.Kind, Loader: l,
			Select: warehouse.Selection{Tables: w.Tables, Views: w.Views, History: w.History}})
	}
	return warehouse.NewRunner(st, targets, warehouse.RunnerOptions{
		Keep: a.cfg.Batch.Retention, Metrics: warehouse.NewPromMetrics(reg), Log: log.With("role", "warehouse"),
	}), nil
}

// warehouseAPI adapts the runner to reporting.WarehouseStatus.
type warehouseAPI struct{ r *warehouse.Runner }

func (w warehouseAPI) WarehouseStatus(ctx context.Context) any {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return w.r.Status(ctx)
}

// loadAfterPublish loads the just-published generation g into every target
// (`tidemark batch`). A failure is logged here, never returned: the
// generation is published whatever the warehouse says, and the next load
// catches the target up.
func loadAfterPublish(ctx context.Context, r *warehouse.Runner, g *batch.Generation, log *slog.Logger, out io.Writer) {
	if r == nil {
		return
	}
	states, err := r.LoadNow(ctx, g.Generation, 0, 3)
	printStates(out, states)
	if err != nil {
		log.Error("warehouse load failed; the generation stays published, and the next load (or `tidemark warehouse load`) catches the target up",
			"generation", g.Generation, "err", err)
	}
}

func printStates(out io.Writer, states []warehouse.State) {
	for _, s := range states {
		line := fmt.Sprintf("  warehouse %-16s %-8s %s generation %d", s.Target, s.Kind, s.Phase, s.Generation)
		if s.Phase == warehouse.PhaseLoaded {
			line += fmt.Sprintf(": %d rows, %s of Parquet, %.1fs", s.Rows, byteSize(s.Bytes), s.Seconds)
		}
		if s.Error != "" {
			line += ": " + s.Error
		}
		fmt.Fprintln(out, line)
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return strconv.FormatInt(n, 10) + " B"
}

// validateWarehouse is `tidemark validate`'s check of each target; it
// returns how many failed.
func (a *app) validateWarehouse(ctx context.Context, stdout io.Writer) (failed int) {
	for i := range a.cfg.Warehouse {
		w := &a.cfg.Warehouse[i]
		l, err := a.newLoader(w, nil)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL warehouse %s: %v\n", w.Name, err)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		problems := l.Check(cctx)
		cancel()
		l.Close()
		for _, p := range problems {
			failed++
			fmt.Fprintf(stdout, "FAIL warehouse %s: %v\n", w.Name, p)
		}
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "ok   warehouse %s (%s): reachable, schemas %s and %s_gen creatable, tables creatable\n", w.Name, w.Kind, w.SchemaName(), w.SchemaName())
		}
	}
	return failed
}

// cmdWarehouse is `tidemark warehouse load|status`.
func cmdWarehouse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "load" && args[0] != "status") {
		return &exitError{2, errors.New("warehouse: want `tidemark warehouse load -c FILE [--target NAME] [--gen N] [--fence T]` or `tidemark warehouse status -c FILE [--format json]`")}
	}
	sub := args[0]
	fs := flag.NewFlagSet("warehouse "+sub, flag.ContinueOnError)
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	target := fs.String("target", "", "load only the target `NAME` (default: every target)")
	gen := fs.Uint64("gen", 0, "the generation `N` to load (default: the newest published)")
	fence := fs.Uint64("fence", 0, "fencing `token` of the load (a scheduler lease; 0: none)")
	format := fs.String("format", "text", "status output: text or json")
	if _, err := parseInterspersed(fs, args[1:]); err != nil {
		return &exitError{2, errSilent}
	}
	a, err := openApp(*path, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if len(a.cfg.Warehouse) == 0 {
		return &exitError{2, errors.New("warehouse: no target is configured; add a warehouse: list (see docs/warehouse.md)")}
	}
	if *target != "" && a.cfg.WarehouseTarget(*target) == nil {
		return &exitError{2, fmt.Errorf("warehouse: --target %q: no such target in warehouse", *target)}
	}
	st, err := a.openLake(ctx)
	if err != nil {
		return err
	}
	r, err := a.openWarehouse(st, prometheus.NewRegistry(), a.log)
	if err != nil {
		return &exitError{2, err}
	}
	defer r.Close()
	if sub == "status" {
		statuses := r.Status(ctx)
		if *format == "json" {
			b, _ := json.MarshalIndent(map[string]any{"targets": statuses}, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
			return nil
		}
		for _, s := range statuses {
			held := "none"
			if s.Current != nil {
				held = fmt.Sprintf("generation %d (cut %s, loaded %s)", s.Current.Generation, s.Current.Cut, s.Current.LoadedAt.Format(time.RFC3339))
			} else if s.CurrentError != "" {
				held = "unknown: " + s.CurrentError
			}
			fmt.Fprintf(stdout, "%s (%s): holds %s; lake generation %d", s.Target, s.Kind, held, s.Lake)
			if s.Behind {
				fmt.Fprint(stdout, "; BEHIND")
			}
			fmt.Fprintf(stdout, "\n  last load: %s generation %d, %d rows, %.1fs", s.Phase, s.Generation, s.Rows, s.Seconds)
			if s.Error != "" {
				fmt.Fprintf(stdout, ": %s", s.Error)
			}
			fmt.Fprintln(stdout)
		}
		return nil
	}
	var failed []error
	for _, name := range r.Targets() {
		if *target != "" && name != *target {
			continue
		}
		s, err := r.Load(ctx, name, *gen, *fence)
		printStates(stdout, []warehouse.State{s})
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return &exitError{1, errors.Join(failed...)}
	}
	return nil
}
