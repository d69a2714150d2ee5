# shellcheck shell=bash
# Shared helpers for the integration tests: each test gets a private
# directory, a private slapd on 127.0.0.1 (tests/lib/slapd.sh), an
# idgov.conf pointing everything into that directory, and assertions
# that count what passed and failed.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${IDGOV_BUILD:-$ROOT/build}
IDGOV=$BUILD/idgov/idgov
IDGOVD=$BUILD/idgov/idgovd
AUTHD=$BUILD/idgov/idgov-authd
# shellcheck source=../lib/slapd.sh
. "$ROOT/tests/lib/slapd.sh"

T=$(mktemp -d /tmp/idgov-it.XXXXXX)
chmod 755 "$T"
# Under the sanitizers, every process (the daemon too, whose stderr is
# /dev/null) writes its reports here, and finish() fails on any.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	mkdir -m 1777 "$T/sanitizer"
	export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/sanitizer/asan"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=$T/sanitizer/ubsan"
fi
PASSED=0
FAILED=0

cleanup() {
	daemon_stop 2>/dev/null
	authd_stop 2>/dev/null
	slapd_stop "$T/slapd"
	if [ "$FAILED" -eq 0 ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$T"
	else
		echo "test files kept in $T" >&2
	fi
}
trap cleanup EXIT

# syslog_sink: a syslog stand-in at $T/run/log.sock (the config's
# syslog_socket) that writes what it hears to $T/syslog.txt; stopped at exit.
syslog_sink() {
	mkdir -p "$T/run"
	"$BUILD/tests/logsink" "$T/run/log.sock" "$T/syslog.txt" &
	SINK_PID=$!
	trap 'kill "$SINK_PID" 2>/dev/null; cleanup' EXIT
	wait_for 5 test -S "$T/run/log.sock"
}

ok() {
	PASSED=$((PASSED + 1))
	echo "ok - $*"
}

not_ok() {
	FAILED=$((FAILED + 1))
	echo "not ok - $*"
}

assert_eq() {
	local actual=$1 expected=$2 what=$3
	if [ "$actual" = "$expected" ]; then
		ok "$what"
	else
		not_ok "$what: expected '$expected', got '$actual'"
	fi
}

assert_contains() {
	local haystack=$1 needle=$2 what=$3
	case "$haystack" in
	*"$needle"*) ok "$what" ;;
	*) not_ok "$what: '$needle' not in: $haystack" ;;
	esac
}

# assert_logged FILE NEEDLE WHAT: NEEDLE reaches FILE, a logsink's, within
# 10 s. The sink writes each datagram after it is sent, so the line of a
# command that just returned may not be in the file yet.
assert_logged() {
	wait_for 10 grep -qF -- "$2" "$1" || true
	assert_contains "$(cat "$1")" "$2" "$3"
}

# assert_exit CODE WHAT CMD...: runs CMD, checks its exit code.
assert_exit() {
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$T/last.out" 2>"$T/last.err"
	rc=$?
	if [ "$rc" = "$want" ]; then
		ok "$what"
	else
		not_ok "$what: exit $rc, expected $want; stderr: $(head -c 400 "$T/last.err")"
	fi
}

finish() {
	local report
	daemon_stop
	authd_stop
	for report in "$T"/sanitizer/*; do
		[ -e "$report" ] || continue
		not_ok "sanitizer report $(basename "$report"): $(head -c 2000 "$report")"
	done
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# idgov_conf DIR URI BIND_DN PASSWORD_FILE IDENT: prints an idgov.conf for
# an instance whose store, keys and control socket are under DIR, logging
# to the test's syslog socket as IDENT (fleet_lib.sh's instances use it too).
idgov_conf() {
	cat <<CONF
[directory]
uri = $2
base = $SLAPD_SUFFIX
bind_dn = $3
bind_password_file = $4
nested_depth = 5
poll_interval = ${POLL_INTERVAL:-300}
reconnect_max = 2
[groups]
privileged = admins, dba
[store]
path = $1/state/idgov.db
master_key = $1/keys/master.key
audit_key = $1/keys/audit.key
audit_public_key = $1/keys/audit.pub
audit_sign_every = 50
[control]
socket = $1/run/idgov.sock
[log]
syslog_socket = $T/run/log.sock
ident = $5
[admin]
group = idgov-admins
CONF
}

write_config() {
	mkdir -p "$T/etc"
	idgov_conf "$T" "$(cat "$T/slapd/uri")" "$SLAPD_ROOTDN" "$T/slapd/rootpw" idgov-test \
		>"$T/etc/idgov.conf"
}

# it_setup [--no-syncprov] [LDIF]: slapd with data, config, idgov init.
it_setup() {
	local mode="" ldif="$ROOT/tests/fixtures/org.ldif"
	if [ "${1:-}" = "--no-syncprov" ]; then
		mode=--no-syncprov
		shift
	fi
	[ $# -gt 0 ] && ldif=$1
	slapd_setup "$T/slapd" $mode || exit 1
	slapd_load "$T/slapd" "$ldif" || exit 1
	slapd_start "$T/slapd" || exit 1
	write_config
	"$IDGOV" -c "$T/etc/idgov.conf" init >/dev/null || exit 1
}

ig() {
	"$IDGOV" -c "$T/etc/idgov.conf" "$@"
}

# Waits up to 5 s for a writer (the daemon, a PAM module) instead of failing on a busy store.
sql() {
	sqlite3 -batch -cmd ".timeout 5000" "$T/state/idgov.db" "$1"
}

# The auth service's MFA state file (what logins write), beside the store.
state_sql() {
	sqlite3 -batch -cmd ".timeout 5000" "$T/state/authd.db" "$1"
}

# Holds the store's write lock (BEGIN IMMEDIATE) for $1 seconds from a
# helper process, as a directory refresh does; returns once it is held.
# HOLD_PID is the helper.
hold_store_lock() {
	(
		echo "BEGIN IMMEDIATE;"
		sleep "$1"
		echo "COMMIT;"
	) | sqlite3 -batch -cmd ".timeout 10000" "$T/state/idgov.db" &
	# shellcheck disable=SC2034 # read by the test that called hold_store_lock
	HOLD_PID=$!
	for _ in $(seq 1 100); do
		sqlite3 -batch -cmd ".timeout 0" "$T/state/idgov.db" "BEGIN IMMEDIATE; ROLLBACK;" \
			>/dev/null 2>&1 || return 0
		sleep 0.1
	done
	return 1
}

ldif() {
	slapd_modify "$T/slapd"
}

daemon_start() {
	"$IDGOVD" -c "$T/etc/idgov.conf" -p "$T/run/idgovd.pid" || return 1
}

daemon_stop() {
	stop_pid_file "$T/run/idgovd.pid"
}

# The auth service pam_idgov.so asks, on $T/run/authd.sock ([authd] is
# added to the configuration the first time); PAM_ARGS are the module's
# arguments that point at it (the test's uid serves it) and at the audit
# spool beside the store (where break-glass uses go).
# shellcheck disable=SC2034 # used by the tests that source this file
PAM_ARGS="socket=$T/run/authd.sock server_uid=$(id -u) spool=$T/state/spool"
authd_start() {
	mkdir -p "$T/run"
	# At the end of the file, so that the tests' edits of [control]'s
	# "socket =" line never meet this one.
	grep -q '^\[authd\]$' "$T/etc/idgov.conf" ||
		printf '[authd]\nsocket = %s\nclient_uid = %s\n' "$T/run/authd.sock" "$(id -u)" >>"$T/etc/idgov.conf"
	# In a subshell, so that it is not one of the test's jobs: a bare
	# `wait` for the test's own background work must not wait for it.
	("$AUTHD" -c "$T/etc/idgov.conf" -p "$T/run/authd.pid" 2>>"$T/authd.err" &)
	wait_for 10 test -s "$T/run/authd.pid" || {
		echo "idgov-authd did not start: $(cat "$T/authd.err")" >&2
		return 1
	}
}

authd_stop() {
	stop_pid_file "$T/run/authd.pid"
}

# wait_for SECONDS CMD...: polls CMD every 50 ms until it succeeds.
wait_for() {
	local limit=$1
	shift
	for _ in $(seq 1 $((limit * 20))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# sql_is QUERY EXPECTED: for wait_for.
sql_is() {
	[ "$(sql "$1")" = "$2" ]
}

# daemon_connection_is STATE: idgovd's directory link is STATE (persist,
# paged, disconnected); a function, so that wait_for asks again each time.
daemon_connection_is() {
	[ "$(ig --json status 2>/dev/null | jq -r .daemon.connection)" = "$1" ]
}

# PAM through pam_wrapper and pamtester (no root needed, no /etc changes).
# Under the sanitizers the module is instrumented and pamtester is not, so
# the sanitizer runtimes must be loaded first.
pam_preload() {
	local preload=libpam_wrapper.so
	if [ -n "${ASAN_OPTIONS:-}" ]; then
		preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so) $preload"
	fi
	echo "$preload"
}

# pam [-I item=value]... USER ACTION... < answers: runs pamtester on the
# service file $T/pam.d/idgov.
pam() {
	local opts=()
	while [ "${1:-}" = -I ]; do
		opts+=("$1" "$2")
		shift 2
	done
	LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		pamtester "${opts[@]}" idgov "$@"
}

# enrol_with CONFIG USER STEP_OFFSET: runs `idgov -c CONFIG mfa enroll USER`
# as an admin, reads the otpauth URI, and confirms with the code of step
# (now/30 + offset). Sets SECRET (base32), BASE (the step `code` counts
# from) and ENROL_OUT.
enrol_with() {
	local conf=$1 user=$2 offset=$3 line pid from to
	coproc ENROL { "$IDGOV" -c "$conf" mfa enroll "$user" 2>&1; }
	pid=$ENROL_PID
	exec {from}<&"${ENROL[0]}" {to}>&"${ENROL[1]}"
	SECRET=""
	while read -r line <&"$from"; do
		case "$line" in
		otpauth://*)
			SECRET=$(printf '%s' "$line" | sed 's/.*secret=\([A-Z2-7]*\).*/\1/')
			break
			;;
		esac
	done
	BASE=$(($(date +%s) / 30 + offset))
	code 0 >&"$to"
	exec {to}>&-
	# shellcheck disable=SC2034 # read by the test that called enrol_with
	ENROL_OUT=$(cat <&"$from")
	exec {from}<&-
	wait "$pid" 2>/dev/null
}

# enroll USER STEP_OFFSET: enrol_with the test's own configuration.
enroll() {
	enrol_with "$T/etc/idgov.conf" "$1" "$2"
}

# code K: the TOTP code of step BASE + K for SECRET.
code() {
	oathtool --totp -b -N "@$(((BASE + $1) * 30))" "$SECRET"
}
