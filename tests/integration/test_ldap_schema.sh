#!/usr/bin/env bash
# idgov's LDAP schema (schema/ldap/): idgov.schema and idgov.ldif define the
# same attribute types and object classes; a real slapd loads the LDIF
# (tests/lib/slapd.sh includes it in every test instance) and the example
# ACL (idgov-acl.ldif); the ACL lets a host's service DN write token state
# and last-login and nothing else, and the governor's DN write the lease.
. "$(dirname "$0")/lib.sh"

SCHEMA=$ROOT/schema/ldap

# Each definition on one line, whitespace collapsed, sorted: from the LDIF
# (olcAttributeTypes/olcObjectClasses values, folded lines joined) and from
# the .schema file (attributetype/objectclass, possibly over several lines).
defs_ldif() {
	awk '/^#/ { next } /^ / { line = line substr($0, 2); next }
	     { if (line != "") print line; line = $0 } END { if (line != "") print line }' "$1" |
		sed -n 's/^olcAttributeTypes: */attributetype /p; s/^olcObjectClasses: */objectclass /p' |
		tr -s ' \t' '  ' | sort
}
defs_schema() {
	awk '/^#/ { next } /^[ \t]*$/ { if (line != "") print line; line = ""; next }
	     { line = line " " $0 } END { if (line != "") print line }' "$1" |
		sed 's/^ *//' | tr -s ' \t' '  ' | sort
}
defs_ldif "$SCHEMA/idgov.ldif" >"$T/ldif.defs"
defs_schema "$SCHEMA/idgov.schema" >"$T/schema.defs"
assert_eq "$(wc -l <"$T/ldif.defs")" 15 "the LDIF defines 12 attribute types and 3 object classes"
if diff -u "$T/ldif.defs" "$T/schema.defs" >"$T/defs.diff"; then
	ok "idgov.schema and idgov.ldif define the same things"
else
	not_ok "idgov.schema and idgov.ldif differ: $(head -c 1500 "$T/defs.diff")"
fi
# The comparison itself can fail: one changed word in a copy is seen.
sed 's/SINGLE-VALUE )$/)/' "$SCHEMA/idgov.schema" >"$T/changed.schema"
defs_schema "$T/changed.schema" >"$T/changed.defs"
if diff -q "$T/ldif.defs" "$T/changed.defs" >/dev/null; then
	not_ok "a schema copy without SINGLE-VALUE compares equal"
else
	ok "a schema copy without SINGLE-VALUE is told apart"
fi
# Every OID is under the arc and used once.
arc=2.25.338800605419000262025889991475570843523
assert_eq "$(grep -oE "\( $arc\.[12]\.[0-9]+ " "$T/ldif.defs" | sort | uniq -d | wc -l)" 0 "no OID is used twice"
assert_eq "$(grep -vc "^[a-z]* ( $arc\.[12]\.[0-9]* NAME 'idgov" "$T/ldif.defs")" 0 "every definition is under the arc and named idgov*"

# A slapd with the schema, the service DNs and the example ACL.
slapd_setup "$T/slapd" || exit 1
slapd_load "$T/slapd" "$ROOT/tests/fixtures/org.ldif" || exit 1
printf 'gov-secret' >"$T/gov.pw"
printf 'host-secret' >"$T/host.pw"
chmod 600 "$T/gov.pw" "$T/host.pw"
cat >"$T/fleet.ldif" <<LDIF
dn: ou=idgov,dc=example,dc=com
objectClass: organizationalUnit
ou: idgov

dn: cn=gov1,ou=idgov,dc=example,dc=com
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: gov1
userPassword: gov-secret

dn: cn=host1,ou=idgov,dc=example,dc=com
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: host1
userPassword: host-secret

dn: cn=idgov-governors,ou=idgov,dc=example,dc=com
objectClass: groupOfNames
cn: idgov-governors
member: cn=gov1,ou=idgov,dc=example,dc=com

dn: cn=idgov-hosts,ou=idgov,dc=example,dc=com
objectClass: groupOfNames
cn: idgov-hosts
member: cn=host1,ou=idgov,dc=example,dc=com
LDIF
slapadd -q -F "$T/slapd/slapd.d" -b "$SLAPD_SUFFIX" -l "$T/fleet.ldif" >"$T/slapadd-fleet.log" 2>&1 ||
	not_ok "loading the service DNs: $(cat "$T/slapadd-fleet.log")"
if slapmodify -n0 -F "$T/slapd/slapd.d" -l "$SCHEMA/idgov-acl.ldif" >"$T/acl.log" 2>&1; then
	ok "slapd takes the example ACL"
else
	not_ok "slapd refuses the example ACL: $(cat "$T/acl.log")"
fi
slapd_start "$T/slapd" || exit 1
URI=$(cat "$T/slapd/uri")

subschema=$(ldapsearch -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" -LLL -o ldif-wrap=no \
	-s base -b cn=Subschema attributeTypes objectClasses)
for name in idgovTokenSecret idgovTokenAlgorithm idgovTokenDigits idgovTokenPeriod idgovLastStep \
	idgovFailureCount idgovFailureWindowStart idgovLockEnd idgovRecoveryCode idgovLastLogin \
	idgovLeaseHolder idgovLeaseExpires idgovToken idgovLoginRecord idgovLease; do
	assert_contains "$subschema" "NAME '$name'" "slapd serves $name"
done

# as DN PASSWORDFILE: ldapmodify bound as that service DN; prints the result code.
as() {
	local dn=$1 pw=$2 rc
	shift 2
	ldapmodify -x -H "$URI" -D "$dn" -y "$pw" "$@" >"$T/as.out" 2>&1
	rc=$?
	echo "$rc"
}
GOV="cn=gov1,ou=idgov,dc=example,dc=com"
HOST="cn=host1,ou=idgov,dc=example,dc=com"
ALICE="uid=alice,ou=People,dc=example,dc=com"

assert_eq "$(as "$HOST" "$T/host.pw" <<LDIF
dn: $ALICE
changetype: modify
add: objectClass
objectClass: idgovToken
objectClass: idgovLoginRecord
-
add: idgovTokenSecret
idgovTokenSecret:: AAECAwQFBgcICQ==
-
add: idgovLastStep
idgovLastStep: 58000000
-
add: idgovFailureCount
idgovFailureCount: 0
-
add: idgovLastLogin
idgovLastLogin: 20261202040000Z
LDIF
)" 0 "a host writes a token and a last login"
assert_eq "$(as "$HOST" "$T/host.pw" <<LDIF
dn: $ALICE
changetype: modify
replace: mail
mail: mallory@example.com
LDIF
)" 50 "a host may not change a person's other attributes"
assert_eq "$(as "$HOST" "$T/host.pw" <<LDIF
dn: cn=admins,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=carol,ou=People,dc=example,dc=com
LDIF
)" 50 "a host may not change a membership"
assert_eq "$(as "$HOST" "$T/host.pw" <<LDIF
dn: cn=governor,ou=idgov,dc=example,dc=com
changetype: add
objectClass: idgovLease
cn: governor
idgovLeaseHolder: host1
idgovLeaseExpires: 20991231000000Z
LDIF
)" 50 "a host may not create the lease"
assert_eq "$(as "$GOV" "$T/gov.pw" <<LDIF
dn: cn=governor,ou=idgov,dc=example,dc=com
changetype: add
objectClass: idgovLease
cn: governor
idgovLeaseHolder: gov1
idgovLeaseExpires: 20991231000000Z
LDIF
)" 0 "the governor creates the lease"
assert_eq "$(as "$HOST" "$T/host.pw" <<LDIF
dn: cn=governor,ou=idgov,dc=example,dc=com
changetype: modify
replace: idgovLeaseHolder
idgovLeaseHolder: host1
LDIF
)" 50 "a host may not take the lease"
holder=$(ldapsearch -x -H "$URI" -D "$HOST" -y "$T/host.pw" -LLL -s base \
	-b cn=governor,ou=idgov,dc=example,dc=com idgovLeaseHolder | sed -n 's/^idgovLeaseHolder: //p')
assert_eq "$holder" gov1 "a host reads who holds the lease"
assert_eq "$(as "$GOV" "$T/gov.pw" <<LDIF
dn: cn=admins,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=carol,ou=People,dc=example,dc=com
LDIF
)" 0 "the governor changes a membership"
# The schema itself refuses what is not a lease or a token.
assert_eq "$(as "$GOV" "$T/gov.pw" <<LDIF
dn: cn=other,ou=idgov,dc=example,dc=com
changetype: add
objectClass: idgovLease
cn: other
idgovLeaseHolder: gov1
LDIF
)" 65 "a lease without an expiry is refused (objectClassViolation)"
assert_eq "$(as "$GOV" "$T/gov.pw" <<LDIF
dn: cn=governor,ou=idgov,dc=example,dc=com
changetype: modify
replace: idgovLeaseExpires
idgovLeaseExpires: tomorrow
LDIF
)" 21 "an expiry that is not a GeneralizedTime is refused (invalidAttributeSyntax)"
assert_eq "$(as "$HOST" "$T/host.pw" <<LDIF
dn: $ALICE
changetype: modify
add: idgovLastStep
idgovLastStep: 58000001
LDIF
)" 19 "a second last step is refused (SINGLE-VALUE: constraintViolation)"

finish
