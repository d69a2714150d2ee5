#!/usr/bin/env bash
# Fail closed on data: a 10 KB value and a value holding a NUL arrive in the
# same modify as a lock while idgovd persists. The lock is applied (the
# entry is not skipped), the long value is cut and the binary one stored as
# absent, each with a warning; and pamtester's acct_mgmt refuses the user.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
authd_start || exit 1
echo "account required $MODULE $PAM_ARGS" >"$T/pam.d/idgov"
assert_exit 0 "idgovd starts" daemon_start
wait_for 10 daemon_connection_is persist
assert_exit 0 "bob may log in before" pam bob acct_mgmt

big=$(head -c 10240 /dev/zero | tr '\0' b)
# "mail" with a NUL in the middle (IA5String allows it), base64 in LDIF.
nul=$(printf 'bob\0@example.com' | base64 -w0)
ldif <<L
dn: uid=bob,ou=People,dc=example,dc=com
changetype: modify
replace: displayName
displayName: $big
-
replace: mail
mail:: $nul
-
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
L
if wait_for 10 sql_is "SELECT status FROM users WHERE uid='bob'" disabled; then
	ok "the lock in the same modify is applied"
else
	not_ok "the lock in the same modify is applied: $(sql "SELECT status FROM users WHERE uid='bob'")"
fi
assert_eq "$(sql "SELECT length(display_name) || ',' || coalesce(mail, 'absent') FROM users WHERE uid='bob'")" \
	"1024,absent" "the 10 KB value is cut, the NUL-bearing one stored as absent"
assert_eq "$(sql "SELECT group_concat(attribute, ',') FROM (SELECT attribute FROM entry_warnings w JOIN users u ON u.uuid = w.uuid WHERE u.uid='bob' ORDER BY attribute)")" \
	"displayName,mail" "both are counted as warnings"
assert_exit 1 "acct_mgmt refuses the locked user" pam bob acct_mgmt
assert_logged "$T/syslog.txt" "displayName over 1024 bytes" "the cut is logged"
assert_contains "$(ig policy check bob 2>&1)" "locked by ppolicy" "policy check says why"
assert_contains "$(ig --json status | jq -r .counts.value_warnings)" 2 "status counts the warnings"
assert_exit 0 "audit chain verifies" ig audit verify
finish
