#!/usr/bin/env bash
# refreshOnly sync (`idgov sync` with no daemon, as root): the first full
# sync, then add / modify / rename / move / delete of users and groups,
# each reflected with the right lifecycle event and nothing else.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
mkdir -p "$T/run"
syslog_sink

assert_exit 0 "first sync succeeds" ig sync
assert_eq "$(sql "SELECT count(*) FROM users WHERE status='active'")" 7 "7 active users"
assert_eq "$(sql "SELECT status FROM users WHERE uid='grace'")" disabled \
	"locked user (pwdAccountLockedTime) is disabled"
assert_eq "$(sql "SELECT count(*) FROM groups")" 7 "7 groups"
assert_eq "$(sql "SELECT group_concat(cn) FROM (SELECT cn FROM groups WHERE privileged ORDER BY cn)")" \
	"admins,dba" "privileged flag from config"
assert_eq "$(sql "SELECT count(*) FROM memberships")" 13 "13 direct memberships (member and memberUid)"
assert_eq "$(sql "SELECT mode FROM sync_state")" refreshOnly "sync state records refreshOnly"
assert_eq "$(sql "SELECT cookie IS NOT NULL FROM sync_state")" 1 "cookie stored"
assert_eq "$(sql "SELECT action FROM audit WHERE action LIKE 'sync.%'")" sync.baseline \
	"first sync is one baseline audit record"

# Nested groups: dave is in admins through sre; alice directly.
eff=$(ig --json group show admins | jq -r '[.effective_members[] | "\(.uid):\(.direct)"] | join(",")')
assert_eq "$eff" "alice:true,dave:false" "admins resolves nested sre (dave via nesting)"
groups=$(ig --json user show dave | jq -r '[.groups[].name] | sort | join(",")')
assert_eq "$groups" "admins,engineering,sre" "dave's effective groups"
assert_eq "$(ig --json user show carol | jq -r .manager)" bob "manager resolved to uid"

# Add a user and put them in two groups.
ldif <<'L'
dn: uid=heidi,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: heidi
cn: Heidi Hall
sn: Hall
mail: heidi@example.com
manager: uid=erin,ou=People,dc=example,dc=com
uidNumber: 10008
gidNumber: 10000
homeDirectory: /home/heidi

dn: cn=finance,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=heidi,ou=People,dc=example,dc=com

dn: cn=developers,ou=Groups,dc=example,dc=com
changetype: modify
add: memberUid
memberUid: heidi
L
assert_exit 0 "incremental sync succeeds" ig sync
assert_eq "$(sql "SELECT status FROM users WHERE uid='heidi'")" active "joiner stored"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='user.joiner'")" 1 "one joiner event"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='membership.added'")" 2 "two membership.added events"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='membership.added' AND subject IN ('finance','developers')")" 2 \
	"membership changes audited"

# Modify an attribute.
ldif <<'L'
dn: uid=carol,ou=People,dc=example,dc=com
changetype: modify
replace: mail
mail: carol.chen@example.com
L
ig sync >/dev/null
assert_eq "$(sql "SELECT mail FROM users WHERE uid='carol'")" carol.chen@example.com "modify reflected"
assert_contains "$(sql "SELECT details FROM events WHERE kind='user.changed'")" '"mail":["carol@example.com","carol.chen@example.com"]' \
	"change event names old and new value"

# Rename (modrdn) and move (newsuperior): movers, never leaver + joiner.
uuid_dave=$(sql "SELECT uuid FROM users WHERE uid='dave'")
ldif <<'L'
dn: uid=frank,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=frank
deleteoldrdn: 1
newsuperior: ou=Contractors,dc=example,dc=com

dn: uid=dave,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=david
deleteoldrdn: 1
L
ig sync >/dev/null
assert_eq "$(sql "SELECT dn FROM users WHERE uuid='$uuid_dave'")" "uid=david,ou=People,dc=example,dc=com" \
	"rename keeps the entryUUID row"
assert_eq "$(sql "SELECT uid FROM users WHERE uuid='$uuid_dave'")" david "renamed uid"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='user.mover'")" 2 "rename and move are two movers"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind IN ('user.leaver')")" 0 "no leaver for a move"
assert_eq "$(sql "SELECT count(*) FROM users")" 9 "no new row for a move"
assert_eq "$(sql "SELECT dn FROM users WHERE uid='frank'")" "uid=frank,ou=Contractors,dc=example,dc=com" "move reflected"

# Delete a user: departed, kept.
ldif <<'L'
dn: uid=carol,ou=People,dc=example,dc=com
changetype: delete
L
ig sync >/dev/null
assert_eq "$(sql "SELECT status FROM users WHERE uid='carol'")" departed "deleted user is departed, not removed"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='user.leaver'")" 1 "one leaver event"
assert_eq "$(ig --json user list --status departed | jq -r '.[].uid')" carol "user list --status departed"
eff=$(ig --json group show engineering | jq -r '[.effective_members[].uid] | join(",")')
# Memberships follow the entryUUID: dave, renamed to david, keeps engineering
# (with refint the directory rewrites the group's value the same way); carol's
# memberships left with her.
assert_eq "$eff" "bob,david" "departed users leave effective membership; a renamed one keeps it"

# Delete a group and remove a member from another.
ldif <<'L'
dn: cn=sre,ou=Groups,dc=example,dc=com
changetype: delete

dn: cn=developers,ou=Groups,dc=example,dc=com
changetype: modify
delete: memberUid
memberUid: bob
L
ig sync >/dev/null
assert_eq "$(sql "SELECT status FROM groups WHERE cn='sre'")" deleted "deleted group marked deleted"
assert_eq "$(sql "SELECT count(*) FROM membership_values WHERE group_cn='sre'")" 0 \
	"deleted group's memberships removed"
assert_eq "$(sql "SELECT group_concat(value) FROM (SELECT value FROM membership_values WHERE group_cn='developers' ORDER BY value)")" \
	"carol,heidi" "memberUid removal reflected"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='group.deleted'")" 1 "group.deleted event"

# A full reload corrects what this slapd (no refint) left behind: groups
# that still name the old DNs of dave and frank hold those DNs, unresolved.
assert_exit 0 "full reload succeeds" ig sync --full
assert_eq "$(sql "SELECT count(*) FROM member_refs r JOIN memberships m ON m.ref_id = r.id WHERE r.value = 'uid=dave,ou=people,dc=example,dc=com' AND r.problem = 'no_entry'")" 1 \
	"a group naming a renamed user's old DN holds it unresolved after a full reload"
# --full reload changes nothing when nothing changed.
before=$(sql "SELECT count(*) FROM events")
assert_exit 0 "second full reload succeeds" ig sync --full
assert_eq "$(sql "SELECT count(*) FROM events")" "$before" "full reload of an unchanged directory records no events"

# Member values that name nothing are kept, counted by status and listed by
# group show with the reason; one over 4,096 bytes too, never dropped.
long="cn=$(head -c 5000 /dev/zero | tr '\0' x),ou=Nowhere,dc=example,dc=com"
ldif <<L
dn: cn=odd,ou=Groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: odd
member: $long
member: uid=ghost,ou=People,dc=example,dc=com
L
ig sync >/dev/null
assert_eq "$(sql "SELECT count(*) FROM membership_values WHERE group_cn = 'odd'")" 2 "both values of odd kept"
unresolved=$(sql "SELECT count(*) FROM memberships m JOIN member_refs r ON r.id = m.ref_id WHERE r.kind = 0 AND r.target IS NULL")
assert_eq "$(ig --json status | jq -c '[.counts.members_unresolved, .counts.members_too_long]')" "[$unresolved,1]" \
	"status counts unresolved values and the over-long one"
assert_contains "$(ig status)" "unresolved:  $unresolved member values name no known user or group (1 over 4,096 bytes)" \
	"status says so in words"
shown=$(ig group show odd)
assert_contains "$shown" "uid=ghost,ou=people,dc=example,dc=com (member; names no known user or group)" \
	"group show lists a DN that names nothing"
assert_contains "$shown" "... (member; a DN over 4,096 bytes)" "group show lists the over-long DN, shortened"

# A changed privileged list reaches groups whose entries did not change.
sed -i 's/^privileged = .*/privileged = admins, dba, finance/' "$T/etc/idgov.conf"
assert_exit 0 "sync after changing [groups] privileged" ig sync
assert_eq "$(sql "SELECT privileged FROM groups WHERE cn='finance'")" 1 "finance is now privileged"
assert_contains "$(sql "SELECT details FROM events WHERE kind='group.changed' ORDER BY id DESC LIMIT 1")" \
	'"privileged":true' "the reclassification is recorded"

# Every audit record also went to syslog (LOG_AUTHPRIV = facility 10), one line each.
assert_logged "$T/syslog.txt" "<85>" "lines use LOG_AUTHPRIV|LOG_NOTICE"
assert_logged "$T/syslog.txt" "user.leaver by directory on carol" "the leaver reached syslog"
assert_logged "$T/syslog.txt" "membership.added by directory on finance" "membership changes reached syslog"
assert_eq "$(grep -c 'audit #' "$T/syslog.txt")" "$(sql "SELECT count(*) FROM audit WHERE action <> 'idgov.init'")" \
	"one syslog line per audit record (init ran before the listener)"

assert_exit 0 "audit chain verifies" ig audit verify
finish
