#!/usr/bin/env bash
# Memberships against a slapd that runs memberof and refint, as most sites
# do: renaming, moving or deleting a member rewrites the member values of
# every group that held it inside slapd, without a new entryCSN for those
# groups, so syncprov never sends them. With idgovd persisting, the mirror
# must still hold exactly the directory's membership pairs, each resolved
# by entryUUID; a uid deleted and added again must not inherit the
# leaver's privileged group; sync --verify finds a difference made behind
# the mirror's back, and a full sync, or idgovd's scheduled reconciliation,
# corrects it and audits sync.drift.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

SLAPD_REFINT=1 it_setup
URI=$(cat "$T/slapd/uri")
search() {
	ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" "$@"
}

# 24 users, five groups holding overlapping sets of them, one nested in another.
{
	for i in $(seq -w 1 24); do
		cat <<L
dn: uid=m$i,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: m$i
cn: Member $i
sn: $i
uidNumber: $((20000 + 10#$i))
gidNumber: 10000
homeDirectory: /home/m$i

L
	done
	for g in 1 2 3 4; do
		echo "dn: cn=team$g,ou=Groups,dc=example,dc=com"
		echo "changetype: add"
		echo "objectClass: groupOfNames"
		echo "cn: team$g"
		for i in $(seq -w 1 24); do
			[ $((10#$i % g)) -eq 0 ] && echo "member: uid=m$i,ou=People,dc=example,dc=com"
		done
		echo
	done
	cat <<L
dn: cn=team5,ou=Groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: team5
member: cn=team2,ou=Groups,dc=example,dc=com
member: uid=m07,ou=People,dc=example,dc=com

dn: cn=admins,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=m01,ou=People,dc=example,dc=com
L
} | ldif || { echo "could not add the test entries" >&2; exit 1; }

# Every (group, member) pair as the directory holds it: each group's member
# values, each resolved to an entryUUID by asking slapd for that DN.
dir_pairs() {
	local g dn uuid
	# entryUUID may come after the member values: pair them per entry first.
	search -b ou=Groups,dc=example,dc=com '(&(objectClass=groupOfNames)(!(cn=mark*)))' entryUUID member |
		awk '/^entryUUID: /{u = substr($0, 12)} /^member: /{m[n++] = substr($0, 9)}
		     /^$/{for (i = 0; i < n; i++) print u "\t" m[i]; n = 0}
		     END{for (i = 0; i < n; i++) print u "\t" m[i]}' |
		while IFS=$'\t' read -r g dn; do
			uuid=$(search -b "$dn" -s base '(objectClass=*)' entryUUID 2>/dev/null </dev/null |
				sed -n 's/^entryUUID: //p')
			echo "$g ${uuid:-unresolved:$dn}"
		done | sort
}
# The same from the mirror: member values by the identity they were resolved to.
store_pairs() {
	sql "SELECT g.uuid || ' ' || coalesce(r.target, 'unresolved:' || r.value) FROM memberships m
	     JOIN member_refs r ON r.id = m.ref_id JOIN groups g ON g.id = m.group_id
	     WHERE r.kind = 0 AND g.status = 'active' AND g.cn NOT LIKE 'mark%'" | sort
}
# refint rewrites the groups in a background task after the operation has
# returned: waits until no group names any of these DNs any more.
refint_done() {
	local filter="(|" dn
	for dn in "$@"; do filter="$filter(member=$dn)"; done
	filter="$filter)"
	[ -z "$(search -b ou=Groups,dc=example,dc=com "$filter" 1.1)" ]
}
# Waits until idgovd has applied everything sent before this call.
settle() {
	local mark=$1
	ldif <<L
dn: cn=mark$mark,ou=Groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: mark$mark
member: cn=admin,dc=example,dc=com
L
	wait_for 10 sql_is "SELECT count(*) FROM groups WHERE cn = 'mark$mark'" 1
}

assert_exit 0 "idgovd starts" daemon_start
wait_for 10 daemon_connection_is persist
settle 0
before=$(dir_pairs)
assert_eq "$(echo "$before" | wc -l)" "$(store_pairs | wc -l)" "the refresh mirrored every pair"
assert_eq "$(store_pairs)" "$before" "pairs equal after the refresh"

old_m01=$(sql "SELECT uuid FROM users WHERE uid = 'm01'")
ldif <<'L'
dn: uid=m02,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=m02b
deleteoldrdn: 1

dn: uid=m03,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=m03
deleteoldrdn: 1
newsuperior: ou=Contractors,dc=example,dc=com

dn: uid=m04,ou=People,dc=example,dc=com
changetype: delete

dn: uid=m06,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=m06x
deleteoldrdn: 1

dn: uid=m06x,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=m06y
deleteoldrdn: 1

dn: cn=team2,ou=Groups,dc=example,dc=com
changetype: modrdn
newrdn: cn=team2b
deleteoldrdn: 1

dn: uid=m12,ou=People,dc=example,dc=com
changetype: delete
L
P=ou=People,dc=example,dc=com
wait_for 10 refint_done "uid=m02,$P" "uid=m03,$P" "uid=m04,$P" "uid=m06,$P" "uid=m06x,$P" \
	"cn=team2,ou=Groups,dc=example,dc=com" "uid=m12,$P" || not_ok "refint did not finish"
settle 1
after=$(dir_pairs)
# The overlays really did rewrite the groups (the test would prove nothing otherwise).
assert_eq "$(echo "$after" | grep -c unresolved)" 0 "refint left no dangling member value"
if [ "$after" != "$before" ]; then ok "the churn changed the directory's pairs"; else not_ok "the churn changed nothing"; fi
assert_eq "$(store_pairs)" "$after" "pairs equal after renames, a move and deletes (by entryUUID)"
assert_eq "$(sql "SELECT count(*) FROM memberships m JOIN member_refs r ON r.id = m.ref_id
	WHERE r.value = 'uid=m02b,ou=people,dc=example,dc=com'")" 2 "the renamed member's rows carry its new DN"

# A leaver in a privileged group, and a newcomer with the same uid.
ldif <<'L'
dn: uid=m01,ou=People,dc=example,dc=com
changetype: delete

dn: uid=m01,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: m01
cn: Member 01 (new hire)
sn: 01
uidNumber: 20101
gidNumber: 10000
homeDirectory: /home/m01
L
wait_for 10 refint_done "uid=m01,$P" || not_ok "refint did not finish"
settle 2
new_m01=$(sql "SELECT uuid FROM users WHERE uid = 'm01' AND status <> 'departed'")
if [ -n "$new_m01" ] && [ "$new_m01" != "$old_m01" ]; then ok "the re-added uid is a new entry"; else not_ok "re-added uid: '$new_m01' vs '$old_m01'"; fi
assert_eq "$(ig --json user show m01 | jq -r '[.groups[].name] | join(",")')" "" \
	"the re-added uid inherits none of the leaver's groups (not admins)"
assert_eq "$(sql "SELECT count(*) FROM memberships m JOIN member_refs r ON r.id = m.ref_id
	WHERE r.target IN ('$old_m01', '$new_m01')")" 0 "no membership rows for either entry"
assert_eq "$(store_pairs)" "$(dir_pairs)" "pairs equal after the delete and re-add"
assert_exit 0 "sync --verify finds no difference" ig sync --verify

# A difference made behind the mirror's back: verify reports it and changes nothing.
sql "DELETE FROM memberships WHERE ref_id = (SELECT id FROM member_refs WHERE
	value = 'uid=m08,ou=people,dc=example,dc=com') AND group_id = (SELECT id FROM groups WHERE cn = 'team4')"
assert_exit 1 "sync --verify exits 1 on drift" ig sync --verify
assert_eq "$(ig --json sync --verify | jq -c '[.total, .memberships_added]')" "[1,1]" "verify counts the missing pair"
ig sync --verify > "$T/verify.out"
if grep -q "membership.added team4 .*uid=m08" "$T/verify.out"; then ok "verify prints the difference"; else not_ok "verify output: $(cat "$T/verify.out")"; fi
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'sync.drift'")" 0 "verify audits nothing"
assert_exit 0 "a full sync corrects it" ig sync --full
assert_eq "$(sql "SELECT json_extract(details, '$.memberships_added') FROM audit WHERE action = 'sync.drift'")" 1 \
	"the correction is audited as sync.drift with its count"
assert_eq "$(store_pairs)" "$(dir_pairs)" "pairs equal after the reconciliation"
assert_exit 0 "sync --verify is clean again" ig sync --verify

# idgovd's own reconciliation, on a schedule of every minute: it finds a
# difference made behind its back and audits the correction.
sql "DELETE FROM memberships WHERE ref_id = (SELECT id FROM member_refs WHERE
	value = 'uid=m09,ou=people,dc=example,dc=com') AND group_id = (SELECT id FROM groups WHERE cn = 'team3')"
printf '[sync]\nreconcile = * * * * *\n' >> "$T/etc/idgov.conf"
kill -HUP "$(cat "$T/run/idgovd.pid")"
if wait_for 75 sql_is "SELECT count(*) FROM audit WHERE action = 'sync.drift'" 2; then
	ok "idgovd's scheduled reconciliation audits what it corrected"
else
	not_ok "no scheduled reconciliation within 75 s"
fi
assert_eq "$(store_pairs)" "$(dir_pairs)" "pairs equal after the scheduled reconciliation"

finish
