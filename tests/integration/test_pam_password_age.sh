#!/usr/bin/env bash
# Maximum password age at login: a password older than max_age_days (from
# the directory's shadowLastChange or idgov's own record, whichever is
# later) returns PAM_NEW_AUTHTOK_REQD to a login that gave a password;
# one about to expire is announced; changing it through the password
# stack clears the requirement. [pam] password_age: a login that gave no
# password (an ssh key and a code: PAM_AUTHTOK unset in the handle) is let
# in with a warning and a login.password_expired audit event under
# password-logins (the default), and must change it under all-logins.
# A password login here is pam_matrix (pam_wrapper's password module),
# which sets PAM_AUTHTOK as pam_unix does.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
MATRIX=$(find /usr/lib /lib -path '*pam_wrapper/pam_matrix.so' 2>/dev/null | head -1)
[ -n "$MATRIX" ] || {
	echo "pam_matrix.so (libpam-wrapper) is missing" >&2
	exit 1
}
it_setup
today=$(($(date +%s) / 86400))
ldif <<L
dn: uid=frank,ou=People,dc=example,dc=com
changetype: modify
replace: shadowLastChange
shadowLastChange: $((today - 200))

dn: uid=erin,ou=People,dc=example,dc=com
changetype: modify
replace: shadowLastChange
shadowLastChange: $((today - 80))
L
sed -i 's|^\[admin\]$|[password]\ndictionary =\n[mfa]\nwindow = 10\nfail_delay_ms = 0\n[admin]|' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d"
authd_start || exit 1
SPOOL=$T/state/spool
expired_events() {
	grep -l '"action":"login.password_expired"' "$SPOOL"/*.ev 2>/dev/null | wc -l
}
# The stacks: account and password alone (sshd with a key and no
# keyboard-interactive), a key and a code (auth: this module alone), and
# a password and a code (pam_matrix first, as pam_unix would be).
stack_account() {
	{
		echo "account required $MODULE $PAM_ARGS"
		echo "password required $MODULE $PAM_ARGS"
	} >"$T/pam.d/idgov"
}
stack_code() {
	{
		echo "auth required $MODULE $PAM_ARGS"
		echo "account required $MODULE $PAM_ARGS"
	} >"$T/pam.d/idgov"
}
stack_password() {
	{
		echo "auth required $MATRIX passdb=$T/passdb"
		echo "auth required $MODULE $PAM_ARGS"
		echo "account required $MODULE $PAM_ARGS"
	} >"$T/pam.d/idgov"
}
printf 'frank:Fr4nk-old-secret:idgov\n' >"$T/passdb"
chmod 600 "$T/passdb"
enroll frank 0
out() { cat "$T/last.err" "$T/last.out"; }

assert_eq "$(sql "SELECT shadow_last_change FROM users WHERE uid='frank'")" "$((today - 200))" \
	"shadowLastChange mirrored"

# password_age = password-logins (the default).
stack_account
assert_exit 0 "password-logins: a login with no password (account only) goes on" pam frank acct_mgmt
assert_contains "$(out)" "200 days old; the maximum is 90" "the user is told the password is old"
assert_contains "$(out)" "This login used no password" "and why the login goes on"
assert_eq "$(expired_events)" 1 "the login is recorded: a login.password_expired event is spooled"
ev=$(grep -l '"action":"login.password_expired"' "$SPOOL"/*.ev | head -1)
assert_contains "$(cat "$ev")" '"subject":"frank"' "the event names frank"
assert_contains "$(cat "$ev")" '"password_used":false' "and that no password was used"
assert_exit 0 "an 80-day-old password is still accepted" pam erin acct_mgmt
assert_contains "$(out)" "expires in 10 days" "with a warning 10 days ahead"
assert_exit 0 "no known change: nothing to enforce" pam alice acct_mgmt

stack_code
assert_exit 0 "password-logins: key + code with an old password is allowed" \
	pam frank authenticate acct_mgmt <<<"$(code 1)"
assert_contains "$(out)" "This login used no password" "with the warning"
case "$(out)" in
*"new one required"* | *"choose a new one"*) not_ok "key + code was asked for a new password" ;;
*) ok "and no password change is asked" ;;
esac
assert_eq "$(expired_events)" 2 "and recorded"

stack_password
assert_exit 1 "password-logins: password + code with an old password must change it" \
	pam frank authenticate acct_mgmt < <(printf 'Fr4nk-old-secret\n%s\n' "$(code 2)")
assert_contains "$(out)" "new one required" "libpam reports PAM_NEW_AUTHTOK_REQD"
assert_contains "$(out)" "200 days old; the maximum is 90" "the user is told why"
assert_eq "$(expired_events)" 2 "a forced change is not a login.password_expired event"

# password_age = all-logins: every login past the maximum changes it.
sed -i 's|^\[admin\]$|[pam]\npassword_age = all-logins\n[admin]|' "$T/etc/idgov.conf"
stack_code
assert_exit 1 "all-logins: key + code with an old password must change it" \
	pam frank authenticate acct_mgmt <<<"$(code 3)"
assert_contains "$(out)" "new one required" "PAM_NEW_AUTHTOK_REQD"
assert_contains "$(out)" "200 days old" "told why"
stack_account
assert_exit 1 "all-logins: a login with no password at all must change it too" pam frank acct_mgmt
stack_password
assert_exit 1 "all-logins: password + code with an old password must change it" \
	pam frank authenticate acct_mgmt < <(printf 'Fr4nk-old-secret\n%s\n' "$(code 4)")
assert_contains "$(out)" "new one required" "PAM_NEW_AUTHTOK_REQD"
assert_eq "$(expired_events)" 2 "all-logins records no login.password_expired event"

# A mistake in the key stops the service's reload; the last good one stays.
sed -i 's|^password_age = all-logins$|password_age = sometimes|' "$T/etc/idgov.conf"
assert_exit 1 "a bad password_age: the service keeps all-logins" pam frank acct_mgmt
assert_exit 1 "a bad password_age: idgov refuses the file" ig policy check frank --service login
assert_contains "$(cat "$T/last.err")" "[pam] password_age: must be password-logins or all-logins" \
	"naming the key and what it must be"
sed -i 's|^password_age = sometimes$|password_age = all-logins|' "$T/etc/idgov.conf"

assert_exit 0 "policy check: frank may log in once he has changed it" ig policy check frank --service login
assert_contains "$(cat "$T/last.out")" "allowed after a password change (rule password.max_age" \
	"policy check explains the required change"
stack_account
assert_exit 0 "frank changes his password" pam frank chauthtok < <(printf 'Fr4nk-new-secret\nFr4nk-new-secret\n')
assert_exit 0 "after the change the account passes" pam frank acct_mgmt
stack_code
assert_exit 0 "and key + code goes on under all-logins" pam frank authenticate acct_mgmt <<<"$(code 5)"
finish
