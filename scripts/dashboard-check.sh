#!/usr/bin/env bash
# Headless check of the reporting dashboard: every number the page shows must
# equal the API's answer to the same query (table and chart, also after using
# the filter, group-by and order controls); saves a screenshot.
#
#   scripts/dashboard-check.sh [URL] [OUT.png]
#
# URL is a running Tidemark API (e.g. `tidemark demo`); TIDEMARK_TOKEN is sent
# as its bearer token if set. Without URL the script starts the reporting
# package's fixture server (a throwaway Redis with a 1,000-group view that
# the speed layer keeps changing) and stops it afterwards. OUT defaults to
# docs/dashboard.png.
#
# Needs chromium (installed with apt-get when missing and running as root)
# and node; playwright-core (driver only, no browser download) is installed
# with npm into $TIDEMARK_CACHE/node (default ~/.cache/tidemark/node).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
url=${1:-}
out=${2:-$root/docs/dashboard.png}
cache=${TIDEMARK_CACHE:-$HOME/.cache/tidemark}/node
pw_version=1.65.1

die() { echo "dashboard-check: $*" >&2; exit 1; }

chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
	[ "$(id -u)" = 0 ] || die "chromium not found; install it (apt-get install chromium) or set CHROMIUM"
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null; } ||
		die "installing chromium with apt-get failed"
	chromium=$(command -v chromium)
fi
command -v node >/dev/null || die "node not found; install nodejs"
if [ ! -f "$cache/node_modules/playwright-core/package.json" ]; then
	mkdir -p "$cache"
	npm install --silent --no-audit --no-fund --prefix "$cache" "playwright-core@$pw_version" >/dev/null ||
		die "npm install playwright-core@$pw_version failed"
fi

server_pid=
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	[ -z "${work:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$url" ]; then
	work=$(mktemp -d)
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	(cd "$root" && go test -c -o "$work/reporting.test" ./reporting) || die "building the fixture server failed"
	TIDEMARK_DASHBOARD_ADDR=127.0.0.1:$port TIDEMARK_DASHBOARD_SECONDS=600 TIDEMARK_DASHBOARD_TOKEN=${TIDEMARK_TOKEN:-} \
		"$work/reporting.test" -test.run '^TestDashboardFixtureServer$' -test.v >"$work/server.log" 2>&1 &
	server_pid=$!
	url=http://127.0.0.1:$port/
	for _ in $(seq 150); do
		curl -fsS "${url}readyz" >/dev/null 2>&1 && break
		kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the fixture server exited"; }
		sleep 0.2
	done
	curl -fsS "${url}readyz" >/dev/null || { cat "$work/server.log" >&2; die "the fixture server did not come up"; }
	grep -q "SKIP" "$work/server.log" && { cat "$work/server.log" >&2; die "the fixture server skipped"; }
fi

mkdir -p "$(dirname "$out")"
PLAYWRIGHT_CORE="$cache/node_modules/playwright-core" CHROMIUM="$chromium" \
	node "$root/scripts/dashboard-check.cjs" "$url" "$out"
