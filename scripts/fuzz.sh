#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang in build-fuzz and
# runs each for SECONDS (default 30), at most JOBS at once (default 2), on
# a scratch corpus seeded from tests/fuzz/corpus/TARGET and
# tests/fuzz/regress/TARGET. Prints per target: executions, exec/s, corpus
# size and findings (crash, leak, timeout or out-of-memory inputs, kept in
# build-fuzz/fuzz-work/TARGET/). Exits 1 if any target found anything.
#
#   scripts/fuzz.sh [SECONDS [JOBS]]    FUZZ_TARGETS="time cidr" to run some
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-30}
JOBS=${2:-2}
# The same list as IDGOV_FUZZ_TARGETS in tests/fuzz/CMakeLists.txt.
TARGETS=${FUZZ_TARGETS:-control config decisions time cidr mirror dn audit_keys authproto bgcodes spool token cursor}
B=$ROOT/build-fuzz
WORK=$B/fuzz-work

CC=clang cmake -S . -B "$B" -DIDGOV_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j "$(nproc)" --target fuzz >/dev/null

run_one() {
	local t=$1 w=$WORK/$1 seeds=() dict=()
	rm -rf "$w"
	mkdir -p "$w/corpus"
	seeds=("$ROOT/tests/fuzz/corpus/$t")
	[ -d "$ROOT/tests/fuzz/regress/$t" ] && seeds+=("$ROOT/tests/fuzz/regress/$t")
	# A target without a dictionary runs without one (libFuzzer refuses a missing file).
	[ -s "$ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
	# New inputs go to the first folder (scratch), never into the tree's seeds.
	nice -n 10 "$B/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
		"${dict[@]}" -artifact_prefix="$w/" -timeout=10 \
		-rss_limit_mb=2048 "$w/corpus" "${seeds[@]}" >"$w/log" 2>&1 || true
}

report() {
	local t=$1 w=$WORK/$1 execs rate corpus findings
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$w/log" | tail -1)
	corpus=$(grep -o 'corp: [0-9]*' "$w/log" | tail -1 | cut -d' ' -f2)
	findings=$(find "$w" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | wc -l)
	printf '%-10s %8ss %12s %8s %7s %9s\n' "$t" "$SECONDS_EACH" "${execs:-?}" "${rate:-?}" \
		"${corpus:-?}" "$findings"
	if [ "$findings" -ne 0 ] || [ -z "$execs" ]; then
		grep -E 'ERROR|SUMMARY|runtime error' "$w/log" | head -5 >&2 || true
		echo "fuzz: $t: see $w/log and the inputs beside it" >&2
		return 1
	fi
}

running=0
for t in $TARGETS; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
wait

printf '%-10s %9s %12s %8s %7s %9s\n' target time executions exec/s corpus findings
failed=0
for t in $TARGETS; do
	report "$t" || failed=1
done
exit "$failed"
