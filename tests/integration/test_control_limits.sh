#!/usr/bin/env bash
# The control socket under abuse by local users. A client that reads a
# large reply very slowly does not stall idgovd: other requests are
# answered, a grant ends on time, and the slow client is dropped. A reply
# over [control] max_reply becomes an error reply. One uid holds at most
# max_clients_per_uid connections; other uids and root still get in, root
# even when others fill every slot; and a flood of refused connections
# leaves a handful of log lines and audit records, not one per
# connection. Needs root (setpriv).
#
# Bounds here (10 s for a status, a grant's removal a few seconds after
# its end) are liveness bounds, far above what a working daemon needs.
# shellcheck source=grants_lib.sh
. "$(dirname "$0")/grants_lib.sh"

grants_setup
CONF=$T/etc/idgov.conf
SOCK=$T/run/idgov.sock
BOB="uid=bob,ou=People,dc=example,dc=com"
# A slow client stays connected long enough for the checks below to run
# while it is there.
sed -i 's/^socket = .*/&\nclient_timeout = 15/' "$CONF"
mkdir -p "$T/run"
syslog_sink

# bin (uid 2) has made its own grant list large, as it could by requesting
# and revoking grants over and over: 8000 revoked grants of about 770
# bytes, a reply of some 6 MB, far more than a socket buffers. (Written
# straight into the store: the CLI would take minutes.)
pad=$(printf '%0300d' 0)
sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000)
     INSERT INTO grants (kind, state, grantee, group_cn, start_at, end_at, reason, requester,
                         requested_at, approvals_needed, ended_at, ended_by, end_reason)
     SELECT 'group', 'revoked', 'bin', 'finance', 1000, 2000, 'padding $pad', 'bin', 1000, 1,
            1500, 'bin', 'not needed' FROM n"
assert_exit 0 "idgovd starts" daemon_start

# sockabuse and the CLI as another uid; every call bounded so that a
# stalled daemon fails the test instead of hanging it.
abuse() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$BUILD/tests/sockabuse" "$@"
}
as_t() {
	local uid=$1
	shift
	timeout 10 setpriv --reuid="$uid" --regid="$uid" --clear-groups "$IDGOV" -c "$CONF" "$@"
}
# root's status, answered by idgovd itself (the CLI falls back to running
# in-process when root cannot reach the daemon, which reports running=false).
daemon_answers_root() {
	[ "$(timeout 10 "$IDGOV" -c "$CONF" --json status | jq -r .daemon.running)" = true ]
}
audited_65534() {
	sql "SELECT count(*) FROM audit WHERE details LIKE '%\"uid\":65534%'"
}
logged_65534() {
	grep -c 'uid 65534' "$T/syslog.txt"
}
reload() {
	local before
	before=$(sql "SELECT count(*) FROM audit WHERE action='config.reload' AND details LIKE '%\"ok\"%'")
	kill -HUP "$(cat "$T/run/idgovd.pid")"
	wait_for 5 sql_is "SELECT count(*) FROM audit WHERE action='config.reload' AND details LIKE '%\"ok\"%'" \
		$((before + 1))
}

# --- a slow reader does not stall the daemon ---
assert_exit 0 "root grants finance to bob for 5 s" \
	ig grant request --user bob --group finance --for 5s --reason "slow reader test"
id=$(sql "SELECT max(id) FROM grants")
wait_for 5 has_member finance "$BOB"
assert_exit 0 "bob is in finance" has_member finance "$BOB"
# 4 KiB every 100 ms: the whole reply would take over a minute.
printf '{"v":1,"op":"grant.list","args":{}}\n' | abuse 2 slowread "$SOCK" 45 >"$T/slow.out" &
slow=$!
wait_for 10 sql_is "SELECT count(*) FROM audit WHERE action='control.grant.list' AND actor='bin'" 1
assert_exit 0 "the daemon has answered the slow client's request" \
	sql_is "SELECT count(*) FROM audit WHERE action='control.grant.list' AND actor='bin'" 1
wait_for 10 lacks_member finance "$BOB"
assert_exit 0 "bob's grant ends while the slow client is connected" lacks_member finance "$BOB"
end=$(sql "SELECT end_at FROM grants WHERE id = $id")
removed=$(sql "SELECT time FROM audit WHERE action='directory.write' AND details LIKE '%\"grant\":$id,%' AND details LIKE '%del_member%'")
if [ -n "$removed" ] && [ $((removed - end)) -le 3 ]; then
	ok "removed within a few seconds of the end ($((removed - end)) s)"
else
	not_ok "removal: end $end, removed '${removed}'"
fi
assert_eq "$(sql "SELECT state FROM grants WHERE id = $id")" expired "the grant is expired"
assert_exit 0 "root's status is answered by idgovd meanwhile" daemon_answers_root
assert_exit 0 "a directory admin's status is answered meanwhile" as_t 1 status
wait "$slow"
assert_contains "$(cat "$T/slow.out")" "dropped" "the slow client is dropped before its reply is complete"
assert_logged "$T/syslog.txt" "reply not read in time" "and that is logged"
assert_exit 0 "a client that reads gets the whole large reply" as_t 2 grant list

# --- a reply over max_reply is an error reply ---
sed -i 's/^socket = .*/&\nmax_reply = 65536/' "$CONF"
assert_exit 0 "max_reply = 65536 is reloaded" reload
reply=$(printf '{"v":1,"op":"grant.list","args":{}}\n' | "$BUILD/tests/sockclient" "$SOCK" | head -c 2000)
assert_contains "$reply" '"ok":false' "a reply over max_reply becomes an error"
assert_contains "$reply" "larger than [control] max_reply (65536 bytes)" "which says why"
assert_exit 1 "the CLI reports it as a failure" as_t 2 grant list
assert_exit 0 "small replies are still sent" as_t 2 status
sed -i '/^max_reply = /d' "$CONF"
assert_exit 0 "max_reply is back to its default" reload

# --- one uid cannot take every slot ---
audit_before=$(audited_65534)
log_before=$(logged_65534)
abuse 65534 flood "$SOCK" 70 8 >"$T/flood.out" &
flood=$!
wait_for 10 grep -q '^initial' "$T/flood.out"
assert_contains "$(cat "$T/flood.out")" "initial refused=62 silent=0 open=8" \
	"nobody holds 8 connections (the default max_clients_per_uid); 62 are refused with a reply"
assert_exit 0 "another uid (bin) still connects" as_t 2 status
assert_exit 0 "a directory admin still connects" as_t 1 status
assert_exit 0 "root's status is answered by idgovd" daemon_answers_root
wait "$flood"
total=$(sed -n 's/^total refused=\([0-9]*\).*/\1/p' "$T/flood.out")
if [ "${total:-0}" -ge 62 ]; then
	ok "the flood went on: $total connections refused"
else
	not_ok "the flood: $(cat "$T/flood.out")"
fi
logged=$(($(logged_65534) - log_before))
audited=$(($(audited_65534) - audit_before))
if [ "$logged" -ge 1 ] && [ "$logged" -le 6 ]; then
	ok "refusals logged in $logged lines, not one per connection"
else
	not_ok "$logged log lines for $total refusals"
fi
if [ "$audited" -ge 1 ] && [ "$audited" -le 6 ]; then
	ok "refusals audited in $audited records, not one per connection"
else
	not_ok "$audited audit records for $total refusals"
fi
coalesced="SELECT count(*) > 0 FROM audit WHERE action='control.busy' AND details LIKE '%\"uid\":65534%' AND json_extract(details, '\$.count') > 1"
wait_for 15 sql_is "$coalesced" 1
assert_exit 0 "an audit record counts the refusals it stands for" sql_is "$coalesced" 1
assert_logged "$T/syslog.txt" "more connections from nobody (uid 65534) refused" \
	"a log line counts the refusals it did not log one by one"

# --- root's slots: others cannot fill the table ---
sed -i 's/^socket = .*/&\nmax_clients_per_uid = 64/' "$CONF"
assert_exit 0 "max_clients_per_uid = 64 is reloaded" reload
abuse 65534 flood "$SOCK" 70 4 >"$T/flood2.out" &
flood=$!
wait_for 10 grep -q '^initial' "$T/flood2.out"
assert_contains "$(cat "$T/flood2.out")" "initial refused=10 silent=0 open=60" \
	"nobody fills every slot but root's"
assert_exit 3 "another uid is refused" as_t 2 status
assert_contains "$(cat "$T/last.err")" "no free connection slot" "and told why"
assert_exit 0 "root's status is still answered by idgovd" daemon_answers_root
wait "$flood"
assert_exit 0 "the daemon serves everyone again" as_t 2 status
assert_exit 0 "audit chain verifies" ig audit verify
finish
