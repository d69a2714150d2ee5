#!/usr/bin/env bash
# groupOfUniqueNames with [groups] member = uniqueMember: a uniqueMember
# value is a DN with an optional bit string ("uid=a,...#'0101'B", RFC 4517
# NameAndOptionalUID). The member is the DN, with or without the bit
# string, so every such value resolves to its user or nested group, with
# idgovd persisting and after a one-shot sync; sync --verify finds nothing.
# (The fixture's groupOfNames groups have no uniqueMember: nobody is in them here.)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
sed -i -e 's/^\[groups\]$/[groups]\nmember = uniqueMember/' \
	-e 's/^\[directory\]$/[directory]\ngroup_filter = (|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))/' \
	"$T/etc/idgov.conf"
P=ou=People,dc=example,dc=com
G=ou=Groups,dc=example,dc=com

# groups_of USER: the names of USER's groups, direct and nested, sorted.
groups_of() {
	ig --json user show "$1" | jq -r '[.groups[].name] | sort | join(",")'
}
erin_in_both() {
	[ "$(groups_of erin)" = "u1,u2" ]
}
unresolved() {
	ig --json status | jq -r .counts.members_unresolved
}

ldif <<L || exit 1
dn: cn=u1,$G
changetype: add
objectClass: groupOfUniqueNames
cn: u1
uniqueMember: uid=alice,$P#'0101'B
uniqueMember: UID=Bob , OU=People,DC=example,DC=com#'1'B
uniqueMember: uid=carol,$P
uniqueMember: cn=u2,$G#'11'B

dn: cn=u2,$G
changetype: add
objectClass: groupOfUniqueNames
cn: u2
uniqueMember: uid=dave,$P#''B
L

assert_exit 0 "idgovd starts" daemon_start
wait_for 10 daemon_connection_is persist
assert_eq "$(groups_of alice)" "u1" "alice, named with a bit string, is in u1"
assert_eq "$(groups_of bob)" "u1" "bob, named in other case and spacing with a bit string, is in u1"
assert_eq "$(groups_of carol)" "u1" "carol, named without a bit string, is in u1"
assert_eq "$(groups_of dave)" "u1,u2" "dave is in u2 (empty bit string) and through it in u1"
assert_eq "$(ig --json group show u1 | jq '[.direct_members[] | select(.unresolved != null)] | length')" 0 \
	"u1 has no unresolved member"

# Churn while idgovd persists.
ldif <<L
dn: cn=u2,$G
changetype: modify
add: uniqueMember
uniqueMember: uid=erin,$P#'0'B

dn: cn=u1,$G
changetype: modify
delete: uniqueMember
uniqueMember: uid=alice,$P#'0101'B
L
wait_for 10 erin_in_both
assert_eq "$(groups_of erin)" "u1,u2" "erin, added to u2 with a bit string, is in u2 and u1"
assert_eq "$(groups_of alice)" "" "alice, removed from u1, is not in it"
daemon_stop

# A one-shot sync.
ldif <<L
dn: cn=u2,$G
changetype: modify
add: uniqueMember
uniqueMember: uid=frank,$P#'0110'B
L
assert_exit 0 "one-shot sync" ig sync
assert_eq "$(groups_of frank)" "u1,u2" "frank, added with a bit string, is in u2 and u1 after a one-shot sync"
assert_exit 0 "full sync" ig sync --full
assert_eq "$(groups_of dave)" "u1,u2" "dave is still in u2 and u1 after a full sync"
assert_eq "$(unresolved)" 0 "no member value is unresolved"
assert_exit 0 "sync --verify finds no difference" ig sync --verify
finish
