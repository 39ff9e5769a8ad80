package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/athena"
)

// glueSync keeps the Glue catalog in step with published generations
// (athena.glue.sync). A nil *glueSync is off: its methods do nothing.
type glueSync struct {
	sync    *athena.Sync
	timeout time.Duration
}

// openGlue returns the Glue sync when athena.glue.sync is on, else nil;
// reg receives its metrics. It does not contact Glue.
func (a *app) openGlue(ctx context.Context, reg prometheus.Registerer) (*glueSync, error) {
	g := a.cfg.Athena.Glue
	if !g.Sync {
		return nil, nil
	}
	ak, sk := a.cfg.GlueCredentials()
	client, err := athena.NewClient(ctx, athena.ClientOptions{
		Region: a.cfg.GlueRegion(), Endpoint: g.Endpoint, AccessKeyID: ak, SecretAccessKey: sk,
	})
	if err != nil {
		return nil, err
	}
	s, err := athena.NewSync(client, athena.SyncOptions{
		Options:   athena.Options{Database: a.cfg.Athena.Database, Root: a.cfg.Lake.Root},
		CatalogID: g.CatalogID, Metrics: athena.NewSyncMetrics(reg),
	})
	if err != nil {
		return nil, err
	}
	return &glueSync{sync: s, timeout: g.Timeout}, nil
}

// afterPublish brings the catalog to the published generation g. A
// failure is handled here: logged once and counted (by the Sync's
// metrics), never returned, because the generation is published whatever
// Glue says, and the next generation or `tidemark athena sync` catches the
// catalog up.
func (gs *glueSync) afterPublish(ctx context.Context, g *batch.Generation, log *slog.Logger) {
	if gs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, gs.timeout)
	defer cancel()
	changes, err := gs.sync.Sync(ctx, g)
	if err != nil {
		log.Error("Glue catalog sync failed; the generation stays published, and the next one (or `tidemark athena sync`) brings the catalog up to date",
			"generation", g.Generation, "err", err)
		return
	}
	n := 0
	for _, c := range changes {
		if c.Action == athena.Created || c.Action == athena.Updated {
			n++
		}
	}
	log.Info("Glue catalog in step", "generation", g.Generation, "tables", len(changes), "changed", n)
}

// validateGlue is `tidemark validate`'s check of the Glue sync: one line,
// and whether it failed. Nothing is printed when the sync is off.
func (a *app) validateGlue(ctx context.Context, stdout io.Writer) (failed bool) {
	gs, err := a.openGlue(ctx, prometheus.NewRegistry())
	if err == nil && gs != nil {
		ctx, cancel := context.WithTimeout(ctx, gs.timeout)
		defer cancel()
		err = gs.sync.Check(ctx)
	}
	if err != nil {
		fmt.Fprintf(stdout, "FAIL glue: %v\n     fix: check athena.glue (endpoint, region, credentials) and the glue:GetDatabase permission\n", err)
		return true
	}
	if gs != nil {
		fmt.Fprintf(stdout, "ok   glue catalog reachable (database %s)\n", a.cfg.Athena.Database)
	}
	return false
}

// cmdAthenaSync brings the Glue catalog to each source's newest generation
// now, printing what it did per table; exit 1 when the sync fails.
func cmdAthenaSync(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("athena sync", flag.ContinueOnError)
	path := fs.String("c", os.Getenv("TIDEMARK_CONFIG"), "config `FILE` (YAML)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return &exitError{2, errSilent}
	}
	a, err := openApp(*path, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	if !a.cfg.Athena.Glue.Sync {
		return &exitError{2, errors.New("athena sync: the Glue sync is off; set athena.glue.sync: true (see docs/config.md)")}
	}
	gs, err := a.openGlue(ctx, prometheus.NewRegistry())
	if err != nil {
		return &exitError{2, err}
	}
	st, err := a.openLake(ctx)
	if err != nil {
		return err
	}
	gens, err := athena.NewestPerSource(ctx, st)
	if err != nil {
		return err
	}
	if len(gens) == 0 {
		return &exitError{1, fmt.Errorf("athena sync: the lake %s has no generation yet; run `tidemark batch` first", a.cfg.Lake.Root)}
	}
	ctx, cancel := context.WithTimeout(ctx, gs.timeout)
	defer cancel()
	for _, g := range gens {
		changes, err := gs.sync.Sync(ctx, g)
		for _, c := range changes {
			fmt.Fprintf(stdout, "%-9s %s.%s (generation %d)\n", c.Action, a.cfg.Athena.Database, c.Table, c.Generation)
		}
		if err != nil {
			return &exitError{1, err}
		}
	}
	return nil
}
