// Package e2e holds Tidemark's end-to-end tests: the real binary, run as a
// child process against real MariaDB (row binlog) and Redis started by
// internal/stack, driven by the shop workload and judged by `tidemark
// verify`. They prove the invariants of DESIGN.md: exactness, exactly once
// across kill -9, bootstrap under writes, DDL, purged binlogs, Redis lost,
// replication connection killed, Redis Cluster.
package e2e
