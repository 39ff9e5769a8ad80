package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// printProblem prints one unmet prerequisite of source name the way
// `tidemark validate` reports it.
func printProblem(w io.Writer, name string, p capture.Problem) {
	fmt.Fprintf(w, "FAIL source %s: %s: found %s\n     fix: %s\n", name, p.Check, p.Found, p.Fix)
}

// checkPrerequisites runs validate's source checks on the sources whose
// speed layer this run starts, and refuses to start (an error matching
// capture.ErrPrerequisite, exit 1) if one would make the capture stop or
// go wrong later: statement logging or partial row images are otherwise
// found only when the first such change arrives, after a full bootstrap.
// Warnings, and problems that may be of the moment (Problem.Transient:
// the source unreachable, our own dead session still registered), are
// left to the components, which retry and report them.
func checkPrerequisites(ctx context.Context, sources []*source) error {
	var b strings.Builder
	failed := 0
	for _, s := range sources {
		if len(s.views) == 0 {
			continue
		}
		for _, p := range s.cap.Prerequisites(ctx) {
			if p.Warn || p.Transient {
				continue
			}
			failed++
			printProblem(&b, s.cfg.Name, p)
		}
	}
	if failed == 0 {
		return nil
	}
	return &exitError{1, fmt.Errorf("%w: refusing to start, %d check(s) of `tidemark validate` failed:\n%s",
		capture.ErrPrerequisite, failed, strings.TrimSuffix(b.String(), "\n"))}
}

// purgedFix is the fix for a checkpoint whose binlog file is gone.
const purgedFix = "start tidemark run with speed.rebootstrap_on_purge: true (TIDEMARK_SPEED_REBOOTSTRAP_ON_PURGE=true): " +
	"it bootstraps the affected views from a fresh snapshot, records the gap in the changelog, and the next rebuild " +
	"re-extracts from the source; then raise binlog retention (binlog_expire_logs_seconds) so it does not recur"

// validateCheckpoints reports, for validate, every checkpoint a restart
// would resume from whose binlog file the source has purged: the views'
// (in Redis) and the changelog archive's (in the lake). It prints one line
// per problem and returns how many there were.
func (a *app) validateCheckpoints(ctx context.Context, w io.Writer) int {
	var st lake.Store
	failed := 0
	fail := func(format string, args ...any) {
		failed++
		fmt.Fprintf(w, "FAIL "+format+"\n", args...)
	}
	for _, s := range a.sources {
		if len(s.views) == 0 {
			continue
		}
		checked := 0
		for _, v := range s.views {
			m, err := a.store.Meta(ctx, v.Name)
			if errors.Is(err, redisview.ErrStateMissing) {
				continue // not bootstrapped yet: nothing to resume
			}
			if err != nil {
				fail("view %s: reading its checkpoint: %v", v.Name, err)
				continue
			}
			checked++
			if err := s.cap.CheckRetained(ctx, m.Checkpoint); errors.Is(err, capture.ErrPurged) {
				fail("source %s: view %s resumes after %s, but binlog file %s is purged on the source\n     fix: %s",
					s.cfg.Name, v.Name, m.Checkpoint, m.Checkpoint.File, purgedFix)
			} else if err != nil {
				fail("source %s: view %s: checking its checkpoint %s: %v", s.cfg.Name, v.Name, m.Checkpoint, err)
			}
		}
		if st == nil {
			var err error
			if st, err = a.openLake(ctx); err != nil {
				fail("lake: %v\n     fix: check lake.root and lake.s3", err)
				return failed
			}
		}
		last, err := changelog.NewReader(st, s.cfg.Name).Last(ctx)
		if err != nil {
			fail("source %s: changelog archive: %v", s.cfg.Name, err)
			continue
		}
		if last != nil {
			pos, err := last.LastPosition()
			if err == nil {
				err = s.cap.CheckRetained(ctx, pos)
			}
			switch {
			case errors.Is(err, capture.ErrPurged):
				fail("source %s: the changelog archive resumes after %s (segment %d), but binlog file %s is purged on the source\n     fix: %s",
					s.cfg.Name, pos, last.Segment, pos.File, purgedFix)
			case err != nil:
				fail("source %s: changelog archive: checking its checkpoint: %v", s.cfg.Name, err)
			}
			checked++
		}
		if failed == 0 && checked > 0 {
			fmt.Fprintf(w, "ok   source %s: %d checkpoint(s) still in the binlog\n", s.cfg.Name, checked)
		}
	}
	return failed
}
