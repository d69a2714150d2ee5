#!/usr/bin/env bash
# Time-bound privileged accounts: created in the directory after a second
# admin approves, usable (an LDAP bind works once a password is set),
# refused at login once past the end whatever the directory says, locked
# and stripped of its groups at the end, deleted after the retention;
# extensions need approval like a new grant.
RETENTION=3s
# shellcheck source=grants_lib.sh
. "$(dirname "$0")/grants_lib.sh"

grants_setup
assert_exit 0 "idgovd starts" daemon_start
DN="uid=ops1,ou=People,dc=example,dc=com"
URI=$(cat "$T/slapd/uri")
entry() {
	ldapsearch -LLL -x -o ldif-wrap=no -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" \
		-b "$DN" -s base "$@" 2>/dev/null
}

assert_exit 2 "a malformed account name is refused" \
	ig account create "Bad Name" --owner bob --groups dba --for 1h --reason x
assert_exit 2 "an account needs groups" ig account create ops9 --owner bob --groups "" --for 1h --reason x
assert_exit 1 "an unknown group is refused" \
	ig account create ops9 --owner bob --groups dba,nogroup --for 1h --reason x
assert_exit 1 "an existing user's name is refused" \
	ig account create bob --owner bob --groups dba --for 1h --reason x
assert_eq "$(sql "SELECT count(*) FROM grants")" 0 "nothing written"

assert_exit 0 "root asks for a temporary account for bob" \
	ig account create ops1 --owner bob --groups dba,admins --for 6s --reason "prod db upgrade"
assert_exit 32 "entry not created before approval (no such object)" entry
assert_exit 1 "the requester may not approve it" ig grant approve 1
assert_exit 0 "a second admin approves" as 1 grant approve 1
wait_for 3 entry
assert_exit 0 "the account exists in the directory" entry
e=$(entry uidNumber homeDirectory loginShell manager userPassword)
assert_contains "$e" "uidNumber: 70000" "first uidNumber of the range"
assert_contains "$e" "homeDirectory: /home/ops1" "home from the template"
assert_contains "$e" "manager: uid=bob,ou=People,dc=example,dc=com" "its owner is its manager"
case "$e" in *userPassword*) not_ok "created with a password" ;; *) ok "no usable password until one is set" ;; esac
wait_for 3 has_member admins "$DN"
assert_exit 0 "member of admins (member DN)" has_member admins "$DN"
assert_exit 0 "member of dba (memberUid)" has_member dba ops1

ldappasswd -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" -T <(printf 'Tmp-Passw0rd-42') "$DN" >/dev/null
assert_exit 0 "the account can bind once its password is set" \
	ldapwhoami -x -H "$URI" -D "$DN" -y <(printf 'Tmp-Passw0rd-42')
wait_for 5 sql_is "SELECT count(*) FROM users WHERE uid='ops1'" 1
assert_exit 0 "logins allowed while it lasts" ig policy check ops1

end=$(grant_field 1 end)
wait_for 10 sh -c "ldapsearch -LLL -x -H '$URI' -D '$SLAPD_ROOTDN' -y '$T/slapd/rootpw' -b '$DN' -s base shadowExpire | grep -q 'shadowExpire: 1'"
assert_contains "$(entry shadowExpire)" "shadowExpire: 1" "locked (shadowExpire) at its end"
wait_for 3 lacks_member admins "$DN"
assert_exit 0 "removed from admins" lacks_member admins "$DN"
assert_exit 0 "removed from dba" lacks_member dba ops1
assert_exit 1 "logins refused after the end" ig policy check ops1
assert_contains "$(cat "$T/last.out")" "DENIED by rule account." "refusal names the rule"
removed=$(sql "SELECT max(time) FROM audit WHERE action='directory.write' AND details LIKE '%\"grant\":1,%' AND details LIKE '%del_member%'")
assert_eq "$(( removed - end <= 1 ))" 1 "stripped within a second of the end"
wait_for 8 sh -c "! ldapsearch -LLL -x -H '$URI' -D '$SLAPD_ROOTDN' -y '$T/slapd/rootpw' -b '$DN' -s base dn >/dev/null 2>&1"
assert_exit 32 "deleted after the retention" entry
assert_eq "$(sql "SELECT count(*) FROM grants WHERE id=1 AND purged_at IS NOT NULL")" 1 "purge recorded"

# --- extension and early end ---
ig account create ops2 --owner bob --groups dba --for 1h --reason "batch job" >/dev/null
as 1 grant approve 2 >/dev/null
old_end=$(grant_field 2 end)
assert_exit 0 "root asks to extend ops2" ig account extend ops2 --for 2h --reason "job overran"
assert_eq "$(grant_field 2 end)" "$old_end" "the end does not move before approval"
assert_exit 1 "the requester may not approve the extension" ig grant approve 3
assert_exit 0 "a second admin approves the extension" as 1 grant approve 3
assert_eq "$(grant_field 2 end)" "$((old_end + 7200))" "the end moved by 2h"
assert_exit 2 "an extension past the maximum is refused" ig account extend ops2 --for 60d --reason x
assert_exit 0 "the account is ended early" ig account end ops2 --reason "job done"
wait_for 3 lacks_member dba ops2
assert_exit 0 "ended: removed from dba" lacks_member dba ops2
assert_contains "$(ig account list)" "revoked" "listed as revoked"

# --- past its end, refused whatever the directory still says ---
ig account create ops3 --owner bob --groups dba --for 4s --reason "short job" >/dev/null
as 1 grant approve 4 >/dev/null
wait_for 5 sql_is "SELECT count(*) FROM users WHERE uid='ops3'" 1
daemon_stop
end=$(grant_field 4 end)
while [ "$(date +%s)" -le "$end" ]; do sleep 0.2; done
assert_exit 0 "with idgovd down the directory still lists ops3 in dba" has_member dba ops3
assert_exit 1 "but the login is refused" ig policy check ops3
assert_contains "$(cat "$T/last.out")" "account.temporary_ended" "by the temporary account's end"
daemon_start

assert_exit 0 "audit chain verifies" ig audit verify
finish
