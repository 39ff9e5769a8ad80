package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/tidemark/tidemark/internal/config"
	"github.com/tidemark/tidemark/realtime/capture"
)

// columnPolicy turns a source's columns section, validated with the config
// (every entry parses), into the capture's column policy.
func columnPolicy(c config.Columns) capture.ColumnPolicy {
	var p capture.ColumnPolicy
	for _, s := range c.Exclude {
		if r, err := capture.ParseColumnRef(s); err == nil {
			p.Exclude = append(p.Exclude, r)
		}
	}
	for _, s := range c.Mask {
		if r, err := capture.ParseColumnRef(s); err == nil {
			p.Mask = append(p.Mask, r)
		}
	}
	if len(c.MaskKey) > 0 {
		p.MaskKey = []byte(c.MaskKey)
	}
	return p
}

// checkColumns checks every source's column policy against the source's
// current schemas. problems lists the entries that do not fit, each with
// its config path (config.Errors); err is set when a source could not be
// read, and then its policy is unchecked (still applied by name).
func (a *app) checkColumns(ctx context.Context) (problems, err error) {
	var errs config.Errors
	for _, s := range a.sources {
		i := slices.IndexFunc(a.cfg.Sources, func(c config.Source) bool { return c.Name == s.cfg.Name })
		ps, e := s.cap.CheckColumns(ctx)
		if e != nil {
			err = errors.Join(err, fmt.Errorf("checking sources[%d].columns against source %s: %w", i, s.cfg.Name, e))
			continue
		}
		for _, p := range ps {
			list := "mask"
			if p.Excluded {
				list = "exclude"
			}
			errs = append(errs, fmt.Errorf("sources[%d].columns.%s[%d]: %q: %s", i, list, p.Index, p.Ref.String(), p.Problem))
		}
	}
	if len(errs) > 0 {
		problems = errs
	}
	return problems, err
}

// checkColumnsAtStart is checkColumns for `tidemark run`: a policy that does
// not fit the schemas stops the start; a source that cannot be read yet
// only delays the check to the binding of the views.
func (a *app) checkColumnsAtStart(ctx context.Context, log *slog.Logger) error {
	problems, err := a.checkColumns(ctx)
	if problems != nil {
		return problems
	}
	if err != nil {
		log.Warn("column policy not checked against the source schemas yet (it is applied by column name regardless)", "err", err)
	}
	return nil
}

// validateColumns prints tidemark validate's lines for the column policies:
// one FAIL per entry that does not fit its source's schemas (with its
// path), or one ok per source with a policy. It reports whether any failed.
func (a *app) validateColumns(ctx context.Context, stdout io.Writer) (failed bool) {
	problems, err := a.checkColumns(ctx)
	if err != nil {
		fmt.Fprintf(stdout, "FAIL %v\n", err)
		failed = true
	}
	if problems != nil {
		for _, p := range problems.(config.Errors) {
			fmt.Fprintf(stdout, "FAIL %v\n", p)
		}
		failed = true
	}
	if failed {
		return true
	}
	for _, s := range a.sources {
		if n, m := len(s.cfg.Columns.Exclude), len(s.cfg.Columns.Mask); n+m > 0 {
			fmt.Fprintf(stdout, "ok   column policy of source %s: %d excluded and %d masked columns exist on the source\n", s.cfg.Name, n, m)
		}
	}
	return false
}
