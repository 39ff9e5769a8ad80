package stack

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a running throwaway Redis without persistence: whatever stops it loses its data.
type RedisServer struct {
	Addr string // "127.0.0.1:PORT"
	Port int
	Dir  string // working directory and log
	Pid  int    // 0 while stopped

	proc *proc
}

// Redis starts a new Redis (see the package doc); t.Cleanup stops it.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	require(t, "redis", "redis-server", "redis-cli")
	p := startServer(t, "redis.sh", "redis", nil, []int{0}, 0)
	return &RedisServer{Addr: fmt.Sprintf("127.0.0.1:%d", p.port), Port: p.port, Dir: p.dir, Pid: p.pid(t), proc: p}
}

// Client returns a client of the server; t.Cleanup closes it.
func (r *RedisServer) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// Stop shuts the server down (SIGTERM) and waits for it to exit.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	if err := r.proc.stop(); err != nil {
		t.Fatalf("stack: stopping Redis: %v", err)
	}
	r.Pid = 0
}

// Kill kills the server with SIGKILL.
func (r *RedisServer) Kill(t testing.TB) {
	t.Helper()
	if err := r.proc.kill(); err != nil {
		t.Fatalf("stack: killing Redis: %v", err)
	}
	r.Pid = 0
}

// Start starts the stopped server again, empty, on the same port.
func (r *RedisServer) Start(t testing.TB) {
	t.Helper()
	if err := r.proc.start(); err != nil {
		t.Fatalf("stack: restarting Redis: %v", err)
	}
	r.Pid = r.proc.pid(t)
}

// Restart stops the server and starts it again, empty, on the same port.
func (r *RedisServer) Restart(t testing.TB) {
	t.Helper()
	r.Stop(t)
	r.Start(t)
}
