#!/usr/bin/env bash
# The departure guard while idgovd persists (issue: it only counted during
# a refresh). 40 users; 15% of them (6) deleted one after another: the
# departures within the window up to the limit (10%, 4 users) are ordinary
# leavers, the rest are held and alerted once, status shows the hold, a
# lock on another user still arrives live, and a release applies the rest.
# Nothing is logged from rolled-back work: no audit number appears twice.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
syslog_sink
mkdir -p "$T/pam.d"
authd_start || exit 1
echo "account required $MODULE $PAM_ARGS" >"$T/pam.d/idgov"
for i in $(seq 1 32); do
	printf 'dn: uid=p%02d,ou=People,dc=example,dc=com\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: p%02d\ncn: P %02d\nsn: P\nuidNumber: %d\ngidNumber: 10000\nhomeDirectory: /home/p%02d\n\n' \
		"$i" "$i" "$i" $((20000 + i)) "$i"
done | ldif >/dev/null
assert_exit 0 "idgovd starts" daemon_start
wait_for 10 daemon_connection_is persist
assert_eq "$(sql "SELECT count(*) FROM users")" 40 "40 users mirrored"

for i in 01 02 03 04 05 06; do
	printf 'dn: uid=p%s,ou=People,dc=example,dc=com\nchangetype: delete\n\n' "$i" | ldif >/dev/null
done
if wait_for 10 sql_is "SELECT count(*) FROM users WHERE status='departed' OR uuid IN (SELECT uuid FROM held_departures)" 6; then
	ok "all six deletions arrived"
else
	not_ok "all six deletions arrived: $(sql "SELECT count(*) FROM users WHERE status='departed'") departed, $(sql "SELECT count(*) FROM held_departures") held"
fi
assert_eq "$(sql "SELECT count(*) FROM users WHERE status='departed'")" 4 "departures up to the limit apply"
assert_eq "$(sql "SELECT group_concat(u.uid) FROM held_departures h JOIN users u USING (uuid)")" "p05,p06" \
	"the ones past the limit are held"
assert_eq "$(ig --json status | jq -r '.counts.departures_held')" 2 "status counts the held departures"
assert_contains "$(ig status)" "guard:       2 departures held since" "and prints since when"
assert_exit 1 "status exits 1 while departures are held" ig status
wait_for 10 grep -q 'idgov: directory departures held' "$T/syslog.txt"
assert_eq "$(grep -c 'idgov: directory departures held' "$T/syslog.txt")" 1 "the hold is alerted once"
assert_contains "$(grep 'idgov: directory departures held' "$T/syslog.txt")" "<81>" "at LOG_ALERT"
assert_eq "$(ig --json status | jq -r .daemon.connection)" persist "the sync keeps running"

# Other changes keep flowing while departures are held.
ldif <<'L' >/dev/null
dn: uid=bob,ou=People,dc=example,dc=com
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
L
if wait_for 10 sql_is "SELECT status FROM users WHERE uid='bob'" disabled; then
	ok "a lock on another user applies while departures are held"
else
	not_ok "a lock on another user applies while departures are held"
fi
assert_exit 1 "and PAM refuses bob" pam bob acct_mgmt
assert_exit 0 "a held user is still as they were" pam p05 acct_mgmt

assert_exit 0 "release --confirm 2 through idgovd" ig sync release --confirm 2
assert_eq "$(sql "SELECT count(*) FROM users WHERE status='departed'")" 6 "the held departures are applied"
assert_eq "$(ig --json status | jq -r '.counts.departures_held')" 0 "nothing is held any more"
assert_exit 0 "status exits 0 again" ig status
assert_exit 1 "PAM refuses a released leaver" pam p05 acct_mgmt
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='sync.guard_released' AND actor='root'")" 1 \
	"the release is audited with the admin"
assert_eq "$(grep -o 'audit #[0-9]*:' "$T/syslog.txt" | sort | uniq -d | head -3)" "" "no audit number is logged twice"
assert_exit 0 "audit chain verifies" ig audit verify
finish
