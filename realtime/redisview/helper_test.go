package redisview

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/internal/stack"
)

// backend is one Redis deployment the suite runs on.
type backend struct {
	name  string
	rdb   redis.UniversalClient
	store *Store
	// restartEmpty stops the deployment and starts it again with no data.
	restartEmpty func(t testing.TB)
}

func newTestStore(t testing.TB) (*Store, *stack.RedisServer) {
	t.Helper()
	srv := stack.Redis(t)
	return New(srv.Client(t), Options{}), srv
}

// onBoth runs f on a single Redis and on a three-master Redis Cluster.
func onBoth(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("redis", func(t *testing.T) {
		srv := stack.Redis(t)
		c := srv.Client(t)
		f(t, backend{name: "redis", rdb: c, store: New(c, Options{}), restartEmpty: srv.Restart})
	})
	t.Run("cluster", func(t *testing.T) {
		srv := stack.RedisCluster(t)
		c := srv.Client(t)
		f(t, backend{name: "cluster", rdb: c, store: New(c, Options{}), restartEmpty: func(t testing.TB) {
			srv.Stop(t)
			srv.Start(t)
		}})
	})
}
