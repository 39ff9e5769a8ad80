package capture

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

func problemFor(probs []Problem, check string) (Problem, bool) {
	for _, p := range probs {
		if p.Check == check {
			return p, true
		}
	}
	return Problem{}, false
}

// TestPrerequisites: a source started with binlog_format=STATEMENT, then
// with the other settings wrong too, reports each problem with its fix; a
// well-configured one reports none.
func TestPrerequisites(t *testing.T) {
	s := newSource(t, nil, "--binlog-format=STATEMENT")
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY)")
	ctx := context.Background()

	probs := s.c.Prerequisites(ctx)
	p, ok := problemFor(probs, "binlog_format")
	if !ok || p.Found != "STATEMENT" || !strings.Contains(p.Fix, "SET GLOBAL binlog_format=ROW") || !strings.Contains(p.Fix, "my.cnf") {
		t.Errorf("binlog_format problem %+v in %v", p, probs)
	}
	if len(probs) != 1 {
		t.Errorf("problems %v, want only binlog_format", probs)
	}

	s.exec(t, "SET GLOBAL binlog_format=MIXED", "SET GLOBAL binlog_row_image=MINIMAL", "SET GLOBAL binlog_row_metadata=MINIMAL",
		"SET GLOBAL binlog_expire_logs_seconds=3600")
	probs = s.c.Prerequisites(ctx)
	for check, found := range map[string]string{"binlog_format": "MIXED", "binlog_row_image": "MINIMAL", "binlog_row_metadata": "MINIMAL"} {
		if p, ok := problemFor(probs, check); !ok || p.Found != found || p.Warn || !strings.Contains(p.Fix, "SET GLOBAL "+check+"=") {
			t.Errorf("%s problem %+v", check, p)
		}
	}
	if p, ok := problemFor(probs, "binlog retention"); !ok || !p.Warn || !strings.Contains(p.Found, "1h0m0s") {
		t.Errorf("retention problem %+v", p)
	}
	for _, p := range probs {
		t.Log(p)
	}

	s.exec(t, "SET GLOBAL binlog_format=ROW", "SET GLOBAL binlog_row_image=FULL", "SET GLOBAL binlog_row_metadata=FULL",
		"SET GLOBAL binlog_expire_logs_seconds=0")
	if probs := s.c.Prerequisites(ctx); len(probs) != 0 {
		t.Errorf("well-configured source: %v", probs)
	}

	// server_id: the source's own, or one a connected replica uses.
	own := s.clone(t, func(c *Config) { c.ServerID = 1 })
	if p, ok := problemFor(own.Prerequisites(ctx), "server_id"); !ok || p.Warn || p.Transient {
		t.Errorf("server_id equal to the source's: %+v", p)
	}
	st := startStream(t, s.c, s.pos(t))
	defer st.stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, ok := problemFor(s.clone(t, nil).Prerequisites(ctx), "server_id")
		if ok && strings.Contains(p.Found, "4242") {
			if !p.Transient {
				t.Errorf("a replica registered under our server_id (maybe our own dead session) is not transient: %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a running capture's server_id is not reported: %+v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A Replica's server_id (the changelog archive's catch-up connection):
	// free, then taken by a stream of its own.
	if probs := s.c.Replica(4243).ServerIDProblems(ctx); len(probs) != 0 {
		t.Errorf("free server_id 4243: %v", probs)
	}
	rst := startStream(t, s.c.Replica(4243), s.pos(t))
	defer rst.stop()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		p, ok := problemFor(s.c.Replica(4243).ServerIDProblems(ctx), "server_id")
		if ok && strings.Contains(p.Found, "4243") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a running replica's server_id 4243 is not reported: %+v", p)
		}
	}

	// An account with SELECT only.
	s.exec(t, "CREATE USER 'weak'@'%' IDENTIFIED BY 'pw'", "GRANT SELECT ON shop.* TO 'weak'@'%'")
	weak := s.clone(t, func(c *Config) { c.User, c.Password = "weak", "pw"; c.Databases = []string{"shop", "other"} })
	probs = weak.Prerequisites(ctx)
	for _, check := range []string{"privilege REPLICATION SLAVE", "privilege BINLOG MONITOR (MariaDB ≥ 10.5; REPLICATION CLIENT before)"} {
		if p, ok := problemFor(probs, check); !ok || !strings.Contains(p.Fix, "GRANT ") || p.Transient {
			t.Errorf("%s: %+v in %v", check, p, probs)
		}
	}
	for _, p := range probs {
		t.Log(p)
	}

	// Unreachable.
	gone := s.clone(t, func(c *Config) { c.Port = 1 })
	if probs := gone.Prerequisites(ctx); len(probs) != 1 || probs[0].Check != "connection" || !probs[0].Transient {
		t.Errorf("unreachable source: %v", probs)
	}
}

// clone returns another Capture of the same source with cfg changed.
func (s *source) clone(t testing.TB, mutate func(*Config)) *Capture {
	t.Helper()
	cfg := s.c.cfg
	cfg.Metrics = nil
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testResolveTables(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t, "CREATE TABLE shop.b (id INT)", "CREATE TABLE shop.a (id INT)", "CREATE VIEW shop.v AS SELECT * FROM shop.a",
		"CREATE TABLE other.x (id INT)", "CREATE TABLE other.y (id INT)")
	c := s.clone(t, func(c *Config) {
		c.Tables = []formats.TableID{{DB: s.other, Table: "x"}, s.table("a")}
	})
	got, err := c.ResolveTables(context.Background())
	want := []formats.TableID{{DB: s.other, Table: "x"}, s.table("a"), s.table("b")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ResolveTables = %v, %v; want %v", got, err, want)
	}
	c = s.clone(t, func(c *Config) { c.Tables = []formats.TableID{{DB: s.other, Table: "nope"}} })
	if _, err := c.ResolveTables(context.Background()); err == nil || !strings.Contains(err.Error(), s.other+".nope") {
		t.Errorf("missing table: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	good := Config{Flavor: FlavorMariaDB, Host: "h", ServerID: 7}
	for name, mutate := range map[string]func(*Config){
		"flavor":    func(c *Config) { c.Flavor = "postgres" },
		"host":      func(c *Config) { c.Host = "" },
		"server_id": func(c *Config) { c.ServerID = 0 },
		"port":      func(c *Config) { c.Port = 70000 },
	} {
		cfg := good
		mutate(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c, err := New(good)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.cfg.Port != 3306 || c.cfg.ReconnectMin != 250*time.Millisecond || c.cfg.ReconnectMax != 30*time.Second ||
		c.cfg.Heartbeat != 5*time.Second || c.cfg.IdleTxnInterval != time.Second {
		t.Errorf("defaults %+v", c.cfg)
	}
}
