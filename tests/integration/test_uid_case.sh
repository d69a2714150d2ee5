#!/usr/bin/env bash
# uid matching in LDAP ignores case (caseIgnoreMatch), so idgov's lookups
# fold case and its output keeps the directory's spelling: policy check,
# user show, grants, MFA status and PAM for a user whose uid is "Kim".
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
mkdir -p "$T/pam.d" "$T/run"
authd_start || exit 1
echo "account required $MODULE $PAM_ARGS" >"$T/pam.d/idgov"
ldif <<'L'
dn: uid=Kim,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: Kim
cn: Kim Kay
sn: Kay
mail: kim@example.com
uidNumber: 10200
gidNumber: 10000
homeDirectory: /home/kim
L
assert_exit 0 "sync" ig sync

assert_contains "$(ig user show kim)" "user:        Kim" "user show finds kim and prints the directory's spelling"
assert_contains "$(ig user show KIM)" "mail:        kim@example.com" "user show KIM is the same user"
out=$(ig policy check kim 2>&1)
assert_contains "$out" "login of Kim" "policy check decides about Kim"
assert_contains "$out" "the account is active" "and finds the account (not account.unknown)"
assert_contains "$(ig --json mfa status KIM)" '"user": "Kim"' "MFA status names Kim"
assert_exit 0 "PAM lets kim in" pam kim acct_mgmt
assert_exit 0 "PAM lets KIM in" pam KIM acct_mgmt

assert_exit 0 "a grant requested for kim" ig grant request --user kim --group developers --for 1h --reason "case test"
assert_eq "$(sql "SELECT grantee FROM grants ORDER BY id DESC LIMIT 1")" Kim "is recorded for Kim"
assert_contains "$(ig grant list --user KIM)" "Kim" "and grant list --user KIM finds it"

ldif <<'L'
dn: uid=Kim,ou=People,dc=example,dc=com
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
L
assert_exit 0 "sync" ig sync
assert_exit 1 "a lock on Kim refuses kim at PAM" pam kim acct_mgmt
assert_contains "$(ig policy check KIM 2>&1)" "rule account.disabled" "and policy check KIM says so"
assert_exit 2 "a name with a control character is refused" ig user show "$(printf 'ki\tm')"
finish
