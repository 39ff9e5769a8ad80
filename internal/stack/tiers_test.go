package stack

import (
	"fmt"
	"strings"
	"testing"
)

// outcome is how a tierTB ended: its test was skipped, failed, or neither.
type outcome struct {
	skipped, failed bool
	msg             string
}

// stopTest is what tierTB panics with where testing.T would stop the test's goroutine.
type stopTest struct{}

// tierTB records whether a helper skipped or failed the test, stopping the helper there
// as testing.T does (Goexit there, a panic recovered by run here). Anything else it does
// not override goes to the real test.
type tierTB struct {
	testing.TB
	out *outcome
}

func (r tierTB) Helper() {}
func (r tierTB) Skip(args ...any) {
	r.out.skipped, r.out.msg = true, fmt.Sprint(args...)
	panic(stopTest{})
}
func (r tierTB) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }
func (r tierTB) Fatal(args ...any) {
	r.out.failed, r.out.msg = true, fmt.Sprint(args...)
	panic(stopTest{})
}
func (r tierTB) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

// run calls f with a tierTB over t and returns how it ended.
func run(t *testing.T, f func(testing.TB)) (o outcome) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(stopTest); !ok {
				panic(p)
			}
		}
	}()
	f(tierTB{TB: t, out: &o})
	return o
}

func TestServersRequired(t *testing.T) {
	for _, c := range []struct {
		ci, req string
		want    bool
	}{
		{"", "", false},
		{"true", "", true},
		{"1", "", true},
		{"false", "", false},
		{"", "1", true},
		{"", "true", true},
		{"", "0", false},
		{"false", "yes-please", false}, // not a boolean: not required
	} {
		t.Setenv("CI", c.ci)
		t.Setenv("TIDEMARK_TEST_REQUIRE_SERVERS", c.req)
		if got := ServersRequired(); got != c.want {
			t.Errorf("CI=%q TIDEMARK_TEST_REQUIRE_SERVERS=%q: ServersRequired() = %v, want %v", c.ci, c.req, got, c.want)
		}
	}
}

func TestUnavailableSkipsOrFails(t *testing.T) {
	t.Setenv("TIDEMARK_TEST_REQUIRE_SERVERS", "")
	t.Setenv("CI", "")
	o := run(t, func(tb testing.TB) { Unavailable(tb, "stack: %s not installed", "redis") })
	if !o.skipped || o.failed || o.msg != "stack: redis not installed" {
		t.Errorf("without CI: got %+v, want a skip with the reason", o)
	}
	t.Setenv("CI", "true")
	o = run(t, func(tb testing.TB) { Unavailable(tb, "stack: %s not installed", "redis") })
	if o.skipped || !o.failed || !strings.HasPrefix(o.msg, "stack: redis not installed") {
		t.Errorf("with CI=true: got %+v, want a failure with the reason", o)
	}
}

// TestRequireMissingBinaryFailsInCI: a server whose binaries are not there and cannot be
// installed (install-deps.sh refuses the unknown part) fails its test when servers are
// required, and is skipped otherwise.
func TestRequireMissingBinaryFailsInCI(t *testing.T) {
	missing := func(tb testing.TB) { require(tb, "nosuch", "tidemark-no-such-binary") }
	if testing.Short() {
		o := run(t, missing)
		if !o.skipped || !strings.Contains(o.msg, "-short") {
			t.Errorf("-short: got %+v, want a skip before any lookup", o)
		}
		return
	}
	t.Setenv("TIDEMARK_TEST_REQUIRE_SERVERS", "")
	t.Setenv("CI", "true")
	if o := run(t, missing); !o.failed || !strings.Contains(o.msg, "tidemark-no-such-binary") {
		t.Errorf("CI=true: got %+v, want a failure naming the binary", o)
	}
	t.Setenv("CI", "")
	if o := run(t, missing); !o.skipped || o.failed {
		t.Errorf("no CI: got %+v, want a skip", o)
	}
}

// TestShortStartsNoServer: in -short mode every constructor skips before it looks for a
// binary, installs or starts anything (make unit runs this).
func TestShortStartsNoServer(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks the -short tier; make unit runs it")
	}
	t.Setenv("CI", "true") // -short wins over CI: the fast tier never fails for want of a server
	t.Setenv("PATH", "")   // and would not find a binary if it looked
	for name, start := range map[string]func(testing.TB){
		"MariaDB":      func(tb testing.TB) { MariaDB(tb) },
		"Redis":        func(tb testing.TB) { Redis(tb) },
		"RedisCluster": func(tb testing.TB) { RedisCluster(tb) },
		"Postgres":     func(tb testing.TB) { Postgres(tb) },
		"MinIO":        func(tb testing.TB) { MinIO(tb) },
	} {
		o := run(t, start)
		if !o.skipped || o.failed || !strings.Contains(o.msg, "-short") {
			t.Errorf("%s in -short mode: got %+v, want a skip", name, o)
		}
	}
}
