#!/usr/bin/env bash
# pam_idgov.so with [fleet] mfa = directory when no provider answers (the
# test's slapd stopped): offline = deny refuses with a clear message and a
# log line; offline = allow decides from the mirror's copy of the token
# and this host's own watermark (a code used before the outage, or during
# it, stays used; a recovery code works once), queues what it consumed
# and audits each offline login; the next login after slapd returns writes
# the queue back, and drops (with a log line) a step the directory has
# overtaken meanwhile instead of writing over it.
# shellcheck source=pam_fleet_lib.sh
. "$(dirname "$0")/pam_fleet_lib.sh"

fleet_enrol
assert_exit 0 "online, the next code authenticates" pam alice authenticate <<<"$(code 0)"
assert_exit 0 "online, a recovery code works" pam alice authenticate <<<"${recovery[0]}"
assert_exit 0 "online, a later code authenticates" pam alice authenticate <<<"$(code 2)"

# --- no provider answers ---
ig sync >/dev/null # the mirror's copy of the token, for the offline fallback
assert_eq "$(sql "SELECT last_step - $BASE FROM fleet_tokens")" 2 "the mirror holds the token and its step"
slapd_stop "$T/slapd"
assert_exit 1 "offline = deny: a right code is refused" pam alice authenticate <<<"$(code 3)"
assert_contains "$(cat "$T/last.err")" "MFA cannot be checked: no directory provider answers" "with a clear message"
assert_logged "$T/syslog.txt" "denied alice: rule fleet.offline" "and a log line"
# The answer is the one of a service that cannot decide: the module's break-glass codes apply.
assert_exit 0 "break-glass codes for alice" ig breakglass codes alice --file "$T/etc/breakglass"
mapfile -t bg < <(grep -E '^  [A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$' "$T/last.out" | tr -d ' ')
mkdir -p "$T/bg.d"
sed "s|\$| breakglass=$T/etc/breakglass|" "$T/pam.d/idgov" >"$T/bg.d/idgov"
pam_bg() {
	LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/bg.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" pamtester idgov "$@"
}
assert_exit 0 "offline = deny: a break-glass code lets alice in" pam_bg alice authenticate <<<"${bg[0]}"
assert_exit 1 "a TOTP code at the break-glass prompt does not" pam_bg alice authenticate <<<"$(code 3)"

sed -i 's/^offline = deny$/offline = allow/' "$T/etc/idgov.conf"
assert_exit 0 "offline = allow: a right code is accepted" pam alice authenticate <<<"$(code 3)"
assert_eq "$(state_sql "SELECT step - $BASE FROM fleet_pending")" 3 "its step is queued for the directory"
assert_exit 1 "offline, the same code again is a replay" pam alice authenticate <<<"$(code 3)"
assert_exit 1 "offline, a code used before the outage is refused" pam alice authenticate <<<"$(code 2)"
assert_exit 1 "offline, a recovery code spent before the outage is refused" pam alice authenticate <<<"${recovery[0]}"
assert_exit 0 "offline, a recovery code works" pam alice authenticate <<<"${recovery[1]}"
assert_exit 1 "offline, the same recovery code is spent" pam alice authenticate <<<"${recovery[1]}"
assert_eq "$(state_sql "SELECT count(*) FROM fleet_pending")" 2 "the step and the recovery code are queued"
assert_logged "$T/syslog.txt" "alice logged in offline" "the offline login is logged"
ig audit ingest >/dev/null
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='mfa.offline_login' AND subject='alice'")" 2 \
	"each offline login is audited"

slapd_restart "$T/slapd" || exit 1
assert_exit 0 "back online, the next code is accepted" pam alice authenticate <<<"$(code 4)"
assert_eq "$(state_sql "SELECT count(*) FROM fleet_pending")" 0 "the queue was written back"
assert_logged "$T/syslog.txt" "an offline login's step of" "the write-back is logged"
assert_eq "$(attr idgovLastStep)" "$((BASE + 4))" "the directory holds the new step"
assert_eq "$(attr idgovRecoveryCode | grep -c "^${recovery[1]:0:4}:")" 0 "and the offline recovery code is spent there"

# An offline step the directory has overtaken meanwhile is dropped, never written over it.
slapd_stop "$T/slapd"
assert_exit 0 "offline again, a code is accepted" pam alice authenticate <<<"$(code 5)"
slapd_restart "$T/slapd" || exit 1
ldif <<L
dn: $ALICE
changetype: modify
replace: idgovLastStep
idgovLastStep: $((BASE + 6))
L
assert_exit 0 "back online, a later code is accepted" pam alice authenticate <<<"$(code 7)"
assert_logged "$T/syslog.txt" "dropped: the directory already holds it or a later one" \
	"the overtaken step is dropped with a log line"
assert_eq "$(attr idgovLastStep)" "$((BASE + 7))" "the directory's step only grew"

assert_exit 0 "audit chain verifies" ig audit verify
finish
