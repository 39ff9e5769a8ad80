#!/usr/bin/env bash
# A throwaway PostgreSQL: trust authentication, superuser "postgres", listening on
# 127.0.0.1:PORT, no fsync (a killed server keeps its commits,
# a crashed machine would not).
#
#   postgres.sh start DIR PORT   data in DIR/data, pid in DIR/pid, log in DIR/log
#   postgres.sh stop DIR         fast shutdown (SIGINT) of exactly the pid in DIR/pid
#   postgres.sh kill DIR         SIGKILL of that pid, then wait for its backends to exit
#
# PostgreSQL refuses to run as root. Run as root, the server runs as PG_USER (default
# "postgres"), DIR/data is owned by it, and every directory above DIR is made traversable
# (o+x) for it: t.TempDir() creates them 0700. The unix socket is in DIR/run, or in /tmp when
# DIR is too deep for the socket path limit. POSTGRES_EXTRA_ARGS is appended to the
# server's arguments.
source "$(dirname "$0")/lib.sh"

PG_USER=${PG_USER:-postgres}

# as_pg CMD...: run CMD as PG_USER. setpriv execs, so a spawned server keeps its own pid.
as_pg_cmd() {
	if [ "$(id -u)" = 0 ]; then
		printf '%s\n' setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --init-groups --
	fi
}

as_pg() {
	local pre
	mapfile -t pre < <(as_pg_cmd)
	"${pre[@]}" "$@"
}

build_datadir() {
	local tmp rc=0
	# initdb runs as PG_USER, which cannot enter root's cache: build in /tmp, then copy.
	tmp=$(mktemp -d /tmp/tidemark-initdb.XXXXXX)
	[ "$(id -u)" = 0 ] && chown "$PG_USER" "$tmp"
	as_pg initdb -D "$tmp/data" -A trust -U postgres -N -E UTF8 --locale=C || rc=$?
	[ "$rc" = 0 ] && cp -a "$tmp/data" "$1"
	rm -rf "$tmp"
	return "$rc"
}

# open_path DIR: let PG_USER reach DIR.
open_path() {
	local d=$1
	while [ "$d" != / ] && [ -n "$d" ]; do
		as_pg test -x "$d" 2>/dev/null || chmod o+x "$d"
		d=$(dirname "$d")
	done
}

pg_ready() {
	psql -X -q -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc 'SELECT 1' | grep -qx 1
}

start() {
	local dir=$1 port=$2 sockdir pre
	need postgres initdb psql
	if [ "$(id -u)" = 0 ]; then
		id "$PG_USER" >/dev/null 2>&1 || die "user $PG_USER does not exist (PostgreSQL cannot run as root; set PG_USER)"
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	refuse_running "$dir"
	check_port "$port"
	if [ ! -d "$dir/data" ]; then
		from_template "postgres-$(postgres --version | awk '{print $3}')" "$dir/data" build_datadir
	fi
	sockdir=$dir/run
	[ "${#sockdir}" -gt 85 ] && sockdir=/tmp
	mkdir -p "$dir/run"
	if [ "$(id -u)" = 0 ]; then
		open_path "$dir"
		chown -R "$PG_USER" "$dir/data" "$dir/run"
	fi
	# After a crash the lock files name a dead postmaster. PostgreSQL tests it with
	# kill(pid, 0), which a zombie passes, so it would refuse to start: drop them when the
	# pid is gone.
	local lock old
	for lock in "$dir/data/postmaster.pid" "$sockdir/.s.PGSQL.$port.lock"; do
		if old=$(head -n 1 "$lock" 2>/dev/null) && ! alive "$old"; then
			rm -f "$lock" "${lock%.lock}"
		fi
	done
	echo "$port" >"$dir/port"
	rm -f "$dir/pid"
	# shellcheck disable=SC2086 # POSTGRES_EXTRA_ARGS is a list of arguments
	mapfile -t pre < <(as_pg_cmd)
	spawn "$dir/pid" "$dir/log" "${pre[@]}" postgres -D "$dir/data" -p "$port" -k "$sockdir" \
		-c listen_addresses=127.0.0.1 -c fsync=off \
		-c full_page_writes=off -c max_connections=200 ${POSTGRES_EXTRA_ARGS:-}
	wait_until "${POSTGRES_START_TIMEOUT:-60}" "starting PostgreSQL on port $port" "$dir/log" "$dir" \
		pg_ready "$port"
}

# kill_pg DIR: SIGKILL the postmaster, as a crash would, then wait for its backends, which
# exit by themselves once they notice; a new postmaster refuses to start while they hold
# the old shared memory.
kill_pg() {
	local p children=()
	for p in $(pids "$1"); do
		mapfile -t -O "${#children[@]}" children < <(pgrep -P "$p" || true)
	done
	kill_pids "$1"
	[ "${#children[@]}" = 0 ] || wait_gone 30 "${children[@]}" ||
		die "backends ${children[*]} still running 30s after their postmaster was killed"
}

case "${1:-}" in
start) [ $# = 3 ] || usage; start "$2" "$3" ;;
stop) [ $# = 2 ] || usage; stop_pids "$2" INT 60 ;;
kill) [ $# = 2 ] || usage; kill_pg "$2" ;;
*) usage ;;
esac
