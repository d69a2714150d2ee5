#!/usr/bin/env bash
# The fleet's directory (fleet_lib.sh): two slapd providers in
# multi-provider replication, with idgov's schema and the example ACL.
# Changes replicate both ways (adds, modifies, deletes), idgov's own
# attributes too (a token with its sealed binary secret, the last step, a
# last login, the lease); a provider that was down catches up when it
# starts again; during a partition the step's compare-and-swap accepts a
# step once on each side, and once healed the later write wins, even with a
# lower step (what a host's own watermark must cover); the ACL holds on both providers: a host's service DN writes
# token attributes and nothing else (not a group's members, not a person's
# mail, not the lease), a governor's writes the lease and memberships. Then
# a governor and two hosts (each with its own configuration, store and
# socket, bound with its own service DN, each host preferring another
# provider) run idgovd: the governor takes the lease through one provider,
# the hosts see it, and a membership change made on either provider reaches
# every store.
. "$(dirname "$0")/fleet_lib.sh"

fleet_providers_start || exit 1
ok "two providers started and agree on the contextCSN"
ALICE="uid=alice,ou=People,$SLAPD_SUFFIX"
BOB="uid=bob,ou=People,$SLAPD_SUFFIX"
ADMINS="cn=admins,ou=Groups,$SLAPD_SUFFIX"
assert_eq "$(fleet_attr 1 "cn=config" olcServerID 2>/dev/null)" "" "cn=config is not readable over LDAP"
assert_eq "$(fleet_attr 1 "$ALICE" entryUUID)" "$(fleet_attr 2 "$ALICE" entryUUID)" \
	"both providers hold alice under the same entryUUID"

# --- replication, both ways ---
# mail_reaches FROM TO DN MAIL WHAT: DN's mail replaced on provider FROM is
# served by provider TO within 10 s.
mail_reaches() {
	fleet_modify "$1" <<LDIF
dn: $3
changetype: modify
replace: mail
mail: $4
LDIF
	wait_for 10 fleet_attr_is "$2" "$3" mail "$4"
	assert_eq "$(fleet_attr "$2" "$3" mail)" "$4" "$5"
}
mail_reaches 1 2 "$ALICE" alice.p1@example.com "a modify on provider 1 reaches provider 2"
mail_reaches 2 1 "$BOB" bob.p2@example.com "a modify on provider 2 reaches provider 1"
fleet_modify 2 <<LDIF
dn: uid=zoe,ou=People,$SLAPD_SUFFIX
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: zoe
cn: Zoe Z
sn: Z
uidNumber: 5050
gidNumber: 100
homeDirectory: /home/zoe
LDIF
wait_for 10 fleet_attr_is 1 "uid=zoe,ou=People,$SLAPD_SUFFIX" uid zoe
assert_eq "$(fleet_attr 1 "uid=zoe,ou=People,$SLAPD_SUFFIX" entryUUID)" \
	"$(fleet_attr 2 "uid=zoe,ou=People,$SLAPD_SUFFIX" entryUUID)" "an add on provider 2 reaches provider 1, same entryUUID"
printf 'dn: uid=zoe,ou=People,%s\nchangetype: delete\n' "$SLAPD_SUFFIX" | fleet_modify 1
wait_for 10 sh -c "[ -z \"\$(ldapsearch -x -LLL -H '$P2_URI' -D '$SLAPD_ROOTDN' -y '$T/p2/rootpw' -b 'ou=People,$SLAPD_SUFFIX' '(uid=zoe)' 1.1)\" ]"
assert_eq "$(fleet_search 2 -b "ou=People,$SLAPD_SUFFIX" '(uid=zoe)' 1.1)" "" "a delete on provider 1 reaches provider 2"
wait_for 10 fleet_in_sync
if fleet_in_sync; then ok "the providers agree on the contextCSN again"; else not_ok "contextCSN: '$(fleet_context_csn 1)' vs '$(fleet_context_csn 2)'"; fi

# --- idgov's attributes, written by the service DNs the ACL allows ---
assert_eq "$(fleet_as 1 hostA <<LDIF
dn: $ALICE
changetype: modify
add: objectClass
objectClass: idgovToken
objectClass: idgovLoginRecord
-
add: idgovTokenSecret
idgovTokenSecret:: AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAA/w==
-
add: idgovTokenAlgorithm
idgovTokenAlgorithm: sha1
-
add: idgovTokenDigits
idgovTokenDigits: 6
-
add: idgovTokenPeriod
idgovTokenPeriod: 30
-
add: idgovLastStep
idgovLastStep: 59000000
-
add: idgovFailureCount
idgovFailureCount: 0
-
add: idgovRecoveryCode
idgovRecoveryCode: ABCD:\$argon2id\$v=19\$m=65536,t=2,p=1\$c2FsdA\$aGFzaA
-
add: idgovLastLogin
idgovLastLogin: 20261202040000Z
LDIF
)" 0 "host A writes alice's token on provider 1"
wait_for 10 fleet_attr_is 2 "$ALICE" idgovLastStep 59000000
token_on() {
	fleet_search "$1" -s base -b "$ALICE" idgovTokenSecret idgovTokenAlgorithm idgovTokenDigits \
		idgovTokenPeriod idgovLastStep idgovFailureCount idgovRecoveryCode idgovLastLogin objectClass |
		grep -v '^dn:' | sort
}
token1=$(token_on 1)
assert_contains "$token1" "idgovTokenSecret:: AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAA/w==" \
	"provider 1 holds the binary secret"
assert_eq "$(token_on 2)" "$token1" "provider 2 holds the same token, every attribute and object class"
# The compare-and-swap a host does at login, on the other provider.
# consume N HOST STEP: the login's compare-and-swap on provider N as HOST; its exit code.
consume() {
	ldapmodify -x -H "$(cat "$T/p$1/uri")" -D "cn=$2,$FLEET_OU" -y "$T/pw/$2" \
		-e "!assert=(!(idgovLastStep>=$3))" >"$T/cas.out" 2>&1 <<LDIF
dn: $ALICE
changetype: modify
replace: idgovLastStep
idgovLastStep: $3
LDIF
	echo $?
}
assert_eq "$(consume 2 hostB 59000001)" 0 "host B consumes step 59000001 on provider 2 (assertion holds)"
wait_for 10 fleet_attr_is 1 "$ALICE" idgovLastStep 59000001
assert_eq "$(fleet_attr 1 "$ALICE" idgovLastStep)" 59000001 "the step replicates to provider 1"
assert_eq "$(consume 1 hostA 59000001)" 122 "the same step on provider 1 is then refused (assertionFailed)"
assert_eq "$(fleet_as 2 hostB <<LDIF
dn: $ALICE
changetype: modify
replace: idgovFailureCount
idgovFailureCount: 3
-
replace: idgovFailureWindowStart
idgovFailureWindowStart: 20261202050000Z
-
replace: idgovLockEnd
idgovLockEnd: 20261202051500Z
LDIF
)" 0 "host B records failures and a lock on provider 2"
wait_for 10 fleet_attr_is 1 "$ALICE" idgovLockEnd 20261202051500Z
assert_eq "$(fleet_attr 1 "$ALICE" idgovFailureCount) $(fleet_attr 1 "$ALICE" idgovLockEnd)" \
	"3 20261202051500Z" "the failures and the lock replicate to provider 1"

# --- what the ACL refuses, on both providers ---
for n in 1 2; do
	host=hostA
	[ "$n" = 2 ] && host=hostB
	assert_eq "$(fleet_as "$n" "$host" <<LDIF
dn: $ADMINS
changetype: modify
add: member
member: uid=carol,ou=People,$SLAPD_SUFFIX
LDIF
)" 50 "provider $n: $host may not add a member to a group"
	assert_eq "$(fleet_as "$n" "$host" <<LDIF
dn: $ALICE
changetype: modify
replace: mail
mail: mallory@example.com
LDIF
)" 50 "provider $n: $host may not change a person's mail"
	assert_eq "$(fleet_as "$n" "$host" <<LDIF
dn: $FLEET_LEASE
changetype: add
objectClass: idgovLease
cn: governor
idgovLeaseHolder: $host
idgovLeaseExpires: 20991231000000Z
LDIF
)" 50 "provider $n: $host may not create the lease"
done
assert_eq "$(fleet_search 1 -s base -b "$ADMINS" member | grep -c carol)" 0 "no refused write landed on provider 1"
assert_eq "$(fleet_search 2 -s base -b "$ADMINS" member | grep -c carol)" 0 "nor on provider 2"
assert_eq "$(fleet_attr 2 "$ALICE" mail)" alice.p1@example.com "alice's mail is unchanged"
assert_eq "$(ldapsearch -x -LLL -H "$P1_URI" -D "cn=hostA,$FLEET_OU" -y "$T/pw/hostA" -s base -b "$ALICE" \
	idgovLastStep 2>/dev/null | sed -n 's/^idgovLastStep: //p')" 59000001 "a host reads the token state"

# --- a provider that was down catches up ---
fleet_provider_stop 2
fleet_modify 1 <<LDIF
dn: $ALICE
changetype: modify
replace: idgovLastStep
idgovLastStep: 59000010
LDIF
fleet_provider_start 2 || exit 1
wait_for 15 fleet_attr_is 2 "$ALICE" idgovLastStep 59000010
assert_eq "$(fleet_attr 2 "$ALICE" idgovLastStep)" 59000010 "provider 2, restarted, receives what it missed"

# --- a partition: what the step's compare-and-swap can and cannot promise ---
fleet_provider_stop 2
assert_eq "$(consume 1 hostA 59000020)" 0 "provider 2 down: step 59000020 is accepted on provider 1"
assert_eq "$(consume 1 hostA 59000020)" 122 "and refused there a second time"
fleet_provider_stop 1
fleet_provider_start 2 || exit 1
assert_eq "$(consume 2 hostB 59000020)" 0 \
	"the providers cut apart: the same step is accepted once more on provider 2 (the partition window)"
assert_eq "$(consume 2 hostB 59000020)" 122 "but only once on that side"
assert_eq "$(consume 2 hostB 59000030)" 0 "provider 2 moves on to step 59000030"
fleet_provider_stop 2
fleet_provider_start 1 || exit 1
assert_eq "$(consume 1 hostA 59000025)" 0 "provider 1, still cut off, accepts step 59000025 (it holds 59000020)"
fleet_provider_start 2 || exit 1
wait_for 20 fleet_in_sync
if fleet_in_sync; then ok "healed: the providers agree on the contextCSN"; else not_ok "healed: contextCSN differ"; fi
# Multi-provider replication resolves a conflict per attribute by the later
# change (its CSN), not by the larger number: the step written last wins
# even when it is lower. A host must keep its own watermark (the larger of
# its copy and the directory's) to refuse steps up to 59000030 here.
assert_eq "$(fleet_attr 1 "$ALICE" idgovLastStep) $(fleet_attr 2 "$ALICE" idgovLastStep)" \
	"59000025 59000025" "both hold the later write, 59000025, lower than the 59000030 provider 2 had accepted"
assert_eq "$(consume 2 hostB 59000030)" 0 "so step 59000030 is accepted again after the partition heals"

# --- a governor and two hosts, each with its own configuration and store ---
fleet_instance gov1 governor "$P1_URI $P2_URI" || exit 1
fleet_instance hostA host "$P1_URI $P2_URI" || exit 1
fleet_instance hostB host "$P2_URI $P1_URI" || exit 1
for name in gov1 hostA hostB; do
	assert_exit 0 "$name's idgovd starts" fleet_daemon_start "$name"
done
wait_for 10 fleet_attr_is 2 "$FLEET_LEASE" idgovLeaseHolder gov1
assert_eq "$(fleet_attr 2 "$FLEET_LEASE" idgovLeaseHolder)" gov1 \
	"the governor's lease, written through provider 1, is on provider 2"
status_has() { fleet_ig "$1" status 2>&1 | grep -q "$2"; }
wait_for 10 status_has hostB "lease:       gov1 until"
assert_contains "$(fleet_ig hostB status)" "fleet:       host hostB; not governing" "host B's idgovd runs as a host"
assert_contains "$(fleet_ig hostB status)" "lease:       gov1 until" "and reads the lease from provider 2"
assert_exit 1 "host A refuses review start" fleet_ig hostA review start quarterly
assert_contains "$(cat "$T/last.err")" "run this on the governor (gov1)" "naming the governor"
# every_store_is QUERY EXPECTED WHAT: in each instance's store, QUERY comes
# to print EXPECTED within 10 s; WHAT names the check, NAME in it the instance.
every_store_is() {
	local name
	for name in gov1 hostA hostB; do
		wait_for 10 fleet_sql_is "$name" "$1" "$2"
		assert_eq "$(fleet_sql "$name" "$1")" "$2" "${3//NAME/$name}"
	done
}
# frank_in_sre N add|delete: frank's membership of sre, changed on provider N.
frank_in_sre() {
	fleet_modify "$1" <<LDIF
dn: cn=sre,ou=Groups,$SLAPD_SUFFIX
changetype: modify
$2: member
member: uid=frank,ou=People,$SLAPD_SUFFIX
LDIF
}
every_store_is "SELECT count(*) FROM users WHERE uid='alice'" 1 "NAME mirrored the directory"
members="SELECT count(*) FROM memberships m JOIN groups g ON g.id = m.group_id JOIN member_refs r ON r.id = m.ref_id
	JOIN users u ON u.uuid = r.target WHERE g.cn = 'sre' AND u.uid = 'frank'"
frank_in_sre 2 add
every_store_is "$members" 1 "a membership added on provider 2 reaches NAME's store"
frank_in_sre 1 delete
every_store_is "$members" 0 "its removal on provider 1 reaches NAME's store"

finish
