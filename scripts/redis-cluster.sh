#!/usr/bin/env bash
# A throwaway Redis Cluster of three masters, no replicas, no persistence of data.
#
#   redis-cluster.sh start DIR PORT   nodes on PORT, PORT+1, PORT+2 (cluster bus on
#                                     PORT+10000..PORT+10002); the three pids in DIR/pid, one
#                                     per line; node i's log in DIR/node<i>.log
#   redis-cluster.sh stop DIR         SIGTERM to exactly those pids, wait for exit
#   redis-cluster.sh kill DIR         SIGKILL of those pids
#
# start returns once every node reports cluster_state:ok. The cluster layout lives in
# DIR/node<i>.conf: a second start on the same DIR rejoins the same (empty) cluster instead
# of creating a new one.
source "$(dirname "$0")/lib.sh"

NODES=3

cluster_ok() {
	local i
	for ((i = 0; i < NODES; i++)); do
		redis-cli -h 127.0.0.1 -p $(($1 + i)) cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
	done
}

nodes_ping() {
	local i
	for ((i = 0; i < NODES; i++)); do
		[ "$(redis-cli -h 127.0.0.1 -p $(($1 + i)) ping 2>/dev/null)" = PONG ] || return 1
	done
}

start() {
	local dir=$1 port=$2 i p fresh=
	need redis-server redis-cli
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	refuse_running "$dir"
	[ "$((port + NODES - 1 + 10000))" -lt 65536 ] || die "port $port too high: the cluster bus needs port+10000 < 65536"
	for ((i = 0; i < NODES; i++)); do
		check_port $((port + i))
		check_port $((port + i + 10000))
	done
	[ -f "$dir/node0.conf" ] || fresh=1
	rm -f "$dir/pid"
	echo "$port" >"$dir/port"
	for ((i = 0; i < NODES; i++)); do
		p=$((port + i))
		spawn "$dir/pid" "$dir/node$i.log" redis-server --port "$p" --bind 127.0.0.1 \
			--save "" --appendonly no --dir "$dir" --logfile "$dir/node$i.log" \
			--cluster-enabled yes --cluster-config-file "$dir/node$i.conf" \
			--cluster-node-timeout 5000
	done
	wait_until 30 "starting Redis Cluster nodes on ports $port-$((port + NODES - 1))" \
		"$dir/node0.log" "$dir" nodes_ping "$port"
	if [ -n "$fresh" ]; then
		local addrs=()
		for ((i = 0; i < NODES; i++)); do
			addrs+=("127.0.0.1:$((port + i))")
		done
		if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes \
			>"$dir/create.log" 2>&1; then
			cat "$dir/create.log" >&2
			die "creating the cluster failed"
		fi
	fi
	wait_until "${REDIS_START_TIMEOUT:-30}" "waiting for cluster_state:ok on ports $port-$((port + NODES - 1))" \
		"$dir/node0.log" "$dir" cluster_ok "$port"
}

case "${1:-}" in
start) [ $# = 3 ] || usage; start "$2" "$3" ;;
stop) [ $# = 2 ] || usage; stop_pids "$2" TERM 30 ;;
kill) [ $# = 2 ] || usage; kill_pids "$2" ;;
*) usage ;;
esac
