package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// testLogger logs to the test at Warn and above (Debug with
// CAPTURE_DEBUG=1).
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("CAPTURE_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// counters is a Metrics for tests.
type counters struct {
	reconnects atomic.Int64
	events     atomic.Int64
}

func (c *counters) Reconnected()                                  { c.reconnects.Add(1) }
func (c *counters) Events(_ formats.TableID, _ formats.Op, n int) { c.events.Add(int64(n)) }

// source is a MariaDB with a "shop" and an "other" database and a Capture
// of "shop". On a shared server the databases get unique names of one
// width (so no name contains another): SQL passed to exec and q is
// rewritten from "shop." and "other." to them.
type source struct {
	m           *stack.MariaDBServer
	db          *sql.DB
	c           *Capture
	metrics     *counters
	shop, other string
	rep         *strings.Replacer
}

// newSource starts its own server; a *testing.T caller runs in parallel
// with the package's other server tests (most of their time is waiting).
func newSource(t testing.TB, mutate func(*Config), extraArgs ...string) *source {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		tt.Parallel()
	}
	m := stack.MariaDBWith(t, extraArgs...)
	return attach(t, m, "shop", "other", 4242, mutate)
}

var forks atomic.Int64

// sharedSource gives a test its own databases and replication client id on
// srv, a server other tests use at the same time.
func sharedSource(t *testing.T, srv *stack.MariaDBServer, mutate func(*Config)) *source {
	t.Helper()
	t.Parallel()
	n := forks.Add(1)
	return attach(t, srv, fmt.Sprintf("s%03d_shop", n), fmt.Sprintf("s%03d_other", n), uint32(5000+n), mutate)
}

func attach(t testing.TB, m *stack.MariaDBServer, shop, other string, serverID uint32, mutate func(*Config)) *source {
	t.Helper()
	m.Exec(t, "CREATE DATABASE "+shop, "CREATE DATABASE "+other)
	s := &source{m: m, db: m.DB(t, ""), metrics: &counters{}, shop: shop, other: other,
		rep: strings.NewReplacer("shop.", shop+".", "other.", other+".", "USE shop", "USE "+shop)}
	cfg := Config{
		Flavor: FlavorMariaDB, Host: m.Host, Port: m.Port, User: m.User, Password: m.Password,
		ServerID: serverID, Databases: []string{shop}, Logger: testLogger(t), Metrics: s.metrics,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		Heartbeat: time.Second, IdleTxnInterval: 200 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.c = c
	return s
}

// TestShared runs the tests that leave their server as it was on one
// server, in parallel, each in its own databases.
func TestShared(t *testing.T) {
	srv := stack.MariaDB(t)
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *stack.MariaDBServer)
	}{
		{"Transactions", testStreamTransactions},
		{"EmptyTxnThrottle", testStreamEmptyTxnThrottle},
		{"LargeTransaction", testStreamLargeTransaction},
		{"DDL", testStreamDDL},
		{"Resume", testStreamResume},
		{"Backpressure", testStreamBackpressure},
		{"RefusesStatementFormat", testStreamRefusesStatementFormat},
		{"RefusesPartialImage", testStreamRefusesPartialImage},
		{"TruncateRefused", testStreamTruncateRefused},
		{"ResolveTables", testResolveTables},
		{"SnapshotThenStream", testSnapshotThenStream},
		{"BinlogEqualsSnapshot", testBinlogEqualsSnapshot},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, srv) })
	}
}

func (s *source) q(sql string) string { return s.rep.Replace(sql) }

func (s *source) table(name string) formats.TableID { return formats.TableID{DB: s.shop, Table: name} }

func (s *source) exec(t testing.TB, stmts ...string) {
	t.Helper()
	for i := range stmts {
		stmts[i] = s.q(stmts[i])
	}
	s.m.Exec(t, stmts...)
}

func (s *source) pos(t testing.TB) formats.Position {
	t.Helper()
	p, err := s.c.CurrentPosition(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stream is a running Stream whose output the test reads.
type stream struct {
	out    chan *formats.Txn
	done   chan error
	cancel context.CancelFunc
	once   sync.Once
	err    error
}

func startStream(t testing.TB, c *Capture, from formats.Position) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &stream{out: make(chan *formats.Txn, 16), done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- c.Stream(ctx, from, r.out) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels the stream and returns what Stream returned.
func (r *stream) stop() error {
	r.once.Do(func() {
		r.cancel()
	drain:
		for {
			select {
			case <-r.out:
			case r.err = <-r.done:
				r.done <- r.err
				break drain
			}
		}
	})
	return r.err
}

// next returns the next Txn with events, skipping empty ones; it fails
// the test after timeout or if Stream ends.
func (r *stream) next(t testing.TB, timeout time.Duration) *formats.Txn {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case txn := <-r.out:
			if len(txn.Events) > 0 {
				return txn
			}
		case err := <-r.done:
			r.done <- err
			t.Fatalf("stream ended: %v", err)
		case <-deadline:
			t.Fatalf("no transaction within %s", timeout)
		}
	}
}

// until collects every Txn (empty ones too) until one at or past pos
// arrives.
func (r *stream) until(t testing.TB, pos formats.Position, timeout time.Duration) []*formats.Txn {
	t.Helper()
	deadline := time.After(timeout)
	var got []*formats.Txn
	for {
		select {
		case txn := <-r.out:
			got = append(got, txn)
			if !txn.Pos.Less(pos.Commit()) {
				return got
			}
		case err := <-r.done:
			r.done <- err
			t.Fatalf("stream ended before %s: %v", pos, err)
		case <-deadline:
			t.Fatalf("stream did not reach %s within %s (got %d txns)", pos, timeout, len(got))
		}
	}
}

// waitErr waits for Stream to return.
func (r *stream) waitErr(t testing.TB, timeout time.Duration) error {
	t.Helper()
	for {
		select {
		case <-r.out:
		case err := <-r.done:
			r.done <- err
			return err
		case <-time.After(timeout):
			t.Fatalf("Stream did not return within %s", timeout)
		}
	}
}

func nonEmpty(txns []*formats.Txn) []*formats.Txn {
	var out []*formats.Txn
	for _, t := range txns {
		if len(t.Events) > 0 {
			out = append(out, t)
		}
	}
	return out
}

// checkOrder fails unless positions strictly increase, only ticks have a
// Row, and events carry their transaction's position with Row = i+1.
func checkOrder(t testing.TB, txns []*formats.Txn) {
	t.Helper()
	var prev formats.Position
	for _, txn := range txns {
		if (txn.Pos.Row != 0 && !txn.IsTick()) || !prev.Less(txn.Pos) {
			t.Fatalf("txn position %s after %s", txn.Pos, prev)
		}
		prev = txn.Pos
		for i, e := range txn.Events {
			if e.Pos.Commit() != txn.Pos || e.Pos.Row != uint32(i+1) {
				t.Fatalf("event %d of txn %s has position %s", i, txn.Pos, e.Pos)
			}
		}
	}
}

// ids returns the first column of each event's row image (After, or Before
// for deletes), as int64.
func ids(t testing.TB, txn *formats.Txn) []int64 {
	t.Helper()
	var out []int64
	for _, e := range txn.Events {
		r := e.After
		if r == nil {
			r = e.Before
		}
		out = append(out, r[0].(int64))
	}
	return out
}

func errIs(err, target error) string {
	if errors.Is(err, target) {
		return ""
	}
	return fmt.Sprintf("error %v is not %v", err, target)
}
