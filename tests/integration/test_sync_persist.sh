#!/usr/bin/env bash
# idgovd in refreshAndPersist mode: directory changes reach the store while
# it runs; a restart resumes from the stored cookie; SIGHUP with a broken
# config keeps the running one; SIGTERM stops with the audit head signed.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
assert_exit 0 "idgovd starts" daemon_start
assert_eq "$(ig --json status | jq -r .daemon.connection)" persist "daemon reports a persistent sync"
assert_eq "$(sql "SELECT count(*) FROM users")" 8 "initial refresh mirrored 8 users"

ldif <<'L'
dn: uid=judy,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: judy
cn: Judy Jones
sn: Jones
uidNumber: 10020
gidNumber: 10000
homeDirectory: /home/judy
L
if wait_for 5 sql_is "SELECT count(*) FROM users WHERE uid='judy'" 1; then ok "add arrives live"; else not_ok "add arrives live"; fi

ldif <<'L'
dn: uid=judy,ou=People,dc=example,dc=com
changetype: modify
replace: mail
mail: judy@example.com
-
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
L
if wait_for 5 sql_is "SELECT mail || ',' || status FROM users WHERE uid='judy'" "judy@example.com,disabled"; then
	ok "modify and lock arrive live"
else
	not_ok "modify and lock arrive live: $(sql "SELECT mail, status FROM users WHERE uid='judy'")"
fi

ldif <<'L'
dn: uid=judy,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=judy
deleteoldrdn: 1
newsuperior: ou=Contractors,dc=example,dc=com

dn: cn=sre,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=judy,ou=Contractors,dc=example,dc=com
L
if wait_for 5 sql_is "SELECT count(*) FROM membership_values WHERE value='uid=judy,ou=contractors,dc=example,dc=com'" 1; then
	ok "move and membership arrive live"
else
	not_ok "move and membership arrive live"
fi
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='user.mover'")" 1 "move recorded as a mover"
assert_eq "$(ig --json group show admins | jq -r '[.effective_members[] | "\(.uid):\(.status)"] | join(",")')" \
	"alice:active,dave:active,judy:disabled" "nested membership lists the disabled member as disabled"

ldif <<'L'
dn: uid=judy,ou=Contractors,dc=example,dc=com
changetype: delete
L
if wait_for 5 sql_is "SELECT status FROM users WHERE uid='judy'" departed; then ok "delete arrives live as departed"; else not_ok "delete arrives live"; fi
assert_eq "$(sql "SELECT mode FROM sync_state")" persist "cookie stored by the persist session"
assert_exit 0 "a one-off idgov sync beside the daemon" ig sync
assert_eq "$(sql "SELECT mode FROM sync_state")" persist "leaves the daemon's mode recorded as it is"
assert_eq "$(ig --json status | jq -r .directory.sync.mode)" persist "and status says so"

# Cookie resume: changes made while the daemon is down arrive at restart,
# as incremental events (no baseline, no re-joiners).
daemon_stop
joiners=$(sql "SELECT count(*) FROM events WHERE kind='user.joiner'")
ldif <<'L'
dn: uid=bob,ou=People,dc=example,dc=com
changetype: modify
replace: displayName
displayName: Robert Baker
L
assert_exit 0 "idgovd restarts" daemon_start
if wait_for 5 sql_is "SELECT display_name FROM users WHERE uid='bob'" "Robert Baker"; then
	ok "offline change applied at restart"
else
	not_ok "offline change applied at restart"
fi
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='user.joiner'")" "$joiners" "restart resumed from the cookie (no new joiners)"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='sync.baseline'")" 1 "still only one baseline"

# SIGHUP with a broken config: refused, old config kept, daemon still serving.
cp "$T/etc/idgov.conf" "$T/etc/idgov.conf.good"
echo "bogus_key = 1" >> "$T/etc/idgov.conf"
kill -HUP "$(cat "$T/run/idgovd.pid")"
if wait_for 5 sql_is "SELECT count(*) FROM audit WHERE action='config.reload' AND details LIKE '%refused%'" 1; then
	ok "bad reload refused and audited"
else
	not_ok "bad reload refused and audited"
fi
assert_contains "$(sql "SELECT details FROM audit WHERE action='config.reload'")" "bogus_key: unknown key" \
	"the refusal names the key"
assert_exit 0 "daemon still answers after a bad reload" "$IDGOV" -c "$T/etc/idgov.conf.good" status
cp "$T/etc/idgov.conf.good" "$T/etc/idgov.conf"
kill -HUP "$(cat "$T/run/idgovd.pid")"
if wait_for 5 sql_is "SELECT count(*) FROM audit WHERE action='config.reload' AND details LIKE '%\"ok\"%'" 1; then
	ok "good reload applied"
else
	not_ok "good reload applied"
fi
if wait_for 5 daemon_connection_is persist; then ok "persist resumes after reload"; else not_ok "persist resumes after reload"; fi

# SIGTERM: a clean stop, the last record signed.
daemon_stop
assert_eq "$(sql "SELECT action FROM audit ORDER BY seq DESC LIMIT 1")" daemon.stop "last record is daemon.stop"
assert_eq "$(sql "SELECT max(seq) = (SELECT max(seq) FROM audit) FROM audit_signatures")" 1 "head signed at shutdown"
assert_exit 0 "audit chain verifies" ig audit verify
finish
