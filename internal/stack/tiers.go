package stack

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// Test tiers. Three ways to run the tests, and what each proves:
//
//   - go test -short (make unit): the fast tier. No server is installed or started: every
//     constructor of this package skips its test before looking for a binary.
//   - go test: the full tier on a developer's machine. A server whose binaries are missing
//     and cannot be installed skips its test, with the reason, so that a partial machine
//     still runs what it can.
//   - go test with CI=true (how CI runs .ci/run) or TIDEMARK_TEST_REQUIRE_SERVERS=1: the
//     full tier where a skip would be a lie. A missing or failed server fails its test, so
//     a green run means every invariant was proven on a real server.

// ServersRequired reports whether a test that cannot get a real server (or another real
// dependency: a browser, a tool) must fail rather than skip: when CI or
// TIDEMARK_TEST_REQUIRE_SERVERS is set to a true value ("true", "1").
func ServersRequired() bool {
	return envTrue("CI") || envTrue("TIDEMARK_TEST_REQUIRE_SERVERS")
}

func envTrue(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// Unavailable ends t because a real dependency it needs is missing: a skip with the reason,
// or a failure when ServersRequired. Tests use it for every missing-dependency path, never
// t.Skip, so CI cannot pass with the real-server tests silently skipped.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ServersRequired() {
		t.Fatal(msg + " (a failure, not a skip: CI or TIDEMARK_TEST_REQUIRE_SERVERS is set)")
	}
	t.Skip(msg)
}

// skipShort skips t in -short mode, before anything is looked up, installed or started.
func skipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("stack: starts %s; not in -short mode", what)
	}
}
