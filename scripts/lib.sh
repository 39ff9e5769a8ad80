# shellcheck shell=bash
# Shared helpers of the server scripts (mariadb.sh, redis.sh, ...). Sourced, never run.
#
# The model: one server (or one small group of servers) per directory DIR. DIR/pid holds
# the pid(s) of what was started, one per line, and DIR/log (or DIR/*.log) its output.
# stop and kill act on exactly those pids and nothing else: several test servers and the
# machine's own servers run side by side, so nothing is ever killed by name.
#
# A process that has exited but was never reaped (a zombie: our servers are reparented to
# pid 1, which on some machines does not reap) counts as gone.

set -euo pipefail

# Tools live in sbin and in versioned PostgreSQL dirs on Debian; MinIO is built into the
# tidemark cache by install-deps.sh.
TIDEMARK_BIN="${TIDEMARK_BIN:-$HOME/.cache/tidemark/bin}"
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:$TIDEMARK_BIN"
add_pg_path() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -d "$d" ] && case ":$PATH:" in *":$d:"*) ;; *) PATH="$PATH:$d" ;; esac
	done
	export PATH
}
add_pg_path

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

need() {
	local b
	for b in "$@"; do
		command -v "$b" >/dev/null 2>&1 || die "$b not found on PATH (run scripts/install-deps.sh as root)"
	done
}

# alive PID: the process exists and is not a zombie (one with no thread left running).
alive() {
	local pid=$1 stat
	[ -n "$pid" ] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ] && return 0
	# A zombie thread-group leader whose other threads are still exiting holds the
	# process's files (its listening sockets among them) until the last one is gone: a
	# restart on the same port right after SIGKILL would find the port still taken.
	local tasks=("/proc/$pid/task/"*)
	[ "${#tasks[@]}" -gt 1 ]
}

# pids DIR: the pids recorded in DIR/pid, one per line (empty if none).
pids() {
	[ -f "$1/pid" ] || return 0
	grep -E '^[0-9]+$' "$1/pid" || true
}

# wait_gone TIMEOUT_S PID...: true once none of the pids is alive.
wait_gone() {
	local deadline=$((SECONDS + $1)) p any
	shift
	while :; do
		any=
		for p in "$@"; do
			alive "$p" && any=1
		done
		[ -z "$any" ] && return 0
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# stop_pids DIR [SIGNAL] [TIMEOUT_S]: signal every pid in DIR/pid, wait until they are gone.
# A server that ignores the signal past the timeout is killed with SIGKILL, and that is
# reported, because it means its shutdown is broken.
stop_pids() {
	local dir=$1 sig=${2:-TERM} timeout=${3:-30} p
	local ps
	mapfile -t ps < <(pids "$dir")
	[ "${#ps[@]}" -gt 0 ] || return 0
	for p in "${ps[@]}"; do
		alive "$p" && kill "-$sig" "$p" 2>/dev/null || true
	done
	if ! wait_gone "$timeout" "${ps[@]}"; then
		echo "$(basename "$0"): pid(s) ${ps[*]} still running ${timeout}s after SIG$sig; sending SIGKILL" >&2
		kill_pids "$dir"
	fi
	rm -f "$dir/pid"
}

# kill_pids DIR: SIGKILL every pid in DIR/pid and wait until they are gone.
kill_pids() {
	local dir=$1 p
	local ps
	mapfile -t ps < <(pids "$dir")
	[ "${#ps[@]}" -gt 0 ] || return 0
	for p in "${ps[@]}"; do
		alive "$p" && kill -9 "$p" 2>/dev/null || true
	done
	wait_gone 10 "${ps[@]}" || die "pid(s) ${ps[*]} survived SIGKILL"
	rm -f "$dir/pid"
}

# refuse_running DIR: a second start on the same DIR would fight over its files.
refuse_running() {
	local p
	for p in $(pids "$1"); do
		alive "$p" && die "$1 already has a running server (pid $p); stop it first"
	done
	return 0
}

# spawn PIDFILE LOG CMD...: run CMD in the background, detached from our stdio (a caller
# that reads our output must not wait for the server to exit), and append its pid to
# PIDFILE. The pid is the server's own: the shell execs it.
spawn() {
	local pidfile=$1 log=$2
	shift 2
	nohup sh -c 'echo $$ >>"$0"; exec "$@"' "$pidfile" "$@" >>"$log" 2>&1 </dev/null &
	# The pid line is written by the child; wait for it so callers can read it at once.
	local deadline=$((SECONDS + 5))
	while ! grep -q "^$!\$" "$pidfile" 2>/dev/null; do
		[ "$SECONDS" -ge "$deadline" ] && die "starting $1: no pid written"
		sleep 0.01
	done
	watch_owner "$!"
}

# watch_owner PID: when TIDEMARK_OWNER_PID is set (the Go test helper sets it to the test
# binary's pid), start a watcher that SIGKILLs PID once the owner is gone, so a test that
# dies without running its cleanups (a panic, a timeout) leaves no server behind.
watch_owner() {
	local pid=$1 owner=${TIDEMARK_OWNER_PID:-}
	[ -n "$owner" ] || return 0
	nohup bash -c '
		source "$0"
		set +e
		while alive "$1" && alive "$2"; do sleep 1; done
		alive "$1" && kill -9 "$1"
		exit 0' "$TIDEMARK_SCRIPTS/lib.sh" "$pid" "$owner" >/dev/null 2>&1 </dev/null &
}

# wait_until TIMEOUT_S WHAT LOG PIDFILE_DIR CMD...: poll CMD until it succeeds. Fails with the
# tail of LOG when the timeout passes or when the server died meanwhile.
wait_until() {
	local timeout=$1 what=$2 log=$3 dir=$4 p
	shift 4
	local deadline=$((SECONDS + timeout))
	while ! "$@" >/dev/null 2>&1; do
		for p in $(pids "$dir"); do
			if ! alive "$p"; then
				echo "$(basename "$0"): $what: server pid $p exited; last lines of $log:" >&2
				tail -n 30 "$log" >&2 || true
				exit 1
			fi
		done
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$(basename "$0"): $what: no answer after ${timeout}s; last lines of $log:" >&2
			tail -n 30 "$log" >&2 || true
			exit 1
		fi
		sleep 0.1
	done
}

# check_port PORT: a clear error instead of a server that fails to bind deep in its log.
check_port() {
	local port=$1
	[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "bad port '$port'"
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port on 127.0.0.1 is already in use"
	fi
}

# short_sock DIR NAME: a unix socket path under DIR, or under /tmp when DIR is too deep
# for the 107-byte sun_path limit (t.TempDir() paths carry the test name).
short_sock() {
	local p="$1/$2"
	if [ "${#p}" -gt 100 ]; then
		p="/tmp/tidemark-$(printf %s "$1" | md5sum | cut -c1-12)-$2"
	fi
	printf %s "$p"
}

# from_template KEY DEST BUILDER: make DEST a copy of the cached data dir KEY, building the
# cache first with `BUILDER DIR` (which must create DIR). Initialising a data dir costs a
# second or more; a copy costs a few milliseconds. KEY carries the server's version.
from_template() {
	local key=$1 dest=$2 builder=$3 cache="$HOME/.cache/tidemark/templates" tpl tmp
	tpl="$cache/$key"
	mkdir -p "$cache"
	if [ ! -d "$tpl" ]; then
		# One builder at a time; the others wait and reuse its result.
		exec 9>"$cache/.$key.lock"
		flock 9
		if [ ! -d "$tpl" ]; then
			tmp=$(mktemp -d "$cache/.$key.XXXXXX")
			if ! "$builder" "$tmp/data" >"$tmp/build.log" 2>&1; then
				tail -n 30 "$tmp/build.log" >&2
				rm -rf "$tmp"
				die "initialising the $key data dir failed"
			fi
			mv "$tmp/data" "$tpl"
			rm -rf "$tmp"
		fi
		flock -u 9
		exec 9>&-
	fi
	cp -a "$tpl" "$dest"
}

usage() {
	echo "usage: $(basename "$0") start DIR PORT | stop DIR | kill DIR" >&2
	exit 2
}

TIDEMARK_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export TIDEMARK_SCRIPTS
