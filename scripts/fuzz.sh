#!/usr/bin/env bash
# Runs every fuzz target of the module briefly: each `func FuzzX` in a _test.go file, one
# `go test -fuzz` run per target (go test fuzzes one target at a time). A target is found by
# grep, so a new one is fuzzed without editing this script.
#
#   scripts/fuzz.sh [FUZZTIME]      FUZZTIME per target, default 10s (go test -fuzztime);
#                                   FUZZFLAGS adds go test flags (e.g. "-parallel 1")
#
# A crash is written by go test under the package's testdata/fuzz/FuzzX/ and fails the run;
# commit that file with the fix, so the unit tests replay it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-10s}}
go=${GO:-go}

mapfile -t targets < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . |
	grep -v '/testdata/' | sort |
	while read -r f; do
		grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s#^func #$(dirname "$f") #"
	done)
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz.sh: no fuzz target found" >&2; exit 1; }

failed=()
for t in "${targets[@]}"; do
	dir=${t% *} name=${t#* }
	echo "fuzz: $dir $name ($fuzztime)"
	# shellcheck disable=SC2086 # FUZZFLAGS is a list of flags, e.g. "-parallel 1"
	if ! "$go" test ${FUZZFLAGS:-} "$dir" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime"; then
		failed+=("$dir $name")
	fi
done
if [ "${#failed[@]}" -gt 0 ]; then
	printf 'fuzz.sh: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets passed"
