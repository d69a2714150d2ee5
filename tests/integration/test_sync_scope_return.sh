#!/usr/bin/env bash
# An entry that leaves user_base (or group_base) departs; when it comes
# back under its own entryUUID, the groups that name it are not sent again
# (they kept naming it, or refint rewrote the value back without a new
# entryCSN), so the mirror must reload to find its memberships. Against
# slapd with memberof and refint: a user moved out and back, and a nested
# group moved out and back, with idgovd persisting and with one-shot syncs;
# sync --verify finds no difference afterwards.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SLAPD_REFINT=1 it_setup
P=ou=People,dc=example,dc=com
G=ou=Groups,dc=example,dc=com
C=ou=Contractors,dc=example,dc=com
sed -i "s/^\[directory\]\$/[directory]\nuser_base = $P\ngroup_base = $G/" "$T/etc/idgov.conf"
assert_exit 0 "full sync with the narrower bases" ig sync --full

groups_of() {
	ig --json user show "$1" | jq -r '[.status] + ([.groups[].name] | sort) | join(",")'
}
dave_is() {
	[ "$(groups_of dave)" = "$1" ]
}
move() { # move RDN FROM TO
	ldif <<L
dn: $1,$2
changetype: modrdn
newrdn: $1
deleteoldrdn: 1
newsuperior: $3
L
}
# names GROUP DN: the directory's GROUP has DN among its members. refint
# rewrites those values after slapd has answered a move; a one-shot sync
# cannot wait for it (idgovd waits RETURN_SETTLE_S), so the test does.
names() {
	ldapsearch -LLL -x -o ldif-wrap=no -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" \
		-y "$T/slapd/rootpw" -b "$G" "(cn=$1)" member | grep -qix "member: $2"
}
BEFORE="active,admins,engineering,sre"
assert_eq "$(groups_of dave)" "$BEFORE" "dave in engineering and sre, and admins through sre"

assert_exit 0 "idgovd starts" daemon_start
wait_for 10 daemon_connection_is persist
move uid=dave "$P" "$C"
wait_for 10 dave_is departed
assert_eq "$(groups_of dave)" "departed" "dave moved out of user_base departs"
move uid=dave "$C" "$P"
wait_for 40 dave_is "$BEFORE"
assert_eq "$(groups_of dave)" "$BEFORE" "dave moved back has his groups again (idgovd)"
move cn=sre "$G" "$C"
wait_for 10 dave_is "active,engineering"
assert_eq "$(groups_of dave)" "active,engineering" "sre moved out of group_base takes sre and admins"
move cn=sre "$C" "$G"
wait_for 40 dave_is "$BEFORE"
assert_eq "$(groups_of dave)" "$BEFORE" "sre moved back is in admins again (idgovd)"
daemon_stop

move uid=dave "$P" "$C"
assert_exit 0 "one-shot sync after dave left" ig sync
assert_eq "$(groups_of dave)" "departed" "dave departs (one-shot)"
move uid=dave "$C" "$P"
wait_for 10 names sre "uid=dave,$P"
assert_exit 0 "one-shot sync after dave came back" ig sync
assert_eq "$(groups_of dave)" "$BEFORE" "dave moved back has his groups again (one-shot)"
move cn=sre "$G" "$C"
assert_exit 0 "one-shot sync after sre left" ig sync
move cn=sre "$C" "$G"
wait_for 10 names admins "cn=sre,$G"
assert_exit 0 "one-shot sync after sre came back" ig sync
assert_eq "$(groups_of dave)" "$BEFORE" "sre moved back is in admins again (one-shot)"
assert_exit 0 "sync --verify finds no difference" ig sync --verify
finish
