#!/usr/bin/env bash
# A throwaway MariaDB configured as a Tidemark source: row-based binlog with full row
# images and full row metadata, GTIDs, server_id 1, root with an empty password over TCP.
#
#   mariadb.sh start DIR PORT   data in DIR/data, pid in DIR/pid, log in DIR/log
#   mariadb.sh stop DIR         graceful shutdown of exactly the pid in DIR/pid
#   mariadb.sh kill DIR         SIGKILL of that pid (crash tests)
#
# A new DIR is initialised from a template data dir kept in ~/.cache/tidemark (built once
# per MariaDB version with mariadb-install-db), which makes a fresh server start in about a
# second instead of three. An existing DIR/data is reused as is, so kill then start is a
# crash and a recovery. MARIADB_EXTRA_ARGS is appended to the server's arguments (e.g.
# "--max-binlog-size=4096" for binlog rotation and purge tests).
source "$(dirname "$0")/lib.sh"

build_datadir() {
	mariadb-install-db --no-defaults --datadir="$1" --user="$(id -un)" \
		--auth-root-authentication-method=normal --skip-test-db --innodb-log-file-size=16M
}

client() {
	local port=$1
	shift
	mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P "$port" -u root --connect-timeout=2 "$@"
}

start() {
	local dir=$1 port=$2
	need mariadbd mariadb
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	refuse_running "$dir"
	check_port "$port"
	if [ ! -d "$dir/data" ]; then
		need mariadb-install-db
		from_template "mariadb-$(mariadbd --version | awk '{print $3}')" "$dir/data" build_datadir
	fi
	echo "$port" >"$dir/port"
	rm -f "$dir/pid"
	local user=()
	[ "$(id -u)" = 0 ] && user=(--user=root)
	# shellcheck disable=SC2086 # MARIADB_EXTRA_ARGS is a list of arguments
	spawn "$dir/pid" "$dir/log" mariadbd --no-defaults "${user[@]}" \
		--datadir="$dir/data" --socket="$(short_sock "$dir" sock)" \
		--port="$port" --bind-address=127.0.0.1 --pid-file="$dir/data/mariadbd.pid" \
		--log-bin="$dir/data/mariadb-bin" --binlog-format=ROW --binlog-row-image=FULL \
		--binlog-row-metadata=FULL --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci --server-id=1 --log-slave-updates --gtid-strict-mode=1 \
		--innodb-buffer-pool-size=256M --innodb-log-file-size=16M \
		--innodb-flush-log-at-trx-commit=2 --sync-binlog=0 \
		--skip-name-resolve --max-connections=500 \
		${MARIADB_EXTRA_ARGS:-}
	wait_until "${MARIADB_START_TIMEOUT:-60}" "starting MariaDB on port $port" "$dir/log" "$dir" \
		client "$port" -e 'SELECT 1'
}

case "${1:-}" in
start) [ $# = 3 ] || usage; start "$2" "$3" ;;
stop) [ $# = 2 ] || usage; stop_pids "$2" TERM 60 ;;
kill) [ $# = 2 ] || usage; kill_pids "$2" ;;
*) usage ;;
esac
