package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/tidemark/tidemark/realtime/capture"
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
