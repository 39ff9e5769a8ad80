#!/usr/bin/env bash
# Installs the servers and tools Tidemark's tests and demo run, reusing whatever is already
# there: MariaDB, Redis, PostgreSQL, sysbench, wrk and Chromium from Debian packages (needs root), and
# MinIO built from source with `go install` into ~/.cache/tidemark/bin.
#
#   install-deps.sh [PART...]           install what is missing; prints what it does
#   install-deps.sh --check [PART...]   list what is missing, exit 1 if anything is
#
# PART is one of mariadb, redis, postgres, minio, tools (sysbench, wrk, curl), browser (Debian
# Chromium and Node.js, for the dashboard check in headless Chromium); none means all.
#
# Idempotent and safe to run concurrently: MinIO's build holds a lock, apt-get holds its own.
source "$(dirname "$0")/lib.sh"

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# part -> "binary:Debian package providing it" ...
declare -A PARTS=(
	[mariadb]="mariadbd:mariadb-server mariadb-install-db:mariadb-server mariadb:mariadb-client"
	[redis]="redis-server:redis-server redis-cli:redis-tools"
	[postgres]="postgres:postgresql initdb:postgresql psql:postgresql-client"
	[minio]="curl:curl"
	[tools]="sysbench:sysbench wrk:wrk curl:curl"
	[browser]="chromium:chromium node:nodejs npm:npm"
)
WANT=()

missing_debs() {
	local part pair
	for part in "${WANT[@]}"; do
		for pair in ${PARTS[$part]}; do
			command -v "${pair%%:*}" >/dev/null 2>&1 || echo "${pair#*:}"
		done
	done | sort -u
}

want_minio() {
	local part
	for part in "${WANT[@]}"; do
		[ "$part" = minio ] && return 0
	done
	return 1
}

have_minio() {
	[ -x "$TIDEMARK_BIN/minio" ] || command -v minio >/dev/null 2>&1
}

check() {
	local debs
	mapfile -t debs < <(missing_debs)
	want_minio && ! have_minio && debs+=("minio (go install)")
	if [ "${#debs[@]}" -gt 0 ]; then
		echo "missing: ${debs[*]}"
		return 1
	fi
	echo "all present"
}

install_debs() {
	local debs
	mapfile -t debs < <(missing_debs)
	[ "${#debs[@]}" -gt 0 ] || return 0
	[ "$(id -u)" = 0 ] || die "missing Debian packages ${debs[*]}; run this script as root (apt-get)"
	echo "installing ${debs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
}

install_minio() {
	want_minio || return 0
	have_minio && return 0
	need go
	mkdir -p "$TIDEMARK_BIN"
	# One build at a time: a second would only redo the same minutes of work.
	exec 8>"$TIDEMARK_BIN/.minio-install.lock"
	flock 8
	if ! have_minio; then
		echo "building minio@$MINIO_VERSION into $TIDEMARK_BIN (takes minutes)"
		GOBIN="$TIDEMARK_BIN" go install "github.com/minio/minio@$MINIO_VERSION"
	fi
	flock -u 8
}

mode=install
if [ "${1:-}" = --check ]; then
	mode=check
	shift
fi
for part in "$@"; do
	[ -n "${PARTS[$part]:-}" ] || { echo "usage: $(basename "$0") [--check] [mariadb|redis|postgres|minio|tools|browser]..." >&2; exit 2; }
	WANT+=("$part")
done
[ "${#WANT[@]}" -gt 0 ] || WANT=(mariadb redis postgres minio tools browser)

if [ "$mode" = check ]; then
	check
	exit
fi
install_debs
install_minio
add_pg_path
hash -r
check >/dev/null || die "still $(check)"
