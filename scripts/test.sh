#!/usr/bin/env bash
# The whole test suite: unit tests (cmocka) and integration tests against a
# private slapd, first in a normal -Werror build, then again under
# AddressSanitizer and UndefinedBehaviorSanitizer, then each fuzz target
# of tests/fuzz for 30 seconds (built with clang in build-fuzz).
#
#   scripts/test.sh            both builds and the fuzz targets
#   scripts/test.sh --quick    the normal build only
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

run_suite() {
	local dir=$1
	shift
	cmake -S . -B "$dir" -DIDGOV_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j "$(nproc)" >/dev/null
	(cd "$dir" && ctest --output-on-failure -j 2)
}

echo "== build and test (-Werror)"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${1:-}" != "--quick" ]; then
	echo "== build and test under ASan + UBSan"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DIDGOV_SANITIZE=ON
	unset ASAN_OPTIONS UBSAN_OPTIONS

	# The crashes found so far are replayed by both suites above; this
	# looks for new ones and fails on any.
	echo "== fuzz targets, 30 s each"
	scripts/fuzz.sh 30
fi
