#!/usr/bin/env bash
# The whole test suite. First the normal -Werror build: unit tests (cmocka),
# integration tests against a private slapd, the layer checks, the
# hardening check and the lints (clang-format, mandoc, shellcheck). Then,
# unless --quick: a clang -Weverything build with its unit tests, the clang
# static analyzer (scan-build), a coverage build whose test run is measured
# with gcovr, each fuzz target of tests/fuzz for 30 seconds (clang,
# build-fuzz), the Debian packages (tests/package: built, installed into a
# Debian 12 root, a login, purged), and the whole suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer (last, so its ctest summary closes the run).
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    the normal build and tests only
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

configure_and_build() {
	local dir=$1
	shift
	cmake -S . -B "$dir" -DIDGOV_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j "$(nproc)" >/dev/null
}

run_suite() {
	local dir=$1
	shift
	configure_and_build "$dir" "$@"
	(cd "$dir" && ctest --output-on-failure -j 2)
}

step() {
	echo "== $* (at ${SECONDS}s)"
}

step "build and test (-Werror)"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${1:-}" != "--quick" ]; then
	step "clang -Weverything (IDGOV_CLANG_STRICT, -Werror): build everything, unit tests"
	CC=clang configure_and_build build-clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIDGOV_CLANG_STRICT=ON
	(cd build-clang && ctest --output-on-failure -j 2 -R unit_)

	step "clang static analyzer (scan-build --status-bugs)"
	rm -rf build-scan
	scan-build -o build-scan/reports cmake -S . -B build-scan -DCMAKE_BUILD_TYPE=Debug >/dev/null
	if ! scan-build -o build-scan/reports --status-bugs cmake --build build-scan -j "$(nproc)" \
		>build-scan/scan.log 2>&1; then
		grep -E 'warning:|error:|scan-build:' build-scan/scan.log >&2
		exit 1
	fi
	grep 'scan-build:' build-scan/scan.log

	step "coverage of the unit and integration suites (gcovr)"
	configure_and_build build-cov -DCMAKE_BUILD_TYPE=Debug -DIDGOV_COVERAGE=ON
	# Some integration tests run the programs under other uids (setpriv):
	# let them write their counts too (a scratch build, never installed).
	find build-cov -name '*.gcda' -delete
	chmod -R a+rwX build-cov
	(cd build-cov && ctest --output-on-failure -j 2)
	scripts/coverage.sh build-cov

	# The crashes found so far are replayed by the suites as the
	# fuzz_replay_* tests; this looks for new ones and fails on any.
	step "fuzz targets, 30 s each"
	scripts/fuzz.sh 30

	# The .debs built, linted, installed into a clean Debian 12 root, an
	# MFA login through the installed module, purged (about 80 s; the
	# first run makes the root with mmdebstrap, about 40 s more).
	step "Debian packages (tests/package/run.sh)"
	tests/package/run.sh build-pkgtest

	step "build and test under ASan + UBSan"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DIDGOV_SANITIZE=ON
fi
