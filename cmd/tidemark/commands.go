package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/realtime"
	"github.com/tidemark/tidemark/reporting"
)

// cmdValidate checks the config (loadConfig already did), every source's
// prerequisites, the views against the live schemas, and Redis. It prints
// one line per check and exits 1 if any failed.
func cmdValidate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ok   config")
	a, err := newApp(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return &exitError{2, err}
	}
	defer a.Close()
	failed := 0
	for _, s := range a.sources {
		problems := s.cap.Prerequisites(ctx)
		if len(s.views) > 0 { // the changelog archive may connect as server_id + 1 (run --roles batch)
			for _, p := range s.cap.Replica(s.cfg.ServerID + 1).ServerIDProblems(ctx) {
				p.Check = "server_id + 1 (the changelog archive's own replication connection)"
				problems = append(problems, p)
			}
		}
		for _, p := range problems {
			failed++
			printProblem(stdout, s.cfg.Name, p)
		}
		if len(problems) == 0 {
			fmt.Fprintf(stdout, "ok   source %s (%s:%d): binlog on, ROW, FULL row image and metadata, replication privileges, server_id %d unique\n", s.cfg.Name, s.cfg.Host, s.cfg.Port, s.cfg.ServerID)
		}
	}
	if failed == 0 {
		if bound, err := a.bind(ctx); err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %v\n", err)
		} else {
			fmt.Fprintf(stdout, "ok   %d views bound to their tables\n", len(bound))
		}
	}
	if failed == 0 {
		for _, s := range a.sources {
			if len(s.history) == 0 {
				continue
			}
			schemas, err := s.cap.Schemas(ctx, s.history)
			for _, id := range s.history {
				if err == nil && schemas[id] == nil {
					err = fmt.Errorf("table %s does not exist on source %s", id, s.cfg.Name)
				}
				if err == nil {
					_, err = batch.HistorySchema(schemas[id])
				}
			}
			if err != nil {
				failed++
				fmt.Fprintf(stdout, "FAIL batch.history: %v\n", err)
			} else {
				fmt.Fprintf(stdout, "ok   %d history tables of source %s have primary keys\n", len(s.history), s.cfg.Name)
			}
		}
	}
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		failed++
		fmt.Fprintf(stdout, "FAIL redis: %v\n     fix: check redis.addr / redis.cluster and that Redis is running\n", err)
	} else {
		fmt.Fprintln(stdout, "ok   redis reachable")
		if failed == 0 {
			failed += a.validateCheckpoints(ctx, stdout)
		}
	}
	if a.validateGlue(ctx, stdout) {
		failed++
	}
	if failed > 0 {
		return &exitError{1, fmt.Errorf("%d check(s) failed", failed)}
	}
	return nil
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parseInterspersed parses flags that may follow positional arguments
// (tidemark query -c F VIEW --format csv), which package flag alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// cmdQuery prints a view's current answer: exactly what the reporting API
// answers, from the same code, in process.
func cmdQuery(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	var where, groupBy multiFlag
	fs.Var(&where, "where", "filter `col=value` (also col.from=v, col.to=v); repeatable")
	fs.Var(&groupBy, "group-by", "re-aggregate to these group `keys`; repeatable")
	var after multiFlag
	fs.Var(&after, "after", "list a mirror from after this primary key `value` (once per key column, in order); repeatable")
	join := fs.String("join", "", "enrich with a mirror: `mirror:key`")
	order := fs.String("order", "", "sort by `col` (-col descending)")
	limit := fs.Int("limit", 0, "at most `n` rows (default: the API's)")
	format := fs.String("format", "json", "output `format`: json or csv")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return &exitError{2, errSilent}
	}
	if len(pos) != 1 {
		return &exitError{2, fmt.Errorf("query: want exactly one VIEW name, got %d", len(pos))}
	}
	if *format != "json" && *format != "csv" {
		return &exitError{2, fmt.Errorf("query: --format %q: want json or csv", *format)}
	}
	a, err := openApp(*path, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.cfg
	bound, err := a.bind(ctx)
	if err != nil {
		return err
	}
	srv, err := reporting.New(cfg.API, bound, serving.New(a.store, bound), prometheus.NewRegistry(), nil)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, w := range where {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return &exitError{2, fmt.Errorf("query: --where %q: want col=value", w)}
		}
		q.Add(k, v)
	}
	for _, a := range after {
		q.Add("after", a)
	}
	if len(groupBy) > 0 {
		q.Set("group_by", strings.Join(groupBy, ","))
	}
	if *join != "" {
		q.Set("join", *join)
	}
	if *order != "" {
		q.Set("order", *order)
	}
	if *limit > 0 {
		q.Set("limit", fmt.Sprint(*limit))
	}
	if *format == "csv" {
		q.Set("format", "csv")
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/views/"+url.PathEscape(pos[0])+"?"+q.Encode(), nil)
	if len(cfg.API.Tokens) > 0 {
		req.Header.Set("Authorization", "Bearer "+cfg.API.Tokens[0].Secret)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return &exitError{1, fmt.Errorf("query %s: %d %s", pos[0], rec.Code, strings.TrimSpace(rec.Body.String()))}
	}
	_, err = stdout.Write(rec.Body.Bytes())
	return err
}

// cmdVerify compares views with the source; exit 1 lists every difference.
func cmdVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for the speed layer to catch up with the source")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return &exitError{2, errSilent}
	}
	a, err := openApp(*path, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.cfg
	for _, n := range names {
		if !slices.ContainsFunc(cfg.Views, func(v formats.ViewSpec) bool { return v.Name == n }) {
			return &exitError{2, fmt.Errorf("verify: unknown view %q", n)}
		}
	}
	differ := 0
	for _, s := range a.sources {
		bound, err := (&app{cfg: a.cfg, sources: []*source{s}}).bind(ctx)
		if err != nil {
			return err
		}
		for _, bv := range bound {
			if len(names) > 0 && !slices.Contains(names, bv.View().Name) {
				continue
			}
			diffs, err := realtime.Verify(ctx, s.cap.DB(), a.store, bv, realtime.VerifyOptions{CatchUp: *wait})
			if err != nil {
				return &exitError{2, err}
			}
			if len(diffs) == 0 {
				fmt.Fprintf(stdout, "ok   %s\n", bv.View().Name)
				continue
			}
			differ++
			fmt.Fprintf(stdout, "DIFF %s: %d group(s) differ\n", bv.View().Name, len(diffs))
			for _, d := range diffs {
				fmt.Fprintf(stdout, "     [%s] source %s\n          tidemark %s\n", d.Key, d.Source, d.Tidemark)
			}
		}
	}
	if differ > 0 {
		return &exitError{1, fmt.Errorf("%d view(s) differ from the source", differ)}
	}
	return nil
}
