package stack

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// clusterNodes is the number of masters of a RedisCluster; scripts/redis-cluster.sh agrees.
const clusterNodes = 3

// RedisClusterServer is a running throwaway Redis Cluster: three masters, no replicas, all
// 16384 slots assigned, no persistence.
type RedisClusterServer struct {
	Addrs []string // "127.0.0.1:PORT" of each master
	Pids  []int    // nil while stopped

	proc *proc
}

// RedisCluster starts a new three-master Redis Cluster and returns once every node reports
// cluster_state:ok; t.Cleanup stops it.
func RedisCluster(t testing.TB) *RedisClusterServer {
	t.Helper()
	require(t, "redis", "redis-server", "redis-cli")
	var offsets []int
	for i := range clusterNodes {
		offsets = append(offsets, i, i+10000) // the node and its cluster bus
	}
	p := startServer(t, "redis-cluster.sh", "redis-cluster", nil, offsets, 55000)
	c := &RedisClusterServer{proc: p}
	for i := range clusterNodes {
		c.Addrs = append(c.Addrs, fmt.Sprintf("127.0.0.1:%d", p.port+i))
	}
	c.readPids(t)
	return c
}

func (c *RedisClusterServer) readPids(t testing.TB) {
	t.Helper()
	pids, err := c.proc.pids()
	if err != nil || len(pids) != clusterNodes {
		t.Fatalf("stack: Redis Cluster in %s: want %d pids, got %v (%v)", c.proc.dir, clusterNodes, pids, err)
	}
	c.Pids = pids
}

// Client returns a cluster client; t.Cleanup closes it.
func (c *RedisClusterServer) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// Stop shuts every node down (SIGTERM) and waits for them to exit.
func (c *RedisClusterServer) Stop(t testing.TB) {
	t.Helper()
	if err := c.proc.stop(); err != nil {
		t.Fatalf("stack: stopping Redis Cluster: %v", err)
	}
	c.Pids = nil
}

// Start starts the stopped cluster again on the same ports: the same slot layout, no data.
func (c *RedisClusterServer) Start(t testing.TB) {
	t.Helper()
	if err := c.proc.start(); err != nil {
		t.Fatalf("stack: restarting Redis Cluster: %v", err)
	}
	c.readPids(t)
}
