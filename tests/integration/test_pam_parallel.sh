#!/usr/bin/env bash
# Parallel logins of one user never lose an update: 20 processes doing
# pam_authenticate() through libpam (pam_start_confdir; pam_wrapper's
# per-process temporary directories collide when many start at once).
# 20
# authentications at once with wrong codes count exactly 20 failures, and
# 20 at once with 20 distinct valid codes leave the watermark at the
# highest step, with every code accepted at most once.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 10\nmax_failures = 100\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d"
authd_start || exit 1
echo "auth required $MODULE $PAM_ARGS" > "$T/pam.d/idgov"
# Confirm with the oldest usable step (window 10) so that the 20 above it are all valid.
enroll alice -10
assert_eq "$(sql "SELECT confirmed FROM mfa")" 1 "alice enrolled"

auth() { "$BUILD/tests/pam_auth" "$T/pam.d" idgov alice "$1" >/dev/null 2>&1; }
for _ in $(seq 1 20); do
	auth 000000 &
done
wait
assert_eq "$(state_sql "SELECT failures FROM mfa_state")" 20 "20 parallel wrong codes: exactly 20 failures counted"

codes=()
for k in $(seq 1 20); do codes+=("$(code "$k")"); done
pids=()
for k in $(seq 0 19); do
	auth "${codes[$k]}" &
	pids+=($!)
done
accepted=0
for p in "${pids[@]}"; do wait "$p" && accepted=$((accepted + 1)); done
assert_eq "$(state_sql "SELECT last_step - $BASE FROM mfa_state")" 20 "watermark at the highest step submitted"
if [ "$accepted" -ge 1 ] && [ "$accepted" -le 20 ]; then ok "$accepted of 20 accepted, the rest refused as older than the watermark"; else not_ok "accepted $accepted"; fi
# No code works twice: replaying all 20 now is refused every time.
refused=0
for k in $(seq 0 19); do auth "${codes[$k]}" || refused=$((refused + 1)); done
assert_eq "$refused" 20 "every one of the 20 codes is refused when replayed"

# Six parallel logins with one new code: one success, five told "already
# used", and none counted as a failure (no lockout for the real user).
# (The watermark is moved back to the enrolment's step so that a code in
# the window is unused again.)
state_sql "UPDATE mfa_state SET failures = 0, last_step = $BASE" >/dev/null
one=$(code 5)
pids=()
for k in $(seq 0 5); do
	"$BUILD/tests/pam_auth" "$T/pam.d" idgov alice "$one" >"$T/six.$k" 2>&1 &
	pids+=($!)
done
accepted=0
for p in "${pids[@]}"; do wait "$p" && accepted=$((accepted + 1)); done
assert_eq "$accepted" 1 "six parallel logins with one code: exactly one accepted"
assert_eq "$(state_sql "SELECT failures || ',' || (locked_until > strftime('%s','now')) FROM mfa_state")" "0,0" \
	"no failure counted, no lock: the five others were refused as replays"
finish
