package stack

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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

func TestMariaDBWith(t *testing.T) {
	t.Parallel()
	m := MariaDBWith(t, "--max-binlog-size=4096", "--binlog-checksum=NONE")
	var size int
	var checksum string
	if err := m.DB(t, "").QueryRow("SELECT @@max_binlog_size, @@binlog_checksum").Scan(&size, &checksum); err != nil {
		t.Fatal(err)
	}
	if size != 4096 || checksum != "NONE" {
		t.Errorf("max_binlog_size=%d binlog_checksum=%s, want 4096 NONE", size, checksum)
	}
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

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := timed(t, "Redis Cluster", RedisCluster)
	if len(c.Addrs) != 3 || len(c.Pids) != 3 {
		t.Fatalf("Addrs %v Pids %v, want 3 of each", c.Addrs, c.Pids)
	}
	ctx := context.Background()
	cc := c.Client(t)
	// Keys on different slots, so more than one master is written.
	for _, k := range []string{"a", "b", "c", "tm:{v}:x"} {
		if err := cc.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if got, err := cc.Get(ctx, k).Result(); err != nil || got != "v-"+k {
			t.Fatalf("GET %s = %q, %v", k, got, err)
		}
	}
	for _, addr := range c.Addrs {
		node := redis.NewClient(&redis.Options{Addr: addr})
		info, err := node.ClusterInfo(ctx).Result()
		node.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_assigned:16384") {
			t.Errorf("CLUSTER INFO on %s: %v\n%s", addr, err, info)
		}
	}
	pids := c.Pids
	c.Stop(t)
	for _, pid := range pids {
		assertGone(t, "Redis Cluster node", pid)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	s := timed(t, "PostgreSQL", Postgres)
	var one int
	if err := s.Conn(t).QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	s.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)")
	s.Kill(t)
	s.Start(t)
	var n int
	if err := s.Conn(t).QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("after kill+start: count = %d, %v; want 2", n, err)
	}
	pid := s.Pid
	s.Stop(t)
	assertGone(t, "PostgreSQL", pid)
}

func TestMinIO(t *testing.T) {
	t.Parallel()
	m := timed(t, "MinIO", MinIO)
	ctx := context.Background()
	c := m.Client()
	body := "hello, lake"
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(m.Bucket), Key: aws.String("a/b.txt"), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(m.Bucket), Key: aws.String("a/b.txt")})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := get(); got != body {
		t.Errorf("GetObject = %q, want %q", got, body)
	}
	pid := m.Pid
	m.Stop(t)
	assertGone(t, "MinIO", pid)
	m.Start(t)
	if got := get(); got != body {
		t.Errorf("after Stop+Start: GetObject = %q, want %q", got, body)
	}
	m.Kill(t)
	m.Start(t)
	if got := get(); got != body {
		t.Errorf("after Kill+Start: GetObject = %q, want %q", got, body)
	}
}
