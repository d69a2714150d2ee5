#!/usr/bin/env bash
# pam_idgov.so through the real libpam (pam_wrapper + pamtester, no root
# and no /etc changes): TOTP after `idgov mfa enroll`, replay, wrong codes,
# lockout and unlock, recovery codes once, unenrolled and departed users,
# session records, and failing closed when the store cannot be read.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 8\nfail_delay_ms = 0\n[pam]\nbreak_glass = erin\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
authd_start || exit 1
for stack in auth account session; do
	echo "$stack required $MODULE $PAM_ARGS"
done > "$T/pam.d/idgov"

enroll alice 0
enrol_out=$ENROL_OUT
secret=$SECRET
assert_contains "$enrol_out" "MFA is now active" "alice enrolled with her first code"
mapfile -t recovery < <(printf '%s\n' "$enrol_out" | grep -E '^  [A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$' | tr -d ' ')
assert_eq "${#recovery[@]}" 10 "ten recovery codes shown once"
assert_eq "$(sql "SELECT confirmed FROM mfa")" 1 "enrolment confirmed in the store"
assert_eq "$(sql "SELECT count(*) FROM mfa WHERE instr(secret_ct, '$secret') > 0")" 0 "secret not stored in clear"

assert_exit 0 "the next code authenticates" pam alice authenticate <<<"$(code 1)"
assert_exit 1 "the same code again is a replay" pam alice authenticate <<<"$(code 1)"
assert_contains "$(cat "$T/last.err")" "This code was already used; wait for the next one." "the user is told it is a replay"
for _ in 1 2 3 4 5 6; do pam alice authenticate <<<"$(code 1)" >/dev/null 2>&1; done
assert_eq "$(state_sql "SELECT failures FROM mfa_state")" 0 "six more replays of one code count no failure (no lockout)"
assert_eq "$(state_sql "SELECT last_step - $BASE FROM mfa_state")" 1 "the login's watermark is in the auth service's file"
assert_eq "$(sql "SELECT last_step - $BASE FROM mfa")" 0 "and the store keeps the step enrolment used"
assert_eq "$(stat -c %a "$T/state/authd.db")" 600 "the auth service's file is 0600"
assert_exit 1 "an older code is refused" pam alice authenticate <<<"$(code 0)"
assert_exit 1 "a wrong code is refused" pam alice authenticate <<<"000000"
assert_exit 0 "a later code still works" pam alice authenticate <<<"$(code 2)"
assert_exit 0 "a recovery code works" pam alice authenticate <<<"${recovery[0]}"
assert_exit 1 "the same recovery code is spent" pam alice authenticate <<<"${recovery[0]}"
assert_contains "$(cat "$T/last.err")" "This recovery code was already used" "and the user is told so"

for _ in 1 2 3 4 5; do pam alice authenticate <<<"111111" >/dev/null 2>&1; done
assert_exit 1 "after five wrong codes a valid code is refused (locked)" pam alice authenticate <<<"$(code 3)"
assert_contains "$(cat "$T/last.err")" "locked" "the user is told verification is locked"
assert_exit 0 "idgov audit ingest signs what the service spooled" ig audit ingest
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='mfa.locked' AND subject='alice' AND json_extract(details, '\$.spool') IS NOT NULL")" 1 "the lock is audited, through the spool"
assert_exit 0 "an admin unlocks" ig mfa unlock alice
assert_contains "$(cat "$T/last.out")" "MFA of alice unlocked." "and is told it is done"
assert_exit 0 "after unlock a fresh code works" pam alice authenticate <<<"$(code 4)"

# A login while a directory refresh holds the store's write lock: the
# code is accepted and its watermark written, and the lock was still held
# when the login returned (so the login never needed it).
if hold_store_lock 20; then ok "a helper holds the store's write lock"; else not_ok "a helper holds the store's write lock"; fi
assert_exit 0 "a login with a code while the store is write-locked" pam alice authenticate <<<"$(code 5)"
assert_eq "$(state_sql "SELECT last_step - $BASE FROM mfa_state")" 5 "its watermark is written"
if kill -0 "$HOLD_PID" 2>/dev/null; then ok "the store's lock was held throughout"; else not_ok "the store's lock was held throughout"; fi
assert_exit 1 "the same code again is a replay, the store still locked" pam alice authenticate <<<"$(code 5)"
# A recovery code's use is an audit event: spooled, it needs no write on
# the store (the service opens the store read-only for a login), so it
# does not wait out the lock either.
spooled_before=$(find "$T/state/spool" -maxdepth 1 -name '*.ev' | wc -l)
assert_exit 0 "a recovery code while the store is write-locked" pam alice authenticate <<<"${recovery[2]}"
assert_eq "$(($(find "$T/state/spool" -maxdepth 1 -name '*.ev' | wc -l) - spooled_before))" 1 \
	"its use is spooled for the audit chain"
assert_exit 0 "the account step while the store is write-locked" pam alice acct_mgmt
# Session records go to the state file too: opening an ssh session does
# not wait for a refresh either (it used to, up to the busy timeout, and
# then lost the record).
assert_exit 0 "a session opens and closes while the store is write-locked" \
	pam alice open_session close_session
assert_eq "$(state_sql "SELECT count(*) FROM sessions WHERE uid = 'alice' AND closed_at IS NOT NULL")" 1 \
	"and is recorded, closed, in the state file"
if kill -0 "$HOLD_PID" 2>/dev/null; then ok "the store's lock was still held"; else not_ok "the store's lock was still held"; fi
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null

assert_exit 1 "an unenrolled user is refused" pam bob authenticate <<<"123456"
assert_contains "$(cat "$T/last.err")" "Verification code:" "after the same prompt as an enrolled user's"
case "$(cat "$T/last.err")" in
*enrol*) not_ok "and is not told why (reveal_enrolment = no)" ;;
*) ok "and is not told why (reveal_enrolment = no)" ;;
esac
assert_logged "$T/syslog.txt" "denied bob: rule mfa.not_enrolled" "the reason is in the log"
assert_exit 1 "a user unknown to the directory gets the same prompt" pam mallory authenticate <<<"123456"
assert_contains "$(cat "$T/last.err")" "Verification code:" "(mallory is asked too)"
sed -i 's/^\[mfa\]$/[mfa]\nreveal_enrolment = yes/' "$T/etc/idgov.conf"
assert_exit 1 "reveal_enrolment = yes: the unenrolled user is refused at once" pam bob authenticate <<<""
assert_contains "$(cat "$T/last.err")" "not enrolled" "and told how to enrol"
sed -i '/^reveal_enrolment = yes$/d' "$T/etc/idgov.conf"
assert_exit 1 "a user unknown to the directory is refused" pam mallory authenticate <<<"123456"

# A grace period for users not enrolled yet: let in with a reminder until the date.
sed -i "s/^\[mfa\]$/[mfa]\nunenrolled = grace\ngrace_until = $(date -u -d '+10 days' +%F)/" "$T/etc/idgov.conf"
assert_exit 0 "during the grace period an unenrolled user is let in" pam bob authenticate <<<""
assert_contains "$(cat "$T/last.err" "$T/last.out")" "becomes mandatory on" "with a reminder to enrol"
# Other spellings of an enrolled user are that user, not an unenrolled stranger.
assert_exit 1 "grace: ALICE is alice, who is enrolled: no code, no entry" pam ALICE authenticate <<<""
assert_exit 0 "grace: ALICE with one of alice's recovery codes is let in" pam ALICE authenticate <<<"${recovery[1]}"
assert_exit 1 "grace: 'alice ' (trailing space) is refused" pam "alice " authenticate <<<""
assert_exit 1 "grace: ' alice' (leading space) is refused" pam " alice" authenticate <<<""
assert_exit 1 "grace: a name with a control character is refused" pam "$(printf 'ali\tce')" authenticate <<<""
assert_eq "$(grep -c 'ALICE' "$T/syslog.txt")" 0 "ALICE's attempts are logged as alice's"
sed -i "s/^grace_until = .*/grace_until = $(date -u -d '-1 days' +%F)/" "$T/etc/idgov.conf"
assert_exit 1 "after the grace period the unenrolled user is refused" pam bob authenticate <<<""
sed -i '/^unenrolled = grace$/d; /^grace_until = /d' "$T/etc/idgov.conf"

assert_exit 0 "account: an active user passes" pam alice acct_mgmt
assert_exit 1 "account: a disabled (locked) user is refused" pam grace acct_mgmt
ldif <<'L'
dn: uid=carol,ou=People,dc=example,dc=com
changetype: delete
L
ig sync >/dev/null
assert_exit 1 "account: a departed user is refused" pam carol acct_mgmt
assert_logged "$T/syslog.txt" "rule account.departed" "the denial names its rule in syslog"
assert_exit 1 "auth: a departed user is refused" pam carol authenticate <<<"123456"
assert_contains "$(cat "$T/last.err")" "removed from the directory" "as departed"
case "$(cat "$T/last.err")" in *enrol*) not_ok "no enrolment hint for a departed user" ;; *) ok "no enrolment hint for a departed user" ;; esac
ig audit ingest >/dev/null
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='login.denied' AND subject='carol'")" 2 \
	"both refusals of carol are audited"

assert_exit 0 "session open and close" pam alice open_session close_session
assert_eq "$(state_sql "SELECT service || ',' || (closed_at IS NOT NULL) FROM sessions WHERE uid='alice' ORDER BY id DESC LIMIT 1")" \
	"idgov,1" "the session is recorded with its service and end"

# Fail closed: the store is unreadable. A user once named in [pam]
# break_glass gets no free pass any more: break-glass needs a code
# (test_authd.sh), and the service says at start that the key is unused.
mv "$T/state/idgov.db" "$T/state/idgov.db.away"
assert_exit 1 "store unavailable: alice is refused" pam alice authenticate <<<"$(code 5)"
assert_exit 1 "store unavailable: erin, named in [pam] break_glass, is refused too" pam erin authenticate <<<""
assert_logged "$T/syslog.txt" "denying alice: idgov is unavailable" "the service logs why"
assert_logged "$T/syslog.txt" "[pam] break_glass is no longer used" "and warned that [pam] break_glass is unused"
mv "$T/state/idgov.db.away" "$T/state/idgov.db"

assert_exit 0 "audit chain verifies" ig audit verify
finish
