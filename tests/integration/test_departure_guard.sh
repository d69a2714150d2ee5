#!/usr/bin/env bash
# The mass-departure guard: a sync that would mark too many users departed
# (or all of them, as an empty search result would) is refused, changes
# nothing, and is applied only with --force.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
ig sync >/dev/null
snapshot() { sql "SELECT group_concat(uid || ':' || status) FROM (SELECT uid, status FROM users ORDER BY uid)"; }
before=$(snapshot)
events=$(sql "SELECT count(*) FROM events")

# A filter that matches nothing: the directory "looks empty".
sed -i 's/^\[directory\]$/[directory]\nuser_filter = (objectClass=nosuchclass)\ngroup_filter = (objectClass=nosuchclass)/' \
	"$T/etc/idgov.conf"
assert_exit 1 "an empty result is refused" ig sync --full
assert_contains "$(cat "$T/last.err")" "would be marked departed" "the refusal says why"
assert_eq "$(snapshot)" "$before" "nothing changed"
assert_eq "$(sql "SELECT count(*) FROM events")" "$events" "no events recorded"
sed -i '/nosuchclass/d' "$T/etc/idgov.conf"

# Three of eight users deleted at once: over 10% and more than two.
ldif <<'L'
dn: uid=carol,ou=People,dc=example,dc=com
changetype: delete

dn: uid=dave,ou=People,dc=example,dc=com
changetype: delete

dn: uid=erin,ou=People,dc=example,dc=com
changetype: delete
L
assert_exit 1 "three departures out of eight are refused" ig sync
assert_eq "$(snapshot)" "$before" "nothing changed after the refusal"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='control.sync' AND details LIKE '%refusing sync%'")" 2 \
	"both refusals audited"

# The daemon refuses the same refresh and alerts; the store stays.
assert_exit 0 "idgovd starts" daemon_start
assert_eq "$(ig --json status | jq -r .daemon.connection)" disconnected "daemon does not apply the refused refresh"
assert_contains "$(ig --json status | jq -r .daemon.last_error)" "would be marked departed" "status shows why"
assert_exit 1 "status exits 1 while the departure guard holds" ig status
assert_eq "$(snapshot)" "$before" "store unchanged under the daemon"
daemon_stop

assert_exit 0 "--force applies it" ig sync --force
assert_eq "$(sql "SELECT count(*) FROM users WHERE status='departed'")" 3 "three users departed after --force"
assert_exit 0 "audit chain verifies" ig audit verify
finish
