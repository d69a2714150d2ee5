#!/usr/bin/env bash
# Time-bound grants through idgovd: request, two-person approval by
# peer credentials, membership written to the directory, removal at the end
# time by the daemon's timer, permanent memberships left alone, privilege
# judged on the effect (a group nested in a privileged one, sudo rights),
# break-glass, notifications, and malformed requests that change nothing.
# shellcheck source=grants_lib.sh
. "$(dirname "$0")/grants_lib.sh"

grants_setup
assert_exit 0 "idgovd starts" daemon_start
BOB="uid=bob,ou=People,dc=example,dc=com"

# --- request and two-person approval (admins is privileged) ---
assert_exit 0 "root requests admins for bob" \
	ig grant request --user bob --group admins --for 4s --reason "schema migration"
assert_eq "$(grant_field 1 state)" requested "the grant waits for approval"
assert_exit 1 "the requester may not approve it" ig grant approve 1
assert_contains "$(cat "$T/last.err")" "root requested grant #1 and may not approve it too" \
	"and is told why"
assert_exit 1 "a non-admin may not approve" as 65534 grant approve 1
assert_contains "$(cat "$T/last.err")" "only admins may approve" "non-admin told why"
assert_exit 1 "an ordinary directory user may not approve" as 2 grant approve 1
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='control.grant.approve' AND details LIKE '%refused%'")" \
	3 "each refused approval is audited"
assert_eq "$(members admins | grep -c bob)" 0 "nothing written before approval"

assert_exit 0 "a second admin (daemon, uid 1) approves" as 1 grant approve 1 --comment "ok, ticket 42"
wait_for 2 has_member admins "$BOB"
assert_exit 0 "bob is a member of admins in the directory" has_member admins "$BOB"
assert_eq "$(grant_field 1 state)" active "the grant is active"
end=$(grant_field 1 end)
wait_for 8 lacks_member admins "$BOB"
assert_exit 0 "the membership is gone after the end time" lacks_member admins "$BOB"
removed=$(sql "SELECT time FROM audit WHERE action='directory.write' AND details LIKE '%\"grant\":1,%' AND details LIKE '%del_member%'")
lag=$((removed - end))
if [ "$lag" -ge 0 ] && [ "$lag" -le 1 ]; then
	ok "removed within a second of the end ($lag s)"
else
	not_ok "removal lag $lag s (end $end, removed $removed)"
fi
assert_eq "$(grant_field 1 state)" expired "the grant is expired"
assert_eq "$(sql "SELECT group_concat(action) FROM (SELECT action FROM audit WHERE subject='grant:1' AND action LIKE 'grant.%' ORDER BY seq)")" \
	"grant.request,grant.approve,grant.activate,grant.expire" "every step audited in order"

# --- the grantee may not approve their own grant ---
ig grant request --user daemon --group dba --for 1h --reason "restore test" >/dev/null
assert_exit 1 "the grantee may not approve" as 1 grant approve 2
assert_contains "$(cat "$T/last.err")" "may not decide on a grant to themself" "grantee told why"
assert_exit 2 "deny needs a comment" as 1 grant deny 2
assert_exit 0 "root revokes the pending request" ig grant revoke 2 --reason "not needed"
assert_eq "$(grant_field 2 state)" revoked "request revoked before it started"

# --- self-service: a user asks for themself only ---
assert_exit 1 "bin may not ask for bob" as 2 grant request --user bob --group finance --for 1h --reason x
assert_contains "$(cat "$T/last.err")" "only admins may request a grant for someone else" "told why"
assert_exit 0 "bin asks for finance for themself" as 2 grant request --group finance --for 1h --reason "quarter close"
assert_eq "$(grant_field 3 state)" requested "a user's request waits for an admin"
assert_exit 0 "bin sees their own grants" as 2 grant list
assert_exit 1 "bin may not see root's grant #1" as 2 grant show 1

# --- a permanent membership is never removed by a grant's end ---
assert_exit 1 "a grant of a group already held is refused" \
	ig grant request --user bob --group developers --for 1h --reason x
assert_contains "$(cat "$T/last.err")" "bob is already a member of developers" "and says so"
start=$(( $(date +%s) + 2 ))
assert_exit 0 "a non-privileged grant by an admin is approved at once" \
	ig grant request --user erin --group developers --start "@$start" --for 2s --reason "hotfix"
assert_eq "$(grant_field 4 state)" approved "approved, starting later"
ldif <<LDIF
dn: cn=developers,ou=Groups,dc=example,dc=com
changetype: modify
add: memberUid
memberUid: erin
LDIF
wait_for 8 sql_is "SELECT state FROM grants WHERE id = 4" expired
sleep 0.5
assert_eq "$(sql "SELECT result FROM dir_journal WHERE grant_id=4 AND op='add_member'")" \
	"memberUid=present" "activation found erin already there and added nothing"
assert_exit 0 "erin's permanent membership survives the end" has_member developers erin

# --- a group nested in a privileged group (sre is a member of admins) ---
assert_exit 0 "root requests sre, nested in admins, for bob" \
	ig grant request --user bob --group sre --for 1h --reason "pager rota"
id=$(sql "SELECT max(id) FROM grants")
sleep 0.5
assert_eq "$(grant_field "$id" state)" requested "a nested privileged group waits for approval"
assert_eq "$(members sre | grep -c bob)" 0 "nothing written before approval"
assert_eq "$(grant_field "$id" privileged_reason)" "sre is nested in admins" "it says why"
assert_contains "$(ig grant show "$id")" "privileged: sre is nested in admins" "grant show says why"
assert_contains "$(ig grant list --pending)" "[privileged: sre is nested in admins]" \
	"grant list says why"
assert_eq "$(sql "SELECT json_extract(details, '\$.privileged_reason') FROM audit WHERE subject='grant:$id' AND action='grant.request'")" \
	"sre is nested in admins" "the audit record says why"
assert_exit 1 "the requester may not approve it" ig grant approve "$id"
assert_contains "$(cat "$T/last.err")" "privileged: sre is nested in admins" "the refusal says why"
assert_eq "$(grant_field "$id" state)" requested "still waiting"
assert_exit 0 "a second admin (daemon, uid 1) approves" as 1 grant approve "$id" --comment "ok"
wait_for 3 has_member sre "$BOB"
assert_exit 0 "bob is a member of sre once approved" has_member sre "$BOB"
assert_eq "$(grant_field "$id" state)" active "the grant is active"
assert_exit 0 "root revokes it" ig grant revoke "$id" --reason "rota over"
wait_for 3 lacks_member sre "$BOB"

# --- a sudo grant: a sudoRole valid from start to end, deleted at the end ---
assert_exit 0 "a grant with --sudo" \
	ig grant request --user carol --group finance --for 5s --sudo --reason "restart the db"
id=$(sql "SELECT id FROM grants WHERE sudo")
role() {
	ldapsearch -LLL -x -o ldif-wrap=no -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" \
		-y "$T/slapd/rootpw" -b "cn=idgov-grant-$id,ou=SUDOers,dc=example,dc=com" -s base 2>/dev/null
}
# finance is an ordinary group, but sudo rights are root: two people, not one.
sleep 0.5
assert_eq "$(grant_field "$id" state)" requested "a sudo grant by one admin waits for approval"
assert_exit 32 "no sudoRole before approval" role
assert_eq "$(grant_field "$id" privileged_reason)" "carries sudo rights" "it says why"
assert_exit 1 "the requester may not approve it" ig grant approve "$id"
assert_contains "$(cat "$T/last.err")" "privileged: carries sudo rights" "the refusal says why"
assert_exit 0 "a second admin approves" as 1 grant approve "$id"
wait_for 3 role
r=$(role)
assert_contains "$r" "sudoUser: carol" "sudoRole written for carol"
assert_contains "$r" "sudoCommand: /usr/bin/systemctl restart postgresql" "with the configured command"
assert_contains "$r" "sudoNotAfter: $(date -u -d "@$(grant_field "$id" end)" +%Y%m%d%H%M%SZ)" \
	"sudoNotAfter is the grant's end"
wait_for 10 sh -c "! ldapsearch -LLL -x -H '$(cat "$T/slapd/uri")' -D '$SLAPD_ROOTDN' -y '$T/slapd/rootpw' -b 'cn=idgov-grant-$id,ou=SUDOers,dc=example,dc=com' -s base dn >/dev/null 2>&1"
assert_exit 32 "the sudoRole is deleted at the end" role

# --- break-glass ---
assert_exit 1 "bin is not in the break-glass group" as 2 grant breakglass --group dba --for 10m --reason x
assert_exit 2 "break-glass longer than its maximum is refused" \
	as 1 grant breakglass --group dba --for 2h --reason "db down"
assert_exit 0 "daemon breaks the glass" as 1 grant breakglass --group dba --for 10m --reason "db down, INC-7"
id=$(sql "SELECT id FROM grants WHERE breakglass")
wait_for 2 has_member dba daemon
assert_exit 0 "break-glass is active at once" has_member dba daemon
assert_contains "$(ig grant list --review)" "needs review" "listed for after-the-fact review"
assert_exit 1 "the user of break-glass may not acknowledge it" as 1 grant acknowledge "$id"
assert_exit 0 "root acknowledges it" ig grant acknowledge "$id" --comment "reviewed INC-7"
assert_eq "$(ig --json grant list --review | jq length)" 0 "no longer waiting for review"
assert_contains "$(cat "$T/mail.log")" "X-Idgov-Event: breakglass" "break-glass notified"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='grant.breakglass'")" 1 "break-glass audited"

# --- revoke ends an active grant at once ---
assert_exit 0 "revoke the break-glass grant" ig grant revoke "$id" --reason "incident over"
wait_for 3 lacks_member dba daemon
assert_exit 0 "revoked membership removed" lacks_member dba daemon

# --- notifications ---
mail=$(cat "$T/mail.log")
for event in requested approved active ended; do
	assert_contains "$mail" "X-Idgov-Event: $event" "notified: $event"
done
assert_contains "$mail" "To: admins@example.com" "requests go to the admins"

# --- malformed requests: clear errors, nothing written ---
before=$(sql "SELECT count(*) FROM grants")
assert_exit 2 "malformed duration" ig grant request --user bob --group finance --for 4x --reason x
assert_contains "$(cat "$T/last.err")" "'4x' is not a duration" "duration error is clear"
assert_exit 2 "malformed time" ig grant request --user bob --group finance --until tomorrow --reason x
assert_contains "$(cat "$T/last.err")" "'tomorrow' is not a time" "time error is clear"
assert_exit 2 "both --for and --until" ig grant request --user bob --group finance --for 1h --until 2030-01-01 --reason x
assert_exit 2 "longer than the group's maximum" ig grant request --user bob --group admins --for 9h --reason x
assert_contains "$(cat "$T/last.err")" "at most 8h" "maximum named"
assert_exit 1 "unknown user" ig grant request --user nobody --group finance --for 1h --reason x
assert_contains "$(cat "$T/last.err")" "no active user 'nobody'" "unknown user named"
assert_exit 1 "unknown group" ig grant request --user bob --group nogroup --for 1h --reason x
assert_contains "$(cat "$T/last.err")" "no group 'nogroup'" "unknown group named"
assert_exit 2 "over-long reason" ig grant request --user bob --group finance --for 1h \
	--reason "$(head -c 1500 /dev/zero | tr '\0' r)"
assert_contains "$(cat "$T/last.err")" "1 to 1000 characters" "reason limit named"
assert_exit 2 "no reason" ig grant request --user bob --group finance --for 1h
assert_exit 2 "not a grant id" ig grant approve abc
assert_exit 1 "unknown grant id" as 1 grant approve 999
assert_eq "$(sql "SELECT count(*) FROM grants")" "$before" "nothing written by bad requests"

# --- a mail value from the directory cannot add headers for sendmail -t ---
ldif <<LDIF
dn: uid=carol,ou=People,dc=example,dc=com
changetype: modify
replace: mail
mail:: $(printf 'carol@example.com\nBcc: everyone@example.net\nSubject: you are fired' | base64 -w0)
LDIF
assert_exit 0 "sync the crafted mail" ig sync
: >"$T/mail.log"
assert_exit 0 "a privileged grant for carol (admins are told)" ig grant request --user carol --group dba --for 1h --reason pairing
wait_for 3 grep -q "X-Idgov-Event: requested" "$T/mail.log"
mail=$(cat "$T/mail.log")
assert_contains "$mail" "To: admins@example.com" "the admins are still told"
assert_eq "$(grep -c -e '^Bcc:' -e 'you are fired' "$T/mail.log")" 0 "no Bcc, no forged Subject"
assert_eq "$(grep -c 'carol@example.com' "$T/mail.log")" 0 "carol's invalid address is skipped"

assert_exit 0 "audit chain verifies" ig audit verify
finish
