#!/usr/bin/env bash
# idgovd answers while a full refresh runs. A directory large enough for a
# refresh to take seconds (IT_USERS users, default 20,000, from
# bench/lib/directory.awk, loaded by slapadd before slapd starts); idgovd
# persisting; then `idgov sync --full` through the socket, which runs in
# idgovd's worker thread:
# - `idgov status` asked over and over meanwhile is answered each time
#   while the refresh is still running: the daemon says so in the reply,
#   the client that asked for the sync is still waiting for its answer,
#   and the audit chain orders every status request after the worker's
#   commit and before the sync request's own record (held, not blocked);
# - a second sync meanwhile is refused ("a sync is already running");
# - SIGTERM during a refresh stops it: the daemon exits, the worker's
#   transaction is rolled back (the drift it would correct is still
#   there), the store is intact, and a restarted daemon syncs and then
#   verifies clean.
# No timing thresholds: only the order of events as the daemon and its
# audit chain record them.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

USERS=${IT_USERS:-20000}
mkdir -p "$T/run"
awk -v users="$USERS" -v groups=1000 -f "$ROOT/bench/lib/directory.awk" >"$T/big.ldif"
it_setup "$T/big.ldif"
syslog_sink
daemon_start || exit 1
wait_for 120 daemon_connection_is persist || not_ok "idgovd persisting"

refresh_running() {
	[ "$(ig --json status 2>/dev/null | jq -r .daemon.refresh.running)" = true ]
}

# Drift for the refresh to correct, so that it writes (and audits) something.
sql "UPDATE users SET mail='stale@example.com' WHERE uid='u7'"

ig --json sync --full >"$T/sync.out" 2>"$T/sync.err" &
sync_pid=$!
wait_for 60 refresh_running || not_ok "the refresh is running in the background"

answers=0 during=0 second=""
while kill -0 "$sync_pid" 2>/dev/null; do
	st=$(ig --json status 2>/dev/null) || break
	answers=$((answers + 1))
	# Read before the reply is judged: the sync client still waits, so the
	# refresh had not ended when this status reply was written.
	if [ "$(jq -r .daemon.refresh.running <<<"$st")" = true ] && kill -0 "$sync_pid" 2>/dev/null; then
		during=$((during + 1))
	fi
	if [ -z "$second" ] && [ "$during" -gt 0 ]; then
		second=$(ig sync 2>&1)
		echo "second sync: $second"
	fi
done
wait "$sync_pid"
sync_rc=$?
echo "# $answers status answers, $during while the refresh ran"
assert_eq "$sync_rc" 0 "the background sync succeeds and its client gets the reply"
assert_eq "$(jq -r .mode <"$T/sync.out")" refreshOnly "the reply carries the refresh's stats"
if [ "$during" -ge 3 ]; then
	ok "status answered $during times during the refresh"
else
	not_ok "status answered only $during times during the refresh ($answers in all)"
fi
assert_contains "$second" "a sync is already running" "a second sync meanwhile is refused"
assert_eq "$(sql "SELECT mail FROM users WHERE uid='u7'")" u7@example.com \
	"the refresh corrected the drift"

# The audit chain: the worker's drift record, then the status requests
# answered meanwhile (held until its commit), then the sync request itself.
drift_seq=$(sql "SELECT max(seq) FROM audit WHERE action='sync.drift'")
sync_seq=$(sql "SELECT max(seq) FROM audit WHERE action='control.sync' AND details LIKE '%\"ok\"%'")
held=$(sql "SELECT count(*) FROM audit WHERE action='control.status' AND seq > $drift_seq AND seq < $sync_seq")
if [ -n "$drift_seq" ] && [ "$held" -ge "$during" ]; then
	ok "$held status requests recorded between the refresh's commit and the sync's reply"
else
	not_ok "status requests between drift #$drift_seq and sync #$sync_seq: $held, want >= $during"
fi
assert_exit 0 "the audit chain verifies" ig audit verify

# SIGTERM in the middle of a refresh.
sql "UPDATE users SET mail='stale@example.com' WHERE uid='u9'"
ig --json sync --full >"$T/sync2.out" 2>"$T/sync2.err" &
sync_pid=$!
wait_for 60 refresh_running || not_ok "the second refresh is running"
pid=$(cat "$T/run/idgovd.pid")
kill -TERM "$pid"
if wait_for 60 bash -c "! kill -0 $pid"; then
	ok "idgovd exits on SIGTERM during a refresh"
else
	not_ok "idgovd still running after SIGTERM"
fi
wait "$sync_pid"
assert_eq "$?" 1 "the waiting client is told the sync failed"
assert_eq "$(sql "SELECT mail FROM users WHERE uid='u9'")" stale@example.com \
	"the stopped refresh wrote nothing (rolled back)"
assert_logged "$T/syslog.txt" "background refresh failed: sync stopped" \
	"the stop is logged"
assert_eq "$(sql "PRAGMA integrity_check")" ok "the store is intact"
daemon_start || exit 1
wait_for 120 daemon_connection_is persist || not_ok "idgovd persisting again"
assert_exit 0 "a sync on the restarted daemon succeeds" ig sync --full
assert_exit 0 "and then verifies clean" ig sync --verify
assert_exit 0 "the audit chain still verifies" ig audit verify

finish
