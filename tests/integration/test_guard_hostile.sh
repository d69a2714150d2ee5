#!/usr/bin/env bash
# The departure guard attacked while idgovd persists: a release with the
# wrong number changes nothing; a held leaver's uid is given to a new hire
# while the departure is held: that departure is applied then (the name
# now belongs to someone else), so the new hire never shows the leaver's
# privileged group, and a group that names the new hire's DN names the new
# hire; the rest stay held until released; idgovd killed with
# SIGKILL after the release leaves a store that sync --verify finds equal
# to the directory.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SLAPD_REFINT=1 it_setup
P=ou=People,dc=example,dc=com
for i in $(seq 1 32); do
	printf 'dn: uid=p%02d,%s\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: p%02d\ncn: P %02d\nsn: P\nuidNumber: %d\ngidNumber: 10000\nhomeDirectory: /home/p%02d\n\n' \
		"$i" "$P" "$i" "$i" $((20000 + i)) "$i"
done | ldif >/dev/null
ldif >/dev/null <<L
dn: cn=admins,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=p05,$P
L
assert_exit 0 "idgovd starts" daemon_start
wait_for 10 daemon_connection_is persist
assert_eq "$(sql "SELECT count(*) FROM users")" 40 "40 users mirrored"
old_p05=$(sql "SELECT uuid FROM users WHERE uid = 'p05'")

for i in 01 02 03 04 05 06; do
	printf 'dn: uid=p%s,%s\nchangetype: delete\n\n' "$i" "$P" | ldif >/dev/null
done
wait_for 10 sql_is "SELECT count(*) FROM held_departures" 2 || not_ok "two departures were not held"
assert_eq "$(sql "SELECT group_concat(u.uid) FROM held_departures h JOIN users u USING (uuid)")" "p05,p06" \
	"p05 and p06 are held"

# Wrong numbers: refused, nothing changes.
for n in 1 3 0 -1 2x "" 99999999999999999999; do
	if ig sync release --confirm "$n" >/dev/null 2>&1; then
		not_ok "release --confirm '$n' was accepted"
	else
		ok "release --confirm '$n' is refused"
	fi
done
assert_eq "$(sql "SELECT count(*) FROM held_departures")" 2 "still two held"
assert_eq "$(sql "SELECT count(*) FROM users WHERE status = 'departed'")" 4 "still four departed"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'sync.guard_released'")" 0 "no release audited"

# A new hire takes the held leaver's uid, then joins a group of their own.
ldif >/dev/null <<L
dn: uid=p05,$P
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: p05
cn: P 05 (new hire)
sn: P
uidNumber: 20105
gidNumber: 10000
homeDirectory: /home/p05

dn: cn=newteam,ou=Groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: newteam
member: uid=p05,$P
L
wait_for 10 sql_is "SELECT count(*) FROM groups WHERE cn = 'newteam'" 1 || not_ok "newteam did not arrive"
new_p05=$(sql "SELECT uuid FROM users WHERE uid = 'p05' AND uuid <> '$old_p05'")
if [ -n "$new_p05" ]; then ok "the new hire is a new entry"; else not_ok "the new hire is missing"; fi
assert_eq "$(ig --json user show p05 | jq -r '[.groups[].name] | join(",")')" "newteam" \
	"while the leaver is held, user show p05 is the new hire: newteam, not admins"
assert_eq "$(sql "SELECT group_concat(r.target) FROM memberships m JOIN member_refs r ON r.id = m.ref_id
	JOIN groups g ON g.id = m.group_id WHERE g.cn = 'newteam'")" "$new_p05" \
	"newteam's member value names the new hire's entryUUID"

# The directory gave the name to someone else: that one departure is applied.
assert_eq "$(sql "SELECT status FROM users WHERE uuid = '$old_p05'")" departed \
	"the held leaver whose uid was taken has departed"
assert_eq "$(sql "SELECT group_concat(u.uid) FROM held_departures h JOIN users u USING (uuid)")" "p06" \
	"p06 is still held"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'user.leaver' AND json_extract(details, '$.uuid') = '$old_p05'")" 1 \
	"the leaver's departure is audited"
assert_exit 1 "release --confirm 2 is refused now" ig sync release --confirm 2
assert_exit 0 "release --confirm 1" ig sync release --confirm 1
assert_eq "$(sql "SELECT count(*) FROM users WHERE status = 'departed'")" 6 "six departed"
assert_eq "$(sql "SELECT status FROM users WHERE uuid = '$new_p05'")" active "the new hire stays active"
assert_eq "$(ig --json user show p05 | jq -r '[.groups[].name] | join(",")')" "newteam" \
	"after the release the new hire keeps newteam and has no admins"

kill -9 "$(cat "$T/run/idgovd.pid")"
sleep 0.2
rm -f "$T/run/idgovd.pid"
assert_exit 0 "idgovd starts again after SIGKILL" daemon_start
wait_for 10 daemon_connection_is persist
if ig sync --verify >"$T/verify.out" 2>&1; then
	ok "sync --verify finds the store equal to the directory"
else
	not_ok "sync --verify after the SIGKILL: $(cat "$T/verify.out")"
fi
assert_exit 0 "audit chain verifies" ig audit verify
finish
