#!/usr/bin/env bash
# The fleet's governor lease ([fleet], lease.h, role.h) against a real slapd
# with two idgovd governors (two state directories, one directory) and a
# host: the first governor creates the lease and renews it; the second
# refuses to govern and names the first; a host refuses `grant request`
# and `review start` with the governor's name; a stale claim (an
# assertion on values the holder has since renewed) is refused by the
# directory; after the first governor dies and its lease expires, the
# second takes over (gov1 killed with SIGKILL, its lease left to expire);
# a governor whose lease is taken from it raises a
# LOG_ALERT and stops governing.
. "$(dirname "$0")/lib.sh"

it_setup
syslog_sink
LEASE="cn=governor,ou=idgov,dc=example,dc=com"
URI=$(cat "$T/slapd/uri")
ldif <<LDIF
dn: ou=idgov,dc=example,dc=com
changetype: add
objectClass: organizationalUnit
ou: idgov
LDIF

# fleet_conf FILE ROLE NAME: appends the [fleet] section (a 6 s lease: renewed every 2 s).
fleet_conf() {
	printf '[fleet]\nrole = %s\nname = %s\nlease_dn = %s\nlease_ttl = 6s\n' "$2" "$3" "$LEASE" >>"$1"
}
# instance DIR: a second state directory and socket beside the first, same directory and log.
instance() {
	local d=$1
	mkdir -p "$d/etc"
	sed -e "s|$T/state/|$d/state/|; s|$T/keys/|$d/keys/|; s|$T/run/idgov.sock|$d/run/idgov.sock|" \
		"$T/etc/idgov.conf" >"$d/etc/idgov.conf"
	"$IDGOV" -c "$d/etc/idgov.conf" init >/dev/null || exit 1
}
instance "$T/b"
instance "$T/h"
fleet_conf "$T/etc/idgov.conf" governor gov1
fleet_conf "$T/b/etc/idgov.conf" governor gov2
fleet_conf "$T/h/etc/idgov.conf" host host1
igb() { "$IDGOV" -c "$T/b/etc/idgov.conf" "$@"; }
igh() { "$IDGOV" -c "$T/h/etc/idgov.conf" "$@"; }
lease_attr() {
	ldapsearch -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" -LLL -s base -b "$LEASE" "$1" 2>/dev/null |
		sed -n "s/^$1: //p"
}
holder_is() { [ "$(lease_attr idgovLeaseHolder)" = "$1" ]; }
status_has() { "$IDGOV" -c "$1" status 2>&1 | grep -q "$2"; }

# --- the first governor creates the lease and governs ---
assert_eq "$(lease_attr idgovLeaseHolder)" "" "no lease before any governor ran"
assert_exit 0 "governor gov1 starts" daemon_start
wait_for 5 holder_is gov1
assert_eq "$(lease_attr idgovLeaseHolder)" gov1 "gov1 created the lease entry"
st=$(ig status)
assert_contains "$st" "fleet:       governor gov1; governing" "idgov status shows the role"
assert_contains "$st" "lease:       gov1 until 20" "and the lease's holder and expiry"
first=$(lease_attr idgovLeaseExpires)
wait_for 10 sh -c "[ \"\$(ldapsearch -x -H '$URI' -D '$SLAPD_ROOTDN' -y '$T/slapd/rootpw' -LLL -s base -b '$LEASE' idgovLeaseExpires | sed -n 's/^idgovLeaseExpires: //p')\" != '$first' ]"
assert_eq "$(lease_attr idgovLeaseHolder)" gov1 "gov1 renews its lease"
if [ "$(lease_attr idgovLeaseExpires)" \> "$first" ]; then
	ok "each renewal moves the expiry later"
else
	not_ok "the expiry did not move: $first -> $(lease_attr idgovLeaseExpires)"
fi

# A stale claim: an assertion on the values gov1 has since renewed is refused, nothing written.
ldapmodify -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" \
	-e "!assert=(&(idgovLeaseHolder=gov1)(idgovLeaseExpires=$first))" >"$T/steal.out" 2>&1 <<LDIF
dn: $LEASE
changetype: modify
replace: idgovLeaseHolder
idgovLeaseHolder: intruder
LDIF
assert_eq "$?" 122 "a claim asserting the old expiry is refused (assertionFailed)"
assert_eq "$(lease_attr idgovLeaseHolder)" gov1 "and the lease is still gov1's"

# --- the second governor refuses to act and names the first ---
mkdir -p "$T/b/run"
assert_exit 0 "governor gov2 starts" "$IDGOVD" -c "$T/b/etc/idgov.conf" -p "$T/b/run/idgovd.pid"
trap 'stop_pid_file "$T/b/run/idgovd.pid"; kill "$SINK_PID" 2>/dev/null; cleanup' EXIT
wait_for 5 status_has "$T/b/etc/idgov.conf" "not governing"
st=$(igb status)
assert_contains "$st" "fleet:       governor gov2; not governing" "gov2's status says it does not govern"
assert_contains "$st" "lease:       gov1 until" "and who holds the lease"
assert_exit 1 "gov2 refuses a grant request" \
	igb grant request --user bob --group admins --for 1h --reason "fleet test"
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1): it holds the lease until" \
	"and names the governor and until when"
assert_exit 1 "gov2 refuses to start a campaign" igb review start quarterly
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1)" "naming gov1"
assert_eq "$(lease_attr idgovLeaseHolder)" gov1 "gov2 did not take the lease"
assert_exit 0 "gov1 takes the same grant request" \
	ig grant request --user bob --group admins --for 1h --reason "fleet test"
assert_eq "$(sqlite3 "$T/b/state/idgov.db" "SELECT count(*) FROM grants")" 0 "gov2 recorded no grant"
assert_logged "$T/syslog.txt" "gov2 is a governor without the lease and does not govern" \
	"gov2 logs why it waits"

# --- a host refuses governance, naming the governor (the CLI without a daemon) ---
assert_exit 1 "a host refuses grant request" \
	igh grant request --user bob --group admins --for 1h --reason "fleet test"
assert_eq "$(tail -c 200 "$T/last.err")" "idgov: run this on the governor (gov1)" \
	"with the governor's name read from the directory"
assert_exit 1 "a host refuses review start" igh review start quarterly
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1)" "naming gov1 too"
assert_exit 1 "a host refuses account create" \
	igh account create tmpfleet --owner bob --groups dba --for 1h --reason x
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1)" "for accounts too"
assert_contains "$(igh status)" "fleet:       host host1; not governing" "a host's status says host"
assert_eq "$(lease_attr idgovLeaseHolder)" gov1 "a host never writes the lease"
# The host's idgovd: reads the lease, never governs, refuses over the socket too.
mkdir -p "$T/h/run"
assert_exit 0 "host1's idgovd starts" "$IDGOVD" -c "$T/h/etc/idgov.conf" -p "$T/h/run/idgovd.pid"
trap 'stop_pid_file "$T/b/run/idgovd.pid"; stop_pid_file "$T/h/run/idgovd.pid"; kill "$SINK_PID" 2>/dev/null; cleanup' EXIT
wait_for 5 status_has "$T/h/etc/idgov.conf" "lease:       gov1 until"
st=$(igh status)
assert_contains "$st" "daemon:      running" "the host's status comes from its daemon"
assert_contains "$st" "fleet:       host host1; not governing" "which is a host"
assert_contains "$st" "lease:       gov1 until" "and names the governor"
assert_exit 1 "the host's idgovd refuses grant request" \
	igh grant request --user bob --group admins --for 1h --reason "fleet test"
assert_eq "$(tail -c 200 "$T/last.err")" "idgov: run this on the governor (gov1)" "naming gov1"
assert_exit 1 "and review start" igh review start quarterly
assert_logged "$T/syslog.txt" "host1 is a host and does not govern: run this on the governor (gov1)" \
	"the host logs that it does not govern"
assert_eq "$(sqlite3 "$T/h/state/idgov.db" "SELECT count(*) FROM audit WHERE action LIKE 'journal.%' OR action LIKE 'review.%' OR action LIKE 'grant.%'")" 0 \
	"the host's idgovd ran no governance"
# A governor without a daemon: the lease is gov1's, so it refuses too.
assert_exit 1 "gov2's daemon refuses review list as well" igb review list
stop_pid_file "$T/b/run/idgovd.pid"
assert_exit 1 "gov2's CLI in-process refuses while gov1 holds the lease" \
	igb grant request --user bob --group admins --for 1h --reason "fleet test"
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1)" "naming gov1"
assert_exit 0 "gov2 starts again" "$IDGOVD" -c "$T/b/etc/idgov.conf" -p "$T/b/run/idgovd.pid"

# --- gov1 is killed mid-lease; only once its lease expires does gov2 take over ---
gov1_pid=$(cat "$T/run/idgovd.pid")
kill -9 "$gov1_pid"
rm -f "$T/run/idgovd.pid"
wait_for 5 sh -c "! kill -0 $gov1_pid 2>/dev/null"
old=$(lease_attr idgovLeaseExpires)
assert_eq "$(lease_attr idgovLeaseHolder)" gov1 "gov1's lease outlives it"
wait_for 20 holder_is gov2
assert_eq "$(lease_attr idgovLeaseHolder)" gov2 "gov2 took over after gov1's lease expired"
taken=$(sqlite3 "$T/b/state/idgov.db" "SELECT time FROM audit WHERE action='fleet.lease_taken'")
old_s=$(date -u -d "$(echo "$old" | sed -E 's/^(....)(..)(..)(..)(..)(..)Z$/\1-\2-\3 \4:\5:\6 UTC/')" +%s)
if [ -n "$taken" ] && [ "$taken" -ge "$old_s" ]; then
	ok "and not before that expiry ($old)"
else
	not_ok "gov2 took the lease at '$taken', before gov1's expiry $old ($old_s)"
fi
wait_for 5 status_has "$T/b/etc/idgov.conf" "governor gov2; governing"
assert_contains "$(igb status)" "fleet:       governor gov2; governing" "gov2 now governs"
assert_exit 0 "gov2 takes a grant request" \
	igb grant request --user bob --group admins --for 1h --reason "fleet test"
assert_logged "$T/syslog.txt" "gov2 holds the governor lease" "gov2 logs the takeover"
assert_exit 1 "gov1's CLI without its daemon now refuses" ig grant list
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov2)" "naming gov2"
wait_for 10 status_has "$T/h/etc/idgov.conf" "lease:       gov2 until"
assert_exit 1 "the host's idgovd now names gov2" igh grant list
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov2)" "read again"
stop_pid_file "$T/h/run/idgovd.pid"
assert_exit 1 "so does the host's CLI without a daemon" igh grant list
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov2)" "read afresh"

# --- a lease taken from its holder: LOG_ALERT, governance stops ---
far=$(date -u -d '+1 hour' +%Y%m%d%H%M%SZ)
ldif <<LDIF
dn: $LEASE
changetype: modify
replace: idgovLeaseHolder
idgovLeaseHolder: intruder
-
replace: idgovLeaseExpires
idgovLeaseExpires: $far
LDIF
wait_for 10 grep -q "gov2 lost the governor lease" "$T/syslog.txt"
assert_logged "$T/syslog.txt" "gov2 lost the governor lease (intruder until" \
	"gov2 alerts that it lost the lease"
assert_contains "$(grep 'lost the governor lease' "$T/syslog.txt")" "<81>" \
	"at LOG_ALERT (authpriv.alert)"
assert_exit 1 "gov2 then refuses governance" \
	igb grant request --user bob --group admins --for 1h --reason "fleet test"
assert_contains "$(cat "$T/last.err")" "run this on the governor (intruder)" "naming the holder"
assert_eq "$(sqlite3 "$T/b/state/idgov.db" "SELECT count(*) FROM audit WHERE action='fleet.lease_lost'")" 1 \
	"the loss is audited"
assert_eq "$(lease_attr idgovLeaseHolder)" intruder "gov2 does not take back an unexpired lease"

# --- two governors racing for the same lease: exactly one wins, each time ---
stop_pid_file "$T/b/run/idgovd.pid"
# A long lease, so that a slow start (sanitizers, a busy machine) of the
# second racer cannot meet an expired lease and take it over rightly.
sed -i 's/^lease_ttl = 6s$/lease_ttl = 60s/' "$T/etc/idgov.conf" "$T/b/etc/idgov.conf"
# race: gov1 and gov2 (each root without a daemon, so each claims for itself) at once.
race() {
	(ig grant list >"$T/race1.out" 2>&1; echo $? >"$T/race1.rc") &
	(igb grant list >"$T/race2.out" 2>&1; echo $? >"$T/race2.rc") &
	wait
	echo "$(cat "$T/race1.rc") $(cat "$T/race2.rc")"
}
for round in 1 2 3; do
	ldapdelete -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" "$LEASE"
	rcs=$(race)
	winner=$(lease_attr idgovLeaseHolder)
	case "$rcs:$winner" in
	"0 1:gov1") ok "race $round for a new lease: gov1 won, gov2 refused" ;;
	"1 0:gov2") ok "race $round for a new lease: gov2 won, gov1 refused" ;;
	*) not_ok "race $round for a new lease: exits '$rcs', holder '$winner'" ;;
	esac
	assert_contains "$(cat "$T/race1.out" "$T/race2.out")" "run this on the governor ($winner)" \
		"race $round: the loser names the winner"
done
for round in 1 2 3; do
	ldif <<LDIF
dn: $LEASE
changetype: modify
replace: idgovLeaseHolder
idgovLeaseHolder: gone
-
replace: idgovLeaseExpires
idgovLeaseExpires: 20000101000000Z
LDIF
	rcs=$(race)
	winner=$(lease_attr idgovLeaseHolder)
	case "$rcs:$winner" in
	"0 1:gov1" | "1 0:gov2") ok "race $round for an expired lease: one winner ($winner)" ;;
	*) not_ok "race $round for an expired lease: exits '$rcs', holder '$winner'" ;;
	esac
done

# --- a lease entry that is not a lease is never taken over ---
ldif <<LDIF
dn: $LEASE
changetype: modify
replace: idgovLeaseExpires
idgovLeaseExpires: 20000101000000Z
-
replace: idgovLeaseHolder
idgovLeaseHolder: two words
LDIF
assert_exit 1 "a host refuses with a holder that is not a name" igh grant list
assert_contains "$(cat "$T/last.err")" "idgovLeaseHolder is not printable text" "and says so"
assert_exit 1 "a governor does not take a malformed (and expired) lease over" igb grant list
assert_contains "$(cat "$T/last.err")" "idgovLeaseHolder is not printable text" "and says why"
assert_eq "$(lease_attr idgovLeaseHolder)" "two words" "nobody took the malformed lease over"

finish
