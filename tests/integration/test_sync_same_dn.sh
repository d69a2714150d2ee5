#!/usr/bin/env bash
# One DN, two identities in turn: a user in a group is deleted (refint
# removes the group's value), a group is created under the same DN and the
# group names that DN again. One refresh carries all of it (the group's
# current values, the new entry, the delete, in whatever order slapd sends
# them): the membership belongs to the new entry, and the deleted user
# takes nothing with it and leaves nothing behind. Then the other way
# round (the group deleted, a user under its DN). With one-shot syncs and
# with idgovd persisting; sync --verify finds no difference after each.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SLAPD_REFINT=1 it_setup
P=ou=People,dc=example,dc=com
G=ou=Groups,dc=example,dc=com

members_of() { # the direct members of a group, by user or group name
	ig --json group show "$1" |
		jq -r '[.direct_members[] | .user // .group_name // ("unresolved:" + .value)] | sort | join(",")'
}
groups_of() {
	ig --json user show "$1" | jq -r '[.groups[].name] | sort | join(",")'
}
user_ldif() { # user_ldif CN UIDNUMBER
	cat <<L
dn: cn=$1,$P
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: $1
cn: $1
sn: $1
uidNumber: $2
gidNumber: 10000
homeDirectory: /home/$1

L
}
# round NAME NUMBER: cn=NAME is a user in the group "outer"; it becomes a
# group holding erin (named by outer again), then a user again.
round() {
	local name=$1 n=$2 sync=$3
	{
		user_ldif "$name" "$n"
		cat <<L
dn: cn=outer-$name,$G
changetype: add
objectClass: groupOfNames
cn: outer-$name
member: uid=alice,$P
member: cn=$name,$P
L
	} | ldif || return 1
	$sync
	assert_eq "$(members_of "outer-$name")" "alice,$name" "$name: the user $name is in outer-$name"
	ldif <<L
dn: cn=$name,$P
changetype: delete
L
	wait_for 10 refint_done "outer-$name" "$name" || not_ok "$name: refint did not remove the value"
	ldif <<L
dn: cn=$name,$P
changetype: add
objectClass: groupOfNames
cn: $name
member: uid=erin,$P

dn: cn=outer-$name,$G
changetype: modify
add: member
member: cn=$name,$P
L
	$sync
	assert_eq "$(members_of "outer-$name")" "alice,$name" "$name: outer-$name holds the group $name"
	assert_eq "$(groups_of erin)" "finance,outer-$name,$name" "$name: erin is in outer-$name through the group"
	assert_eq "$(groups_of "$name")" "" "$name: the deleted user kept no group"
	assert_exit 0 "$name: sync --verify after the user became a group" ig sync --verify
	ldif <<L
dn: cn=$name,$P
changetype: delete
L
	wait_for 10 refint_done "outer-$name" "$name" || not_ok "$name: refint did not remove the value"
	{
		user_ldif "$name" "$((n + 1))"
		cat <<L
dn: cn=outer-$name,$G
changetype: modify
add: member
member: cn=$name,$P
L
	} | ldif || return 1
	$sync
	assert_eq "$(members_of "outer-$name")" "alice,$name" "$name: outer-$name holds the new user"
	assert_eq "$(groups_of erin)" "finance" "$name: erin is no longer in outer-$name"
	assert_eq "$(groups_of "$name")" "outer-$name" "$name: the new user is in outer-$name"
	assert_exit 0 "$name: sync --verify after the group became a user" ig sync --verify
}

# refint removes a deleted entry's values from groups after the delete has
# returned (never a groupOfNames' last one: alice stays in the outer
# groups): wait for that before the DN is named again.
refint_done() {
	[ -z "$(ldapsearch -x -LLL -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" \
		-b "cn=$1,$G" -s base "(member=cn=$2,$P)" 1.1)" ]
}
one_shot() {
	ig sync >/dev/null || not_ok "one-shot sync failed"
}
MARKS=0
settle() { # a marker group, applied after everything before it
	MARKS=$((MARKS + 1))
	ldif <<L
dn: cn=mark$MARKS,$G
changetype: add
objectClass: groupOfNames
cn: mark$MARKS
member: cn=admin,dc=example,dc=com
L
	wait_for 10 sql_is "SELECT count(*) FROM groups WHERE cn = 'mark$MARKS'" 1 ||
		not_ok "idgovd did not apply mark$MARKS"
}

assert_exit 0 "first sync" ig sync
round shape1 61000 one_shot
assert_exit 0 "idgovd starts" daemon_start
wait_for 10 daemon_connection_is persist
round shape2 62000 settle
finish
