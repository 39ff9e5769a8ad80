package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/athena"
	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/serving"
	"github.com/tidemark/tidemark/scheduler"
)

// openLake opens the configured lake root.
func (a *app) openLake(ctx context.Context) (lake.Store, error) {
	s3 := a.cfg.Lake.S3
	st, err := lake.Open(ctx, a.cfg.Lake.Root, lake.S3Options{
		Endpoint: s3.Endpoint, Region: s3.Region, AccessKeyID: s3.AccessKeyID,
		SecretAccessKey: string(s3.SecretAccessKey), PathStyle: s3.PathStyle,
	})
	if err != nil {
		return nil, fmt.Errorf("opening lake %s: %w", a.cfg.Lake.Root, err)
	}
	return st, nil
}

// archiver is the changelog archive of source s, starting (when the lake
// has none yet) at the source's current position.
func (a *app) archiver(ctx context.Context, st lake.Store, s *source, log *slog.Logger, m changelog.Metrics) (*changelog.Archiver, error) {
	start, err := s.cap.CurrentPosition(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the position the changelog archive starts at: %w", err)
	}
	return changelog.NewArchiver(st, changelog.Options{
		Source: s.cfg.Name, SegmentSeconds: int64(a.cfg.Speed.SegmentSeconds), Start: start, Logger: log, Metrics: m,
	})
}

// rebuildJob is one source's batch rebuild: the body of `tidemark batch`
// and of the orchestrator's rebuild and extract jobs.
type rebuildJob struct {
	a          *app
	st         lake.Store
	s          *source
	fromSource bool
	// only, when not empty, rebuilds just these tables (a job's tables:);
	// the others are carried forward from the previous generation.
	only []formats.TableID
	log  *slog.Logger
	// wrap, when set, wraps the serving publisher (the orchestrator's
	// fence).
	wrap func(batch.Publisher) batch.Publisher
}

func (j *rebuildJob) rebuild(ctx context.Context) (*batch.Generation, error) {
	var tables []batch.Table
	for _, v := range j.s.views {
		if slices.ContainsFunc(tables, func(t batch.Table) bool { return t.ID == v.From }) {
			continue
		}
		tables = append(tables, batch.Table{ID: v.From, Partition: j.a.cfg.Batch.Partitions[v.From.String()]})
	}
	for _, id := range j.s.history {
		i := slices.IndexFunc(tables, func(t batch.Table) bool { return t.ID == id })
		if i < 0 {
			i = len(tables)
			tables = append(tables, batch.Table{ID: id, Partition: j.a.cfg.Batch.Partitions[id.String()]})
		}
		tables[i].History = true
	}
	// Views are parsed afresh: a formats.View fixes its layout at its first
	// Bind, and the batch binds to the schemas of the base it reads.
	views := make([]*formats.View, 0, len(j.s.views))
	for _, v := range j.s.views {
		fresh, err := formats.ParseView(v.Spec())
		if err != nil {
			return nil, err
		}
		views = append(views, fresh)
	}
	sp := serving.Publisher{Store: j.a.store}
	first, err := batch.FirstGeneration(ctx, sp, views)
	if err != nil {
		return nil, err
	}
	codec := snapshot.Snappy
	if j.a.cfg.Batch.Compression == "zstd" {
		codec = snapshot.Zstd
	}
	var pub batch.Publisher = sp
	if j.wrap != nil {
		pub = j.wrap(pub)
	}
	engine, release, err := j.a.viewEngine(j.st)
	if err != nil {
		return nil, err
	}
	defer release()
	return batch.Rebuild(ctx, j.st, serving.BatchSource{C: j.s.cap}, batch.Options{
		SourceName: j.s.cfg.Name, Tables: tables, Views: views, FromSource: j.fromSource, Only: j.only,
		FirstGeneration: first, SealedCut: true, Codec: codec, Keep: j.a.cfg.Batch.Retention,
		Publisher: pub, Logger: j.log, ViewEngine: engine,
	})
}

// cmdBatch runs one rebuild per source now and prints where it went.
func cmdBatch(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	fromSource := fs.Bool("from-source", false, "re-extract the tables from the source instead of rolling the previous generation forward")
	if _, err := parseInterspersed(fs, args); err != nil {
		return &exitError{2, errSilent}
	}
	a, err := openApp(*path, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg, log := a.cfg, a.log
	st, err := a.openLake(ctx)
	if err != nil {
		return err
	}
	// A one-shot command's metrics have no scrape endpoint: its Glue
	// failures show in the log (and the exit stays 0, the generation being
	// published).
	glue, err := a.openGlue(ctx, prometheus.NewRegistry())
	if err != nil {
		return &exitError{2, err}
	}
	wh, err := a.openWarehouse(st, prometheus.NewRegistry(), log)
	if err != nil {
		return &exitError{2, err}
	}
	defer wh.Close()
	// Beside an orchestrator, the rebuild holds the lake's lease like its
	// jobs, so the two never build the same generation number.
	hold := func(ctx context.Context, fn func(context.Context, *serving.Fenced) error) error { return fn(ctx, nil) }
	if len(cfg.EffectiveJobs()) > 0 {
		hold = func(ctx context.Context, fn func(context.Context, *serving.Fenced) error) error {
			el := scheduler.NewElector(scheduler.ElectorOptions{Redis: a.rdb, Prefix: cfg.Redis.Prefix, Name: scheduler.LakeLease,
				TTL: cfg.Orchestrator.LeaseTTL, Holder: cfg.Orchestrator.Instance, Log: log})
			return el.RunOnce(ctx, func(ctx context.Context) error { return fn(ctx, serving.NewFenced(el.Fence())) })
		}
	}
	for _, s := range a.sources {
		if len(s.views) == 0 {
			continue
		}
		job := &rebuildJob{a: a, st: st, s: s, fromSource: *fromSource, log: log.With("source", s.cfg.Name)}
		var g *batch.Generation
		err := hold(ctx, func(ctx context.Context, f *serving.Fenced) error {
			if f != nil {
				job.st, job.wrap = f.Store(st), f.Publisher
			}
			var err error
			g, err = job.rebuild(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("batch of source %s: %w", s.cfg.Name, err)
		}
		glue.afterPublish(ctx, g, job.log)
		fmt.Fprintf(stderr, "generation %d of %s published: cut %s (%s)\n", g.Generation, s.cfg.Name, g.Cut, g.CutTime.Format("2006-01-02 15:04:05Z07:00"))
		for _, t := range g.Tables {
			fmt.Fprintf(stderr, "  table %-24s %s/%s/\n", t.Table, strings.TrimSuffix(cfg.Lake.Root, "/"), batch.TablePrefix(mustTable(t.Table), g.Generation))
		}
		for _, v := range g.Views {
			fmt.Fprintf(stderr, "  view  %-24s %s/%s/\n", v.View, strings.TrimSuffix(cfg.Lake.Root, "/"), batch.ViewPrefix(v.View, g.Generation))
		}
		for _, h := range g.Histories {
			fmt.Fprintf(stderr, "  history %-22s %s/%s/\n", h.Table, strings.TrimSuffix(cfg.Lake.Root, "/"), h.Prefix)
		}
		loadAfterPublish(ctx, wh, g, job.log, stderr)
	}
	return nil
}

func mustTable(s string) formats.TableID {
	t, _ := formats.ParseTableID(s)
	return t
}

// cmdAthena prints the Athena/Glue DDL of the latest generation.
func cmdAthena(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "sync" {
		return cmdAthenaSync(ctx, args[1:], stdout)
	}
	if len(args) == 0 || args[0] != "ddl" {
		return &exitError{2, errors.New("athena: want `tidemark athena ddl -c FILE [--database NAME] [--move]` or `tidemark athena sync -c FILE`")}
	}
	fs := flag.NewFlagSet("athena ddl", flag.ContinueOnError)
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	database := fs.String("database", "", "Glue `database` of the tables (default: athena.database, itself tidemark by default)")
	move := fs.Bool("move", false, "print the statements that move existing tables to the latest generation instead of CREATE")
	if _, err := parseInterspersed(fs, args[1:]); err != nil {
		return &exitError{2, errSilent}
	}
	a, err := openApp(*path, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	cfg := a.cfg
	st, err := a.openLake(ctx)
	if err != nil {
		return err
	}
	g, err := batch.Latest(ctx, st)
	if err != nil {
		return err
	}
	if g == nil {
		return &exitError{1, fmt.Errorf("athena ddl: the lake %s has no generation yet; run `tidemark batch` first", cfg.Lake.Root)}
	}
	if *database == "" {
		*database = cfg.Athena.Database
	}
	ddl := athena.CreateDDL
	if *move {
		ddl = athena.MoveDDL
	}
	stmts, err := ddl(g, athena.Options{Database: *database, Root: cfg.Lake.Root})
	if err != nil {
		return &exitError{2, err}
	}
	for _, s := range stmts {
		fmt.Fprintf(stdout, "%s;\n\n", strings.TrimSuffix(s, ";"))
	}
	return nil
}
