#!/usr/bin/env bash
# The mass-departure guard on `idgov sync` (refreshes): a sync that would
# mark too many users departed (or all of them, as an empty search result
# would) holds those departures instead of applying them, and applies every
# other change; `idgov sync release --confirm N` applies what is held, and
# --force applies departures over the guard with a record of what it forced.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
syslog_sink
ig sync >/dev/null
snapshot() { sql "SELECT group_concat(uid || ':' || status) FROM (SELECT uid, status FROM users ORDER BY uid)"; }
before=$(snapshot)

# A filter that matches nothing: the directory "looks empty".
sed -i 's/^\[directory\]$/[directory]\nuser_filter = (objectClass=nosuchclass)\ngroup_filter = (objectClass=nosuchclass)/' \
	"$T/etc/idgov.conf"
assert_exit 0 "an empty result does not stop the sync" ig sync --full
assert_contains "$(cat "$T/last.out")" "8 departures held" "the sync says what it held"
assert_eq "$(snapshot)" "$before" "no user departed"
assert_eq "$(sql "SELECT count(*) FROM held_departures")" 8 "all eight are held"
assert_contains "$(ig status)" "guard:       8 departures held since" "status shows the hold"
wait_for 10 grep -q 'idgov: directory departures held' "$T/syslog.txt"
assert_eq "$(grep -c 'idgov: directory departures held' "$T/syslog.txt")" 1 "the hold is alerted once"
sed -i '/nosuchclass/d' "$T/etc/idgov.conf"

# The directory is back: its users are seen again and come off the hold.
assert_exit 0 "a full sync of the real directory" ig sync --full
assert_eq "$(sql "SELECT count(*) FROM held_departures")" 0 "users seen again are no longer held"

# Three of eight users deleted at once, with a lock in the same sync: over
# 10% and more than two, so the departures are held; the lock applies.
ldif <<'L'
dn: uid=carol,ou=People,dc=example,dc=com
changetype: delete

dn: uid=dave,ou=People,dc=example,dc=com
changetype: delete

dn: uid=erin,ou=People,dc=example,dc=com
changetype: delete

dn: uid=frank,ou=People,dc=example,dc=com
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
L
assert_exit 0 "the sync succeeds" ig sync
assert_eq "$(sql "SELECT status FROM users WHERE uid='frank'")" disabled "the lock beside the departures applies"
assert_eq "$(sql "SELECT count(*) FROM users WHERE status='departed'")" 0 "nobody departed"
assert_eq "$(ig --json status | jq -r .counts.departures_held)" 3 "three are held"
assert_contains "$(ig user list)" "(departure held)" "user list marks the held users"
assert_contains "$(ig user show carol)" "departure:   held by the guard since" "and user show"

assert_exit 1 "a release must name the number held" ig sync release --confirm 2
assert_contains "$(cat "$T/last.err")" "3 departures are held, not 2" "and says how many are"
assert_exit 2 "release without --confirm is a usage error" ig sync release
assert_eq "$(sql "SELECT count(*) FROM users WHERE status='departed'")" 0 "a refused release changes nothing"
assert_exit 0 "release --confirm 3" ig sync release --confirm 3
assert_eq "$(sql "SELECT group_concat(uid) FROM (SELECT uid FROM users WHERE status='departed' ORDER BY uid)")" \
	"carol,dave,erin" "the held users are departed"
assert_eq "$(sql "SELECT actor || ' ' || json_extract(details, '\$.confirm') || ' ' || json_extract(details, '\$.released') FROM audit WHERE action='sync.guard_released'")" \
	"root 3 3" "the release is audited with the admin and N"
assert_exit 1 "nothing left to release" ig sync release --confirm 0

# --force: departures over the guard are applied, with a record of what was forced.
ldif <<'L'
dn: uid=alice,ou=People,dc=example,dc=com
changetype: delete

dn: uid=bob,ou=People,dc=example,dc=com
changetype: delete

dn: uid=grace,ou=Contractors,dc=example,dc=com
changetype: delete
L
assert_exit 0 "--force applies them" ig sync --force
assert_eq "$(sql "SELECT count(*) FROM users WHERE status='departed'")" 6 "three more departed"
assert_eq "$(sql "SELECT json_extract(details, '\$.departures') || ' ' || json_extract(details, '\$.users') FROM audit WHERE action='sync.guard_forced'")" \
	'3 ["alice","bob","grace"]' "the audit chain says what was forced"
# Audit records reach syslog once each, with their own numbers.
assert_eq "$(grep -o 'audit #[0-9]*:' "$T/syslog.txt" | sort | uniq -d | head -3)" "" "no audit number is logged twice"
assert_exit 0 "audit chain verifies" ig audit verify
finish
