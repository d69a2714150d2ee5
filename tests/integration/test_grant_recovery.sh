#!/usr/bin/env bash
# Grants survive what goes wrong: an end time passed while idgovd was
# stopped, idgovd killed (-9) between journaling a change and writing it,
# and the directory down at the end time (overdue, retried, alerted,
# completed when it returns).
# shellcheck source=grants_lib.sh
. "$(dirname "$0")/grants_lib.sh"

grants_setup
mkdir -p "$T/run"
syslog_sink
assert_exit 0 "idgovd starts" daemon_start

# --- the end passes while the daemon is stopped ---
ig grant request --user erin --group engineering --for 3s --reason "pairing" >/dev/null
wait_for 3 has_member engineering "uid=erin,ou=People,dc=example,dc=com"
assert_exit 0 "erin holds engineering" has_member engineering "uid=erin,ou=People,dc=example,dc=com"
daemon_stop
sleep 4
assert_exit 0 "still there while idgovd is down" has_member engineering "uid=erin,ou=People,dc=example,dc=com"
assert_eq "$(sql "SELECT state FROM grants WHERE id=1")" active "and still active in the store"
t0=$(date +%s)
assert_exit 0 "idgovd starts again" daemon_start
wait_for 3 lacks_member engineering "uid=erin,ou=People,dc=example,dc=com"
assert_exit 0 "the overdue grant is expired at once on start" \
	lacks_member engineering "uid=erin,ou=People,dc=example,dc=com"
assert_eq "$(sql "SELECT state FROM grants WHERE id=1")" expired "recorded as expired"
assert_eq "$(( $(sql "SELECT ended_at FROM grants WHERE id=1") - t0 <= 1 ))" 1 "at start, not later"

# --- kill -9 between the journal entry and the directory write ---
daemon_stop
IDGOV_FAULT=before-directory-write daemon_start
ig grant request --user frank --group engineering --for 4s --reason "crash test" >/dev/null 2>&1
wait_for 3 sh -c "! kill -0 $(cat "$T/run/idgovd.pid" 2>/dev/null) 2>/dev/null"
assert_eq "$(sql "SELECT state FROM grants WHERE id=2")" active "the decision is committed"
assert_eq "$(sql "SELECT state FROM dir_journal WHERE grant_id=2")" pending "its write is journaled, not done"
assert_exit 0 "the directory was not written" lacks_member engineering "uid=frank,ou=People,dc=example,dc=com"
rm -f "$T/run/idgovd.pid" "$T/run/idgov.sock"
assert_exit 0 "idgovd restarts after the crash" daemon_start
wait_for 3 has_member engineering "uid=frank,ou=People,dc=example,dc=com"
assert_exit 0 "the restart completed the write" has_member engineering "uid=frank,ou=People,dc=example,dc=com"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='directory.write' AND details LIKE '%\"grant\":2,%'")" 1 \
	"exactly once"
# The same at the end time: killed after deciding the expiry, before removing.
daemon_stop
IDGOV_FAULT=before-directory-write daemon_start
wait_for 8 sql_is "SELECT state FROM grants WHERE id=2" expired
wait_for 3 sh -c "! kill -0 $(cat "$T/run/idgovd.pid" 2>/dev/null) 2>/dev/null"
assert_exit 0 "killed before the removal: frank still listed" has_member engineering "uid=frank,ou=People,dc=example,dc=com"
rm -f "$T/run/idgovd.pid" "$T/run/idgov.sock"
daemon_start
wait_for 3 lacks_member engineering "uid=frank,ou=People,dc=example,dc=com"
assert_exit 0 "the restart completed the removal" lacks_member engineering "uid=frank,ou=People,dc=example,dc=com"
assert_eq "$(sql "SELECT count(*) FROM dir_journal WHERE grant_id=2 AND state='done'")" 2 \
	"add and removal each applied once"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='directory.write' AND details LIKE '%\"grant\":2,%'")" 2 \
	"two directory writes audited in all"

# --- the directory is down at the end time ---
ig grant request --user carol --group finance --for 3s --reason "audit prep" >/dev/null
wait_for 3 has_member finance "uid=carol,ou=People,dc=example,dc=com"
slapd_stop "$T/slapd"
wait_for 8 sql_is "SELECT state FROM grants WHERE id=3" expired
sleep 1
assert_eq "$(ig --json grant show 3 | jq -r .overdue)" true "the grant is marked overdue"
assert_contains "$(ig grant list)" "removal overdue" "and listed so"
assert_logged "$T/syslog.txt" "directory changes are waiting" "an alert is raised"
assert_eq "$(( $(sql "SELECT attempts FROM dir_journal WHERE grant_id=3 AND op='del_member'") >= 1 ))" 1 \
	"the removal is retried"
# The login decision pam_idgov makes (same code): sudo is refused while the
# removal is overdue, other services are not.
assert_exit 1 "sudo refused to carol while her removal is overdue" \
	ig policy check carol --service sudo
assert_contains "$(cat "$T/last.out")" "grant.overdue" "the refusal names the overdue grant"
assert_exit 0 "sshd still allowed" ig policy check carol --service sshd
slapd_restart "$T/slapd"
wait_for 8 lacks_member finance "uid=carol,ou=People,dc=example,dc=com"
assert_exit 0 "removed once the directory is back" lacks_member finance "uid=carol,ou=People,dc=example,dc=com"
assert_eq "$(ig --json grant show 3 | jq -r .overdue)" false "no longer overdue"
assert_exit 0 "sudo allowed again once the removal is done" ig policy check carol --service sudo

assert_exit 0 "audit chain verifies" ig audit verify
finish
