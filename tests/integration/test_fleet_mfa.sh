#!/usr/bin/env bash
# The fleet of issue 11 with real processes (fleet_lib.sh): two slapd
# providers in multi-provider replication, two governors and two hosts,
# each with its own configuration, store and socket, bound with its own
# service DN under the example ACL. Host A lists provider 1 first, host B
# provider 2.
#
# Governance: gov1 takes the lease; gov2 is refused by it and names gov1;
# the hosts refuse `review start` naming gov1, each reading the lease from
# its own first provider; gov1 killed with SIGKILL mid-lease: gov2 takes
# over only after the lease expires, and the hosts follow; provider 1
# stopped: gov2 keeps its lease through provider 2 and the hosts still
# read it; provider 1 back: it has the renewals it missed.
. "$(dirname "$0")/fleet_lib.sh"

fleet_providers_start || exit 1
syslog_sink
fleet_instance gov1 governor "$P1_URI $P2_URI" || exit 1
fleet_instance gov2 governor "$P1_URI $P2_URI" || exit 1
fleet_instance hostA host "$P1_URI $P2_URI" || exit 1
fleet_instance hostB host "$P2_URI $P1_URI" || exit 1
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

finish
