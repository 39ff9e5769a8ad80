// Package stack starts the real servers Tidemark's tests run against: MariaDB (as a binlog
// source), Redis, Redis Cluster, PostgreSQL and MinIO.
//
// # Model
//
// Every call (MariaDB(t), Redis(t), ...) starts a new, private, throwaway server: its own
// data directory under t.TempDir() and its own free port on 127.0.0.1. Nothing is shared
// between tests, so tests may run in parallel and may crash, kill or wipe their servers at
// will. The machine's own servers on the standard ports are never used or touched.
//
// The Go side only picks ports and directories; starting and stopping is done by the
// project's scripts in scripts/ (mariadb.sh, redis.sh, redis-cluster.sh, postgres.sh,
// minio.sh), the same ones a developer or the demo uses by hand. Each script's start
// returns once the server answers; its pid is in DIR/pid. Every stop and kill acts on
// exactly that pid: several servers of one kind run side by side, so nothing is ever killed
// by name. t.Cleanup stops what a call started.
//
// A server that dies with its test binary without its cleanup running (a panic, a
// -timeout) is killed by a small watcher the scripts start beside it, keyed to the test
// binary's pid (TIDEMARK_OWNER_PID).
//
// # Missing servers
//
// In -short mode every call skips its test before looking for, installing or starting
// anything: `go test -short ./...` (make unit) starts no server.
//
// When a server's binaries are missing, the first such call in a process runs
// scripts/install-deps.sh for that server (as root only: it uses apt-get); if that is not
// possible or fails, the test is skipped with the reason, or fails when CI=true or
// TIDEMARK_TEST_REQUIRE_SERVERS=1 (ServersRequired; Unavailable is the one place that
// decides, and tests with other real dependencies use it too). A server that fails to
// start always fails the test. A test never passes without the real server.
//
// # Environment
//
//   - CI=true or TIDEMARK_TEST_REQUIRE_SERVERS=1: a missing server fails the test instead of
//     skipping it (see tiers.go for the three test tiers).
//   - TIDEMARK_STACK_DIR: put data directories there instead of t.TempDir(), and keep them
//     after the test, to inspect a failure.
//   - TIDEMARK_ROOT: the module root, when the tests do not run inside the source tree.
//   - MARIADB_EXTRA_ARGS, REDIS_EXTRA_ARGS, POSTGRES_EXTRA_ARGS: appended to the server's
//     arguments by the scripts (e.g. MARIADB_EXTRA_ARGS=--max-binlog-size=4096).
//
// # Concurrency
//
// A returned server value is meant for the test that started it; its methods that change
// state (Kill, Start, Stop, Restart) must not be called concurrently with each other.
// Package state is limited to a once-per-process attempt to install missing servers.
package stack
