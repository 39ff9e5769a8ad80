#!/usr/bin/env bash
# A throwaway Redis without persistence: a stop and a start give an empty server.
#
#   redis.sh start DIR PORT   pid in DIR/pid, log in DIR/log
#   redis.sh stop DIR         SIGTERM to exactly the pid in DIR/pid, wait for exit
#   redis.sh kill DIR         SIGKILL of that pid
#
# REDIS_EXTRA_ARGS is appended to the server's arguments.
source "$(dirname "$0")/lib.sh"

start() {
	local dir=$1 port=$2
	need redis-server redis-cli
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	refuse_running "$dir"
	check_port "$port"
	rm -f "$dir/pid"
	echo "$port" >"$dir/port"
	# Not --daemonize: redis would write its pid file only after forking, and spawn already
	# records the server's own pid and detaches it from our stdio.
	# shellcheck disable=SC2086 # REDIS_EXTRA_ARGS is a list of arguments
	spawn "$dir/pid" "$dir/log" redis-server --port "$port" --bind 127.0.0.1 \
		--save "" --appendonly no --dir "$dir" --logfile "$dir/log" \
		${REDIS_EXTRA_ARGS:-}
	wait_until "${REDIS_START_TIMEOUT:-30}" "starting Redis on port $port" "$dir/log" "$dir" \
		redis_ping "$port"
}

redis_ping() {
	[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

case "${1:-}" in
start) [ $# = 3 ] || usage; start "$2" "$3" ;;
stop) [ $# = 2 ] || usage; stop_pids "$2" TERM 30 ;;
kill) [ $# = 2 ] || usage; kill_pids "$2" ;;
*) usage ;;
esac
