#!/usr/bin/env bash
# Fails when a tracked file is over 1 MiB: built binaries, profiles and generated data do not
# belong in the repository (a committed 60 MB binary once made a whole session's work too big
# to land). Scripts regenerate data; `make build` writes bin/ (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
big=$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$1 > 1048576 { print "  " $2 " (" $1 " bytes)" }')
if [ -n "$big" ]; then
	echo "check-sizes: tracked files over 1 MiB:" >&2
	echo "$big" >&2
	exit 1
fi
