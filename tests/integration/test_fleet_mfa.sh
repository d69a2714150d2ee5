#!/usr/bin/env bash
# The fleet of issue 11 with real processes (fleet_lib.sh): two slapd
# providers in multi-provider replication, two governors and two hosts,
# each with its own configuration, store, sockets and auth service, bound
# with its own service DN under the example ACL, all with [fleet] mfa =
# directory and the providers in one order (1, then 2). Host A syncs from
# provider 1, host B from provider 2; host A has offline = deny, host B
# offline = allow.
#
# Governance: gov1 takes the lease; gov2 is refused by it and names gov1;
# the hosts refuse `review start` naming gov1, each reading the lease from
# its own first provider; gov1 killed with SIGKILL mid-lease: gov2 takes
# over only after the lease expires, and the hosts follow; provider 1
# stopped: gov2 keeps its lease through provider 2 and the hosts still
# read it; provider 1 back: it has the renewals it missed.
#
# MFA, through the real PAM stack on each host: alice enrols on host A and
# logs in on host B (its mirror fed by provider 2); the same code on host A
# afterwards is refused; five wrong codes spread over A and B lock her on
# both, and an unlock on A opens both; provider 1 stopped: logins go on
# through provider 2 and a code used there stays used on the other host;
# both providers stopped: host A (deny) refuses, host B (allow) accepts
# once, queues the step, and writes it back when the providers return.
. "$(dirname "$0")/fleet_lib.sh"

fleet_providers_start || exit 1
syslog_sink
fleet_instance gov1 governor "$P1_URI $P2_URI" || exit 1
fleet_instance gov2 governor "$P1_URI $P2_URI" || exit 1
fleet_instance hostA host "$P1_URI $P2_URI" || exit 1
fleet_instance hostB host "$P2_URI $P1_URI" || exit 1
fleet_mfa_directory gov1 deny || exit 1
fleet_mfa_directory gov2 deny gov1 || exit 1
fleet_mfa_directory hostA deny gov1 || exit 1
fleet_mfa_directory hostB allow gov1 || exit 1
status_has() { fleet_ig "$1" status 2>&1 | grep -q "$2"; }
holder_on() { fleet_attr "$1" "$FLEET_LEASE" idgovLeaseHolder; }
holder_is() { [ "$(holder_on "$1")" = "$2" ]; }

# --- one governor; the other and the hosts refuse governance, naming it ---
assert_exit 0 "gov1's idgovd starts" fleet_daemon_start gov1
wait_for 10 holder_is 1 gov1
assert_eq "$(holder_on 1)" gov1 "gov1 holds the lease on provider 1"
wait_for 10 holder_is 2 gov1
assert_eq "$(holder_on 2)" gov1 "and on provider 2"
for name in gov2 hostA hostB; do
	assert_exit 0 "$name's idgovd starts" fleet_daemon_start "$name"
done
wait_for 10 status_has gov2 "not governing"
assert_contains "$(fleet_ig gov2 status)" "fleet:       governor gov2; not governing" "gov2 does not govern"
assert_exit 1 "gov2 refuses a grant request" \
	fleet_ig gov2 grant request --user bob --group admins --for 1h --reason "fleet test"
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1)" "naming gov1"
for name in hostA hostB; do
	wait_for 10 status_has "$name" "lease:       gov1 until"
	assert_exit 1 "$name refuses review start" fleet_ig "$name" review start quarterly
	assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1)" "$name names gov1"
done
assert_eq "$(fleet_sql hostB "SELECT count(*) FROM campaigns")" 0 "host B opened no campaign"

# --- gov1 killed mid-lease: gov2 only after the expiry, seen on both providers ---
gov1_pid=$(cat "$T/gov1/run/idgovd.pid")
kill -9 "$gov1_pid"
rm -f "$T/gov1/run/idgovd.pid"
wait_for 5 sh -c "! kill -0 $gov1_pid 2>/dev/null"
expiry=$(fleet_attr 1 "$FLEET_LEASE" idgovLeaseExpires)
wait_for 30 holder_is 1 gov2
assert_eq "$(holder_on 1)" gov2 "gov2 took the lease over after gov1 died"
taken=$(fleet_sql gov2 "SELECT time FROM audit WHERE action='fleet.lease_taken'")
expiry_s=$(date -u -d "$(echo "$expiry" | sed -E 's/^(....)(..)(..)(..)(..)(..)Z$/\1-\2-\3 \4:\5:\6 UTC/')" +%s)
if [ -n "$taken" ] && [ "$taken" -ge "$expiry_s" ]; then
	ok "and not before gov1's expiry ($expiry)"
else
	not_ok "gov2 took the lease at '$taken', before gov1's expiry $expiry ($expiry_s)"
fi
wait_for 10 holder_is 2 gov2
assert_eq "$(holder_on 2)" gov2 "provider 2 has gov2's lease"
for name in hostA hostB; do
	wait_for 15 status_has "$name" "lease:       gov2 until"
	assert_exit 1 "$name now names gov2" fleet_ig "$name" review start quarterly
	assert_contains "$(cat "$T/last.err")" "run this on the governor (gov2)" "$name follows the lease"
done

# --- provider 1 stopped: the lease lives on through provider 2 ---
fleet_provider_stop 1
before=$(fleet_attr 2 "$FLEET_LEASE" idgovLeaseExpires)
wait_for 20 sh -c "[ \"\$(ldapsearch -x -LLL -H '$P2_URI' -D '$SLAPD_ROOTDN' -y '$T/p2/rootpw' -s base \
	-b '$FLEET_LEASE' idgovLeaseExpires | sed -n 's/^idgovLeaseExpires: //p')\" \\> '$before' ]"
after=$(fleet_attr 2 "$FLEET_LEASE" idgovLeaseExpires)
if [ "$after" \> "$before" ]; then
	ok "gov2 renews its lease on provider 2 while provider 1 is down ($before -> $after)"
else
	not_ok "the lease was not renewed on provider 2: $before -> $after"
fi
assert_eq "$(holder_on 2)" gov2 "gov2 still holds it"
wait_for 10 status_has gov2 "governor gov2; governing"
assert_contains "$(fleet_ig gov2 status)" "fleet:       governor gov2; governing" "gov2 still governs"
assert_exit 1 "host A, its first provider down, still refuses review start" \
	fleet_ig hostA review start quarterly
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov2)" "naming gov2, read through provider 2"
fleet_provider_start 1 || exit 1
wait_for 15 fleet_in_sync
now=$(fleet_attr 2 "$FLEET_LEASE" idgovLeaseExpires)
wait_for 15 sh -c "[ \"\$(ldapsearch -x -LLL -H '$P1_URI' -D '$SLAPD_ROOTDN' -y '$T/p1/rootpw' -s base \
	-b '$FLEET_LEASE' idgovLeaseExpires | sed -n 's/^idgovLeaseExpires: //p')\" \\> '$before' ]"
if [ "$(fleet_attr 1 "$FLEET_LEASE" idgovLeaseExpires)" \> "$before" ]; then
	ok "provider 1, back, has the renewals it missed"
else
	not_ok "provider 1 still has $(fleet_attr 1 "$FLEET_LEASE" idgovLeaseExpires), provider 2 $now"
fi
assert_eq "$(holder_on 1)" gov2 "and gov2 as the holder"
assert_eq "$(fleet_sql gov2 "SELECT count(*) FROM audit WHERE action='fleet.lease_lost'")" 0 \
	"gov2 never lost its lease on the way"

# --- MFA: enrol on host A, log in on host B ---
ALICE="uid=alice,ou=People,$SLAPD_SUFFIX"
fleet_authd_start hostA || exit 1
fleet_authd_start hostB || exit 1
fleet_enroll hostA alice
assert_contains "$ENROL_OUT" "MFA is now active" "alice enrols on host A"
assert_eq "$(fleet_attr 1 "$ALICE" idgovLastStep)" "$BASE" "her token is on provider 1 (the first provider)"
wait_for 10 fleet_attr_is 2 "$ALICE" idgovLastStep "$BASE"
assert_eq "$(fleet_search 2 -s base -b "$ALICE" idgovTokenSecret | grep -c '^idgovTokenSecret:: ')" 1 \
	"and replicated to provider 2, sealed"
token_row="SELECT count(*) FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid
	WHERE u.uid = 'alice' AND f.sealed IS NOT NULL"
wait_for 15 fleet_sql_is hostB "$token_row" 1
assert_eq "$(fleet_sql hostB "$token_row")" 1 "host B's mirror (synced from provider 2) has her token"
assert_exit 0 "alice logs in on host B with her next code" fleet_pam hostB alice authenticate <<<"$(code 1)"
assert_eq "$(fleet_attr 1 "$ALICE" idgovLastStep)" "$((BASE + 1))" "host B consumed the step on provider 1"
assert_exit 1 "the same code on host A afterwards is refused" fleet_pam hostA alice authenticate <<<"$(code 1)"
assert_contains "$(cat "$T/last.err")" "already used" "as a replay"

# --- five wrong codes spread over A and B lock her everywhere ---
for h in hostA hostB hostA hostB hostA; do
	fleet_pam "$h" alice authenticate <<<"111111" >/dev/null 2>&1
done
lock=$(fleet_attr 1 "$ALICE" idgovLockEnd)
case "$lock" in
20*Z) ok "five wrong codes over A and B lock her in the directory ($lock)" ;;
*) not_ok "no lock in the directory after five wrong codes over A and B: '$lock'" ;;
esac
assert_exit 1 "host A refuses a right code" fleet_pam hostA alice authenticate <<<"$(code 2)"
assert_contains "$(cat "$T/last.err")" "locked" "saying she is locked"
assert_exit 1 "host B too" fleet_pam hostB alice authenticate <<<"$(code 2)"
assert_contains "$(cat "$T/last.err")" "locked" "saying so"
assert_exit 0 "an admin unlocks her on host A" fleet_ig hostA mfa unlock alice
assert_exit 0 "host B then accepts her code" fleet_pam hostB alice authenticate <<<"$(code 2)"

# --- provider 1 stopped: logins go on through provider 2, the watermark holds ---
fleet_provider_stop 1
assert_exit 0 "provider 1 down: host A logs her in through provider 2" \
	fleet_pam hostA alice authenticate <<<"$(code 3)"
assert_eq "$(fleet_attr 2 "$ALICE" idgovLastStep)" "$((BASE + 3))" "the step is on provider 2"
assert_exit 1 "host B refuses the same code (provider 2's watermark)" \
	fleet_pam hostB alice authenticate <<<"$(code 3)"
assert_exit 1 "and so does host A" fleet_pam hostA alice authenticate <<<"$(code 3)"
fleet_provider_start 1 || exit 1
wait_for 15 fleet_attr_is 1 "$ALICE" idgovLastStep "$((BASE + 3))"
assert_eq "$(fleet_attr 1 "$ALICE" idgovLastStep)" "$((BASE + 3))" "provider 1, back, has the step"

# --- both stopped: the offline policy of each host, and the write-back ---
fleet_provider_stop 1
fleet_provider_stop 2
assert_exit 1 "no provider: host A (offline = deny) refuses a right code" \
	fleet_pam hostA alice authenticate <<<"$(code 4)"
assert_contains "$(cat "$T/last.err")" "MFA cannot be checked: no directory provider answers" "and says why"
assert_exit 0 "host B (offline = allow) accepts it" fleet_pam hostB alice authenticate <<<"$(code 4)"
assert_eq "$(sqlite3 -batch -cmd ".timeout 5000" "$T/hostB/state/authd.db" \
	"SELECT step - $BASE FROM fleet_pending")" 4 "and queues its step"
assert_exit 1 "host B refuses it a second time" fleet_pam hostB alice authenticate <<<"$(code 4)"
assert_exit 1 "and a code used online before" fleet_pam hostB alice authenticate <<<"$(code 3)"
fleet_provider_start 1 || exit 1
fleet_provider_start 2 || exit 1
wait_for 20 fleet_in_sync
assert_exit 0 "the providers back, host B logs her in online" fleet_pam hostB alice authenticate <<<"$(code 5)"
assert_eq "$(sqlite3 -batch -cmd ".timeout 5000" "$T/hostB/state/authd.db" \
	"SELECT count(*) FROM fleet_pending")" 0 "and its queue is written back"
assert_eq "$(fleet_attr 1 "$ALICE" idgovLastStep)" "$((BASE + 5))" "the directory holds the latest step"
assert_exit 1 "the code host B accepted offline is refused on host A" \
	fleet_pam hostA alice authenticate <<<"$(code 4)"
assert_logged "$T/syslog.txt" "alice logged in offline" "the offline login is logged"

finish
