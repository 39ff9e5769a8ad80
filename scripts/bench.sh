#!/usr/bin/env bash
# make bench: Tidemark's benchmark on a throwaway MariaDB and Redis.
#
# Starts both servers on free loopback ports under a temp dir (scripts/mariadb.sh,
# scripts/redis.sh), runs the driver (internal/benchdrv: catch-up of a 1M-row-change
# backlog, decode and Redis ceilings, commit-to-visible lag, Redis memory, and the
# batch layer's extract and roll-forward rebuild of a 10M-row table), tees its
# results table, and stops exactly the servers it started, also on error or Ctrl-C.
# docs/benchmarks.md explains the phases and the numbers.
#
# Environment:
#   BENCH_ARGS    extra driver flags (go run ./internal/benchdrv -h lists them)
#   BENCH_OUT     where results.md and the work files are kept (default .stack/bench)
#   BENCH_MICRO=1 also run the packages' micro-benchmarks (go test -bench), each with an
#                 iteration count that finishes well within a minute; output in micro.txt
#   BENCH_WAREHOUSE=1 also run the PostgreSQL warehouse load benchmark (its own throwaway
#                 PostgreSQL): a generation of BENCH_WAREHOUSE_ROWS rows (default 10000000)
#                 from Parquet to swapped in, beside a bare COPY ceiling; output in warehouse.txt;
#                 then one view computed by the local engine and pushed down to PostgreSQL
#                 on that table (batch.engine), each beside its ceiling; view-pushdown.txt
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

out=${BENCH_OUT:-$root/.stack/bench}
mkdir -p "$out"
dir=$(mktemp -d "${TMPDIR:-/tmp}/tidemark-bench.XXXXXX")

cleanup() {
	bash "$root/scripts/redis.sh" stop "$dir/redis" >/dev/null 2>&1 || true
	bash "$root/scripts/mariadb.sh" stop "$dir/mariadb" >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
maria_port=$(free_port)
redis_port=$(free_port)

echo "bench: building bin/tidemark and the driver" >&2
go build -o bin/tidemark ./cmd/tidemark
go build -o "$dir/benchdrv" ./internal/benchdrv

echo "bench: starting MariaDB on 127.0.0.1:$maria_port and Redis on 127.0.0.1:$redis_port (in $dir)" >&2
bash scripts/mariadb.sh start "$dir/mariadb" "$maria_port"
bash scripts/redis.sh start "$dir/redis" "$redis_port"

rm -rf "$out/work"
mkdir -p "$out/work"
results="$out/results.md"
start=$SECONDS
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
"$dir/benchdrv" -maria-port "$maria_port" -redis-port "$redis_port" \
	-maria-pid "$dir/mariadb/pid" -redis-pid "$dir/redis/pid" \
	-bin "$root/bin/tidemark" -dir "$out/work" -cpuprofile "$out/work/ceilings.cpu.pprof" \
	${BENCH_ARGS:-} | tee "$results"
status=${PIPESTATUS[0]}
echo "bench: driver finished in $((SECONDS - start))s with status $status; table in $results, logs in $out/work" >&2
if [ "$status" -ne 0 ]; then
	exit "$status"
fi

if [ "${BENCH_MICRO:-}" = 1 ]; then
	# The servers are stopped first: the micro-benchmarks start their own. Each package
	# gets an iteration count that gives a stable number in well under a minute.
	cleanup
	trap - EXIT
	echo "bench: package micro-benchmarks" >&2
	micro() {
		local bench=$1 time=$2
		shift 2
		go test -run '^$' -bench "$bench" -benchtime "$time" -count 1 -timeout 5m "$@"
	}
	{
		micro . 1s ./formats
		micro . 1x ./realtime/capture ./batch/snapshot ./batch
		micro ApplyAgg 100x ./realtime/redisview
		micro Memory 1x ./realtime/redisview
		micro ApplierBacklog 20000x ./realtime/apply
		micro ApplierLatency 2000x ./realtime/apply
		micro . 2000x ./reporting
	} 2>&1 | tee "$out/micro.txt"
fi

if [ "${BENCH_WAREHOUSE:-}" = 1 ]; then
	cleanup # the benchmark starts its own PostgreSQL; MariaDB and Redis are done
	trap - EXIT
	echo "bench: warehouse load (PostgreSQL), ${BENCH_WAREHOUSE_ROWS:-10000000} rows" >&2
	TIDEMARK_BENCH_WAREHOUSE_ROWS=${BENCH_WAREHOUSE_ROWS:-10000000} \
		go test -run '^$' -bench BenchmarkLoadGeneration -benchtime 1x -count 1 -timeout 60m \
		./batch/warehouse/postgres 2>&1 | tee "$out/warehouse.txt"
	echo "bench: view pushdown (local engine vs PostgreSQL), ${BENCH_WAREHOUSE_ROWS:-10000000} rows" >&2
	TIDEMARK_BENCH_WAREHOUSE_ROWS=${BENCH_WAREHOUSE_ROWS:-10000000} \
		go test -run '^$' -bench BenchmarkViewPushdown -benchtime 1x -count 1 -timeout 60m \
		./batch/warehouse/postgres 2>&1 | tee "$out/view-pushdown.txt"
fi
