#!/usr/bin/env bash
# pam_idgov.so through the real libpam (pam_wrapper + pamtester) with
# [fleet] mfa = directory, against a real slapd with idgov's schema: the
# token lives on alice's entry (put there as an enrolment does, by the
# fleet_token_put helper), the auth service reads it from the provider and
# consumes each step there with an assertion-controlled modify. A right
# code logs in and its step is in the directory; the same code again is
# refused, also by a second auth service with a state file of its own
# (another host), and the other way round; a recovery code works once;
# wrong codes lock in the directory and the lock is audited; the
# last-login stamp is written; an unenrolled user is refused.
# test_pam_fleet_offline.sh has what happens when no provider answers.
# shellcheck source=pam_fleet_lib.sh
. "$(dirname "$0")/pam_fleet_lib.sh"

fleet_enrol
assert_exit 0 "the next code authenticates" pam alice authenticate <<<"$(code 0)"
assert_eq "$(attr idgovLastStep)" "$BASE" "its step is consumed in the directory"
assert_eq "$(state_sql "SELECT last_step - $BASE FROM mfa_state")" 0 "and noted in the auth service's file"
assert_exit 1 "the same code again is a replay" pam alice authenticate <<<"$(code 0)"
assert_contains "$(cat "$T/last.err")" "This code was already used" "the user is told it is a replay"
# The stamp is written once the module has its answer: waited for.
stamped() { [ -n "$(attr idgovLastLogin)" ] && [ "$(state_sql "SELECT login_stamped_at > 0 FROM mfa_state")" = 1 ]; }
wait_for 5 stamped
stamp=$(attr idgovLastLogin)
case "$stamp" in
20*Z) ok "the login stamped idgovLastLogin ($stamp)" ;;
*) not_ok "the login stamped idgovLastLogin (got '$stamp')" ;;
esac
assert_eq "$(state_sql "SELECT login_stamped_at > 0 FROM mfa_state")" 1 "and the service noted its stamp"

# A second host: another auth service with its own socket and state file, the same directory.
mkdir -p "$T/b/run" "$T/b/pam.d"
sed -e "s|^socket = $T/run/authd.sock|socket = $T/b/run/authd.sock|" "$T/etc/idgov.conf" >"$T/b/idgov.conf"
printf 'state = %s\n' "$T/b/authd.db" >>"$T/b/idgov.conf"
("$AUTHD" -c "$T/b/idgov.conf" -p "$T/b/run/authd.pid" 2>>"$T/b/authd.err" &)
wait_for 10 test -S "$T/b/run/authd.sock"
sed "s|socket=$T/run/authd.sock|socket=$T/b/run/authd.sock|" "$T/pam.d/idgov" >"$T/b/pam.d/idgov"
pam_b() {
	LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/b/pam.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" pamtester idgov "$@"
}
assert_exit 1 "host B refuses the code host A accepted" pam_b alice authenticate <<<"$(code 0)"
assert_exit 0 "host B accepts the next code" pam_b alice authenticate <<<"$(code 1)"
assert_exit 1 "and host A then refuses that one" pam alice authenticate <<<"$(code 1)"
assert_eq "$(attr idgovLastStep)" "$((BASE + 1))" "the directory holds host B's step"
# One code typed on both hosts at once: exactly one login wins the step.
code 3 >"$T/c3"
pam alice authenticate <"$T/c3" >/dev/null 2>&1 &
a_pid=$!
pam_b alice authenticate <"$T/c3" >/dev/null 2>&1 &
b_pid=$!
wait "$a_pid"
a_rc=$?
wait "$b_pid"
b_rc=$?
assert_eq "$(((a_rc == 0) + (b_rc == 0)))" 1 "one code at once on two hosts: one login wins (A $a_rc, B $b_rc)"
assert_eq "$(attr idgovLastStep)" "$((BASE + 3))" "and its step is the directory's"
# Wrong codes spread over the two hosts count together: the fifth locks both.
for h in pam pam_b pam pam_b; do "$h" alice authenticate <<<"111111" >/dev/null 2>&1; done
assert_eq "$(attr idgovFailureCount)" 4 "four wrong codes over A and B are four in the directory"
assert_exit 1 "the fifth, on host A" pam alice authenticate <<<"111111"
assert_exit 1 "locks host B too: a right code is refused there" pam_b alice authenticate <<<"$(code 4)"
assert_contains "$(cat "$T/last.err")" "locked" "(told so)"
stop_pid_file "$T/b/run/authd.pid"
ldif <<L
dn: $ALICE
changetype: modify
delete: idgovLockEnd
L

assert_exit 0 "a recovery code works" pam alice authenticate <<<"${recovery[0]}"
assert_eq "$(attr idgovRecoveryCode | grep -c "^${recovery[0]:0:4}:")" 0 "its value is gone from the directory"
assert_exit 1 "the same recovery code is spent" pam alice authenticate <<<"${recovery[0]}"
assert_contains "$(cat "$T/last.err")" "This recovery code was already used" "and the user is told so"

for _ in 1 2 3 4 5; do pam alice authenticate <<<"111111" >/dev/null 2>&1; done
assert_exit 1 "after five wrong codes a valid code is refused (locked)" pam alice authenticate <<<"$(code 5)"
assert_contains "$(cat "$T/last.err")" "locked" "the user is told verification is locked"
locked=$(attr idgovLockEnd)
case "$locked" in
20*Z) ok "the lock is in the directory ($locked)" ;;
*) not_ok "the lock is in the directory (got '$locked')" ;;
esac
assert_exit 0 "idgov audit ingest signs what the service spooled" ig audit ingest
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='mfa.locked' AND subject='alice'")" 2 "both locks are audited"
# An admin's unlock, as `idgov mfa unlock` does it fleet-wide.
ldif <<L
dn: $ALICE
changetype: modify
delete: idgovLockEnd
L
assert_exit 0 "after the lock is removed in the directory a fresh code works" pam alice authenticate <<<"$(code 5)"

# Enrolled with `idgov mfa enroll` (the token written to the directory by
# idgovd's side), dave logs in through the same path.
alice_secret=$SECRET alice_base=$BASE
enroll dave 0
assert_contains "$ENROL_OUT" "MFA is now active" "dave enrolled with idgov mfa enroll"
assert_eq "$(ldapsearch -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" -LLL -s base \
	-b "uid=dave,ou=People,dc=example,dc=com" idgovTokenSecret | grep -c '^idgovTokenSecret::')" 1 \
	"his token is in the directory"
assert_exit 0 "dave logs in with his next code" pam dave authenticate <<<"$(code 1)"
assert_exit 1 "and not twice with it" pam dave authenticate <<<"$(code 1)"
SECRET=$alice_secret BASE=$alice_base

# A first provider that does not answer (a closed port): logins go on through the next.
closed="ldap://127.0.0.1:$(slapd_free_port)/"
sed -i "s|^timeout_ms = 500$|timeout_ms = 500\nproviders = $closed $URI|" "$T/etc/idgov.conf"
assert_exit 0 "the first provider down: the next code is accepted through the second" \
	pam alice authenticate <<<"$(code 6)"
assert_eq "$(attr idgovLastStep)" "$((BASE + 6))" "its step is in the directory"
assert_exit 1 "and the same code again is a replay there" pam alice authenticate <<<"$(code 6)"

assert_exit 1 "an unenrolled user is refused" pam bob authenticate <<<"123456"
assert_logged "$T/syslog.txt" "denied bob: rule mfa.not_enrolled" "as not enrolled"
assert_exit 0 "audit chain verifies" ig audit verify
finish
