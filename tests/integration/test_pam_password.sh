#!/usr/bin/env bash
# The password stack through the real libpam: weak, dictionary and reused
# passwords are refused with a reason the user understands; a good one is
# accepted and remembered (as a hash, never in clear).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
ig sync >/dev/null
mkdir -p "$T/pam.d"
authd_start || exit 1
echo "password required $MODULE $PAM_ARGS" > "$T/pam.d/idgov"
twice() { printf '%s\n%s\n' "$1" "$1"; }

assert_exit 1 "a short password is refused" pam alice chauthtok < <(twice "Sh0rt!")
assert_contains "$(cat "$T/last.err" "$T/last.out")" "at least 12 characters" "the user is told the length rule"
assert_exit 1 "too few character classes is refused" pam alice chauthtok < <(twice "alllowercaseletters")
assert_contains "$(cat "$T/last.err" "$T/last.out")" "mix at least 3" "the user is told the class rule"
assert_exit 1 "the user name is refused" pam alice chauthtok < <(twice "My-alice-Pass1")
if [ -e /var/cache/cracklib/cracklib_dict.pwd ]; then
	assert_exit 1 "a dictionary word is refused" pam alice chauthtok < <(twice "Superintendent1")
	assert_contains "$(cat "$T/last.err" "$T/last.out")" "dictionary word" "the user is told why"
fi
assert_exit 1 "a mistyped confirmation is refused" pam alice chauthtok < <(printf 'Tr0ub4dor&3x!qz\nTr0ub4dor&3x!qy\n')
assert_exit 0 "a good password is accepted" pam alice chauthtok < <(twice "Tr0ub4dor&3x!qz")
assert_eq "$(state_sql "SELECT count(*) FROM password_history WHERE uid='alice'")" 1 "the change is recorded, in the state file"
assert_eq "$(state_sql "SELECT hash LIKE '\$argon2id\$%' FROM password_history")" 1 "as an argon2id hash"
assert_exit 1 "the same password again is refused (history)" pam alice chauthtok < <(twice "Tr0ub4dor&3x!qz")
assert_contains "$(cat "$T/last.err" "$T/last.out")" "used recently" "the user is told it was used"

# A password change while a directory refresh holds the store's write lock:
# the history is the service's own file, so the change neither waits for
# the lock nor writes the store (the service opens it read-only).
if hold_store_lock 20; then ok "a helper holds the store's write lock"; else not_ok "a helper holds the store's write lock"; fi
assert_exit 0 "a password change while the store is write-locked" pam carol chauthtok < <(twice "C4rol-fresh-secret!")
assert_eq "$(state_sql "SELECT count(*) FROM password_history WHERE uid='carol'")" 1 "is recorded"
if kill -0 "$HOLD_PID" 2>/dev/null; then ok "the store's lock was held throughout"; else not_ok "the store's lock was held throughout"; fi
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null
assert_eq "$(sql "SELECT count(*) FROM password_history")" 0 "the store's old table is not written"

# Split stack: check before the password is set, record after. If setting it
# fails (pam_deny standing in for pam_unix), nothing is remembered.
SEC=/usr/lib/x86_64-linux-gnu/security
{
	echo "password requisite $MODULE $PAM_ARGS check_only"
	echo "password requisite $SEC/pam_deny.so"
	echo "password required $MODULE $PAM_ARGS record_only use_authtok"
} > "$T/pam.d/idgov"
assert_exit 1 "a change that fails after the check" pam bob chauthtok < <(twice "B0b-new-secret!")
assert_eq "$(state_sql "SELECT count(*) FROM password_history WHERE uid='bob'")" 0 "is not remembered"
sed -i "s|$SEC/pam_deny.so|$SEC/pam_permit.so|" "$T/pam.d/idgov"
assert_exit 0 "a change that succeeds" pam bob chauthtok < <(twice "B0b-new-secret!")
assert_eq "$(state_sql "SELECT count(*) FROM password_history WHERE uid='bob'")" 1 "is remembered by the record_only line"
echo "password required $MODULE $PAM_ARGS" > "$T/pam.d/idgov"

sed -i 's|^\[admin\]$|[password]\ndictionary = /nonexistent/cracklib_dict\n[admin]|' "$T/etc/idgov.conf"
assert_exit 1 "a missing dictionary refuses changes, clearly" pam alice chauthtok < <(twice "Another-g00d-one")
assert_contains "$(cat "$T/last.err" "$T/last.out")" "dictionary /nonexistent/cracklib_dict is missing" \
	"the message names the missing dictionary"
finish
