// Command benchdrv is the driver behind `make bench` (scripts/bench.sh): it
// measures Tidemark's speed layer end to end, and the batch layer's extract
// and rebuild of a large table, on a MariaDB and a Redis the script started,
// with the real `tidemark run` and `tidemark batch` as child processes, and
// prints one results table (docs/benchmarks.md explains it).
//
// # Phases, in order
//
//  0. API (apiphase.go): on its own database and views, `tidemark run
//     --roles speed,api` answers an open-loop 2,000 requests/s (a
//     1,000-group view, a 31-row slice, a join of 1,000 customers) while a
//     writer applies 2,000 row changes/s; latency p50/p99/max measured from
//     each request's due time, and the process's peak RSS. -api-only stops
//     after it; -api-seconds 0 skips it.
//     OLTP (oltpphase.go): on its own database, a sysbench oltp_write_only
//     backlog of 4-row transactions (-oltp-txns, default 250,000; 0 skips
//     it) written with Tidemark stopped, go-mysql's decode of it, and
//     -oltp-runs catch-ups of `tidemark run` (odd ones of -oltp-compare's
//     binary, if set), then `tidemark verify`. -oltp-only stops after it.
//  1. Bootstrap: the shop schema with a small seed, then `tidemark run`
//     until every view has a checkpoint in Redis; SIGTERM.
//  2. Backlog: with Tidemark stopped, a writer commits large transactions
//     of 1,000-row INSERT ... SELECT and UPDATE statements into shop.orders
//     as fast as MariaDB takes them (at least 1,000,000 row changes), and
//     notes the source's binlog position after its last commit.
//  3. Ceilings of the same binlog range, with nothing applied to Redis:
//     go-mysql's BinlogSyncer decoding and counting rows (the library's raw
//     rate); capture.Stream (rows converted to canonical values and grouped
//     into transactions); and capture.Stream feeding apply.Applier with a
//     store that discards the batches (everything Tidemark does in Go).
//  4. Catch-up: `tidemark run` again; row changes per second until every
//     view's checkpoint (HGET tm:{view}:meta ckpt) reaches the position of
//     phase 2, with the child's RSS (VmRSS, VmHWM) and the CPU time of
//     Tidemark, MariaDB and Redis sampled from /proc; then `tidemark
//     verify` proves the views equal the source.
//  5. Redis memory: MEMORY USAGE of every key of the views, per mirrored
//     row and per aggregate group, and INFO used_memory against the empty
//     server.
//  6. Lag: a steady paced writer (default 200 transactions/s of 10 row
//     updates) against the running Tidemark; each transaction's GTID is
//     read right after its commit returns, and a poller sees the views'
//     checkpoints reach it. Commit-to-visible p50/p99/max.
//  7. Redis ceilings: redis-benchmark (-P 64) for HSET, HINCRBY and EVAL of
//     a small script, and a Lua script that HSETs 1,000 mirror-sized rows
//     per call, as the mirror apply script does.
//  8. Batch layer (batchphase.go; -batch-rows, default 10,000,000, 0
//     skips it): a table of that many rows in its own database, `tidemark
//     batch --from-source` (extract rows/s) and, after 1% of the rows
//     changed, `tidemark batch` rolling that generation forward with the
//     archive (rows/s), each with its peak RSS (ru_maxrss) and CPU time.
//
// The driver never starts or stops the servers: scripts/bench.sh owns them.
// It stops the Tidemark processes it started, by their own pid.
package main
