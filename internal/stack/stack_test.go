package stack

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// timed starts a server and logs how long it took, so a slow start shows up in -v output.
func timed[T any](t *testing.T, what string, start func(testing.TB) T) T {
	t.Helper()
	t0 := time.Now()
	s := start(t)
	t.Logf("%s started in %v", what, time.Since(t0).Round(time.Millisecond))
	return s
}

// assertGone checks that a pid no longer runs.
func assertGone(t *testing.T, what string, pid int) {
	t.Helper()
	if pid == 0 {
		t.Fatalf("%s: no pid recorded", what)
	}
	if Alive(pid) {
		t.Errorf("%s: pid %d still running after stop", what, pid)
	}
}

func TestRoot(t *testing.T) {
	if Root() == "" {
		t.Fatal("Root() found no module root")
	}
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	m := timed(t, "MariaDB", MariaDB)
	db := m.DB(t, "")
	var logBin, gtidStrict, serverID int
	var format, image, metadata string
	err := db.QueryRow(`SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata,
		@@gtid_strict_mode, @@server_id`).Scan(&logBin, &format, &image, &metadata, &gtidStrict, &serverID)
	if err != nil {
		t.Fatal(err)
	}
	if logBin != 1 || format != "ROW" || image != "FULL" || metadata != "FULL" || gtidStrict != 1 || serverID != 1 {
		t.Errorf("got log_bin=%d binlog_format=%s binlog_row_image=%s binlog_row_metadata=%s gtid_strict_mode=%d server_id=%d",
			logBin, format, image, metadata, gtidStrict, serverID)
	}

	m.Exec(t, "CREATE DATABASE shop", "USE shop",
		"CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2))",
		"INSERT INTO orders VALUES (1, 12.50), (2, 3.25)")

	t0 := time.Now()
	m.Kill(t)
	m.Start(t)
	t.Logf("MariaDB kill+start in %v", time.Since(t0).Round(time.Millisecond))
	var n int
	var sum string
	if err := m.DB(t, "shop").QueryRow("SELECT COUNT(*), SUM(amount) FROM orders").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 2 || sum != "15.75" {
		t.Errorf("after kill+start: count=%d sum=%s, want 2 15.75", n, sum)
	}
	var gtid string
	if err := m.DB(t, "").QueryRow("SELECT @@gtid_binlog_pos").Scan(&gtid); err != nil || gtid == "" {
		t.Errorf("gtid_binlog_pos = %q (%v), want a GTID position", gtid, err)
	}

	pid := m.Pid
	m.Stop(t)
	assertGone(t, "MariaDB", pid)
}

func TestRedis(t *testing.T) {
	t.Parallel()
	r := timed(t, "Redis", Redis)
	ctx := context.Background()
	c := r.Client(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := r.Pid
	r.Restart(t)
	assertGone(t, "Redis", pid)
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("after Restart: GET k = %v, want redis.Nil (an empty server)", err)
	}
	pid = r.Pid
	r.Stop(t)
	assertGone(t, "Redis", pid)
}
