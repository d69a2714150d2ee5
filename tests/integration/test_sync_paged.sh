#!/usr/bin/env bash
# A directory without syncprov: `idgov sync` and idgovd fall back to a
# Simple Paged Results search with mark-and-sweep (page size 2 here, so
# every sync crosses many pages).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup --no-syncprov
sed -i 's/^\[directory\]$/[directory]\npage_size = 2/' "$T/etc/idgov.conf"

assert_exit 0 "paged sync succeeds" ig sync
assert_eq "$(sql "SELECT mode FROM sync_state")" paged "sync state records paged mode"
assert_eq "$(sql "SELECT count(*) FROM users WHERE status <> 'departed'")" 8 "all users across pages"
assert_eq "$(sql "SELECT count(*) FROM memberships")" 13 "all memberships across pages"
assert_eq "$(sql "SELECT cookie IS NULL FROM sync_state")" 1 "no cookie without RFC 4533"

ldif <<'L'
dn: uid=carol,ou=People,dc=example,dc=com
changetype: delete

dn: cn=finance,ou=Groups,dc=example,dc=com
changetype: modify
delete: member
member: uid=frank,ou=People,dc=example,dc=com

dn: uid=bob,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=robert
deleteoldrdn: 1
L
assert_exit 0 "second paged sync succeeds" ig sync
assert_eq "$(sql "SELECT status FROM users WHERE uid='carol'")" departed "mark-and-sweep finds the deleted user"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='user.mover'")" 1 "rename is a mover"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='user.leaver'")" 1 "only the deleted user left"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='membership.removed' AND details LIKE '%uid=frank,%'")" 1 "membership removal found"
assert_eq "$(sql "SELECT count(*) FROM events WHERE kind='membership.removed' AND details LIKE '%uid=carol,%'")" 1 "the leaver's membership removed with her"

# The daemon polls with paged searches.
sed -i 's/^poll_interval = .*/poll_interval = 1/' "$T/etc/idgov.conf"
assert_exit 0 "idgovd starts without syncprov" daemon_start
assert_eq "$(ig --json status | jq -r .daemon.connection)" paged "daemon reports paged polling"
ldif <<'L'
dn: uid=kim,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: kim
cn: Kim
sn: Kim
uidNumber: 10030
gidNumber: 10000
homeDirectory: /home/kim
L
if wait_for 5 sql_is "SELECT count(*) FROM users WHERE uid='kim'" 1; then ok "paged polling picks up a joiner"; else not_ok "paged polling picks up a joiner"; fi
daemon_stop
assert_exit 0 "audit chain verifies" ig audit verify
finish
