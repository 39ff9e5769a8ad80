// Command tidemark keeps dashboards fresh to the second over MySQL/MariaDB
// data, and keeps them right: a speed layer over the binlog into Redis, a
// batch layer of Parquet generations, and a reporting API over both.
//
// This package only parses flags and configuration, wires the components
// together and waits for signals; the work lives in realtime, batch,
// scheduler and reporting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tidemark/tidemark/internal/config"
)

const usage = `tidemark: fresh and exact dashboards over MySQL/MariaDB

Usage:
  tidemark run      -c FILE [--roles speed,batch,api]   the long-running service
  tidemark validate -c FILE                               check config and source prerequisites
  tidemark query    -c FILE VIEW [--where col=v ...] [--format json|csv] [--after pk ...]
  tidemark verify   -c FILE [VIEW ...]                    compare views with the source (exit 1 on difference)
  tidemark batch    -c FILE [--from-source]               one rebuild now
  tidemark athena ddl -c FILE                             Athena/Glue DDL for the lake
  tidemark athena sync -c FILE                            bring the Glue catalog to the newest generation now
  tidemark demo     -c FILE                               sample shop workload + service (make demo)
  tidemark version

Every config key can be overridden by an environment variable, e.g.
TIDEMARK_SOURCES_0_PASSWORD or TIDEMARK_REDIS_ADDR.
`

// exitError carries a process exit code through the command functions, so
// that main alone calls os.Exit.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 2
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintln(os.Stderr, "tidemark:", err)
	}
	os.Exit(code)
}

// errSilent marks an error whose message was already printed.
var errSilent = errors.New("already reported")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errSilent}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stderr)
	case "validate":
		return cmdValidate(ctx, rest, stdout)
	case "query":
		return cmdQuery(ctx, rest, stdout)
	case "verify":
		return cmdVerify(ctx, rest, stdout)
	case "batch":
		return cmdBatch(ctx, rest, stderr)
	case "athena":
		return cmdAthena(ctx, rest, stdout)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "tidemark", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", cmd)}
}

var version = "dev"

// loadConfig parses -c for a subcommand's flag set and loads the file.
func loadConfig(fs *flag.FlagSet, args []string) (*config.Config, error) {
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	if err := fs.Parse(args); err != nil {
		return nil, &exitError{2, errSilent}
	}
	if *path == "" {
		return nil, &exitError{2, fmt.Errorf("%s: missing -c FILE (the YAML configuration; see docs/config.md)", fs.Name())}
	}
	cfg, err := config.Load(*path, nil)
	if err != nil {
		return nil, &exitError{2, fmt.Errorf("config %s:\n%w", *path, err)}
	}
	return cfg, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
