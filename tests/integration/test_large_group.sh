#!/usr/bin/env bash
# A group of 50,000 members: synced in full, then one member added and one
# removed while idgovd persists, which must produce exactly two membership
# events (a diff, not a rewrite of the group).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

N=50000
awk -v n=$N 'BEGIN {
	print "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
	print "dn: ou=People,dc=example,dc=com\nobjectClass: organizationalUnit\nou: People\n"
	print "dn: ou=Groups,dc=example,dc=com\nobjectClass: organizationalUnit\nou: Groups\n"
	for (i = 0; i <= n; i++)
		printf "dn: uid=u%d,ou=People,dc=example,dc=com\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: u%d\ncn: U%d\nsn: U\nuidNumber: %d\ngidNumber: 100\nhomeDirectory: /home/u%d\n\n", i, i, i, 100000 + i, i
	print "dn: cn=everyone,ou=Groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: everyone"
	for (i = 0; i < n; i++)
		printf "member: uid=u%d,ou=People,dc=example,dc=com\n", i
	print ""
}' > "$T/big.ldif"
it_setup "$T/big.ldif"

start=$(date +%s%N)
assert_exit 0 "full sync of a 50k-member group" ig sync
echo "# full sync took $((($(date +%s%N) - start) / 1000000)) ms"
assert_eq "$(sql "SELECT count(*) FROM memberships")" $N "50000 memberships stored"
assert_eq "$(ig --json group show everyone | jq '.effective_members | length')" $N "50000 effective members"

assert_exit 0 "idgovd starts" daemon_start
ldif <<'L'
dn: cn=everyone,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=u50000,ou=People,dc=example,dc=com
-
delete: member
member: uid=u7,ou=People,dc=example,dc=com
L
if wait_for 20 sql_is "SELECT count(*) FROM events WHERE kind LIKE 'membership.%'" 2; then
	ok "one change to a 50k group is two membership events"
else
	not_ok "membership events: $(sql "SELECT kind, count(*) FROM events GROUP BY kind")"
fi
assert_eq "$(sql "SELECT count(*) FROM membership_values WHERE value='uid=u50000,ou=people,dc=example,dc=com'")" 1 "added member stored"
assert_eq "$(sql "SELECT count(*) FROM membership_values WHERE value='uid=u7,ou=people,dc=example,dc=com'")" 0 "removed member gone"
daemon_stop
assert_exit 0 "audit chain verifies" ig audit verify
finish
