#!/usr/bin/env bash
# idgov-authd's pool of workers, through the real libpam (pam_wrapper +
# pamtester): connections that send nothing do not hold up another login;
# a worker killed in the middle of a request fails that login closed and
# the next one succeeds; after `idgov key rotate master` and after a
# restore puts another store in place, the next login uses the new key
# and the new store; and over 1,000 PAM transactions the service's
# workers keep the same descriptors and their memory stays flat (counted,
# not timed).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 10\nmax_failures = 1000\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
for s in auth account session; do
	echo "$s required $MODULE $PAM_ARGS"
done >"$T/pam.d/idgov"
enroll alice -8 # codes 1, 2, ... are the steps after it, up to now
authd_start || exit 1
AUTHD_PID=$(cat "$T/run/authd.pid")

# workers [STATE]: the pids of the service's workers ("authd-worker" idle,
# "authd-request" serving), from their parent and their name.
workers() {
	ps -o pid=,comm= --ppid "$AUTHD_PID" | awk -v want="${1:-any}" '
		($2 == "authd-worker" && want != "busy") || ($2 == "authd-request" && want != "idle") { print $1 }'
}
count_busy() { [ "$(workers busy | wc -l)" -ge "$1" ]; }

wait_for 5 test "$(workers | wc -l)" -ge 2
assert_eq "$(workers | wc -l)" 2 "the service starts two workers, ready before the first login"
assert_exit 0 "a login through the pool" pam alice authenticate acct_mgmt open_session close_session <<<"$(code 1)"

# Three connections that send nothing: each holds a worker until the
# request timeout (5 s); the pool forks spare workers, so a login that
# comes meanwhile is answered within the module's timeout (1 s here).
python3 - "$T/run/authd.sock" >"$T/silent.out" <<'PY' &
import socket, sys, time
held = []
for _ in range(3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    held.append(s)
print("connected", flush=True)
time.sleep(4)
PY
silent=$!
wait_for 5 grep -q connected "$T/silent.out"
assert_exit 0 "three silent connections are each held by a worker" wait_for 5 count_busy 3
for s in auth account; do
	echo "$s required $MODULE $PAM_ARGS timeout=1"
done >"$T/pam.d/idgov"
assert_exit 0 "a login while three clients send nothing succeeds (module timeout 1 s)" \
	pam alice authenticate acct_mgmt <<<"$(code 2)"
wait "$silent"

# A worker killed in the middle of a request: that login fails closed,
# the service forks another, and the next login succeeds.
wait_for 10 test "$(workers busy | wc -l)" -eq 0
mkfifo "$T/in"
exec {w}<>"$T/in"
LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	pamtester idgov alice authenticate <"$T/in" >"$T/pt.out" 2>&1 &
pt=$!
wait_for 5 grep -q "Verification code" "$T/pt.out"
victim=$(workers busy)
assert_eq "$(echo "$victim" | wc -w)" 1 "one worker serves the login at the prompt"
kill -9 "$victim"
code 3 >&"$w"
exec {w}>&-
wait "$pt"
assert_eq "$?" 1 "the login whose worker was killed fails closed"
assert_exit 0 "the worker's death is logged" wait_for 5 grep -q "worker $victim died of signal 9" "$T/syslog.txt"
assert_exit 0 "the next login succeeds" pam alice authenticate acct_mgmt <<<"$(code 4)"
assert_exit 0 "and the service is the same process" kill -0 "$AUTHD_PID"
assert_eq "$(workers | grep -c "^$victim$")" 0 "the killed worker is gone from the pool"

# The master key rotated: every worker holds the key from its start, so
# the next login, whichever worker takes it, needs the new one.
assert_exit 0 "idgov key rotate master" ig key rotate master
assert_exit 0 "after the rotation, a login succeeds" pam alice authenticate acct_mgmt <<<"$(code 5)"
assert_logged "$T/syslog.txt" "the master key changed: reloading it" "the worker reloaded the key"
assert_exit 0 "idgov key destroy-old master" ig key destroy-old master
assert_exit 0 "after the old key is destroyed, a login succeeds" pam alice authenticate <<<"$(code 6)"

# The store replaced: a backup holds alice's first secret; she enrols
# again (a second secret); the restore puts the backup's store in place.
mkdir -m 700 "$T/backups"
assert_exit 0 "a backup" ig backup --to "$T/backups"
old_secret=$SECRET old_base=$BASE
assert_exit 0 "reset alice's enrolment" ig mfa reset alice
enroll alice 0
assert_exit 0 "the second secret logs in" pam alice authenticate <<<"$(code 1)"
new_secret=$SECRET new_base=$BASE
assert_exit 0 "restore the backup over the store" ig restore "$(ls "$T"/backups/idgov-*.backup)"
SECRET=$old_secret BASE=$old_base
# Step 12 of the first secret is past the second secret's last step (the
# replay watermark is the user's) and within the window of 10.
assert_exit 0 "after the restore, the first secret logs in (the restored store)" \
	pam alice authenticate <<<"$(code 12)"
assert_logged "$T/syslog.txt" "idgov.db was replaced: reopening it" "the worker reopened the store"
SECRET=$new_secret BASE=$new_base
assert_exit 1 "and the second secret, not in the restored store, is refused" \
	pam alice authenticate <<<"$(code 2)"

# 1,000 transactions (authenticate with a wrong code, account, session
# open and close: 4,000 requests): the workers' descriptors and resident
# memory, read after a warm-up and again at the end, stay flat.
{
	echo "auth optional $MODULE $PAM_ARGS"
	echo "account required $MODULE $PAM_ARGS"
	echo "session required $MODULE $PAM_ARGS"
} >"$T/pam.d/idgov"
# snapshot: "pid fds rss_kB" for the supervisor and each worker.
snapshot() {
	for p in "$AUTHD_PID" $(workers | sort -n); do
		echo "$p $(find "/proc/$p/fd" -mindepth 1 2>/dev/null | wc -l) $(awk '/^VmRSS/ { print $2 }' "/proc/$p/status")"
	done
}
assert_exit 0 "1000 warm-up transactions" "$BUILD/tests/pam_loop" "$T/pam.d" alice 1000 000000
before=$(snapshot)
assert_exit 0 "1000 transactions" "$BUILD/tests/pam_loop" "$T/pam.d" alice 1000 000000
after=$(snapshot)
echo "# before (pid fds rss_kB): $(echo "$before" | tr "\n" " ")"
echo "# after:                   $(echo "$after" | tr "\n" " ")"
# A busy spell may fork a spare worker (and a surplus one is retired, the
# newest first); the ones that served before must all still be there.
missing=$(join -v1 <(echo "$before" | sort) <(echo "$after" | sort))
assert_eq "$missing" "" "every process that served before still serves (none died or was replaced)"
assert_eq "$(join <(echo "$before" | sort) <(echo "$after" | sort) | awk '$2 != $4')" "" \
	"each holds as many descriptors as before"
# Resident memory moves by a few hundred kB either way as malloc trims
# and SQLite's page cache fills (measured over four more rounds: no
# trend); a leak of 256 bytes a request would add 1 MB here. Under ASan
# RSS says nothing (freed memory sits in quarantine): there each worker
# runs LeakSanitizer as it stops, and finish reports what it found.
if [ -n "${ASAN_OPTIONS:-}" ]; then
	echo "# under ASan: memory is checked by LeakSanitizer when the workers stop"
else
	growth=$(join <(echo "$before" | sort) <(echo "$after" | sort) | awk '{ g += $5 - $3 } END { print g + 0 }')
	if [ "$growth" -le 1024 ]; then
		ok "the processes' resident memory, together, grew by at most 1 MB over 4,000 requests (${growth} kB)"
	else
		not_ok "the processes' resident memory grew by ${growth} kB over 4,000 requests"
	fi
fi
finish
