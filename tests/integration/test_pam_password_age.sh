#!/usr/bin/env bash
# Maximum password age at login: a password older than max_age_days (from
# the directory's shadowLastChange or idgov's own record, whichever is
# later) returns PAM_NEW_AUTHTOK_REQD; one about to expire is announced;
# changing it through the password stack clears the requirement.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
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
sed -i 's|^\[admin\]$|[password]\ndictionary =\n[admin]|' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d"
authd_start || exit 1
{
	echo "account required $MODULE $PAM_ARGS"
	echo "password required $MODULE $PAM_ARGS"
} > "$T/pam.d/idgov"

assert_eq "$(sql "SELECT shadow_last_change FROM users WHERE uid='frank'")" "$((today - 200))" \
	"shadowLastChange mirrored"
assert_exit 1 "a 200-day-old password needs a change" pam frank acct_mgmt
assert_contains "$(cat "$T/last.err" "$T/last.out")" "new one required" "libpam reports PAM_NEW_AUTHTOK_REQD"
assert_contains "$(cat "$T/last.err" "$T/last.out")" "200 days old; the maximum is 90" "the user is told why"
assert_exit 0 "an 80-day-old password is still accepted" pam erin acct_mgmt
assert_contains "$(cat "$T/last.err" "$T/last.out")" "expires in 10 days" "with a warning 10 days ahead"
assert_exit 0 "no known change: nothing to enforce" pam alice acct_mgmt
assert_exit 0 "policy check: frank may log in once he has changed it" ig policy check frank --service login
assert_contains "$(cat "$T/last.out")" "allowed after a password change (rule password.max_age" \
	"policy check explains the required change"
assert_exit 0 "frank changes his password" pam frank chauthtok < <(printf 'Fr4nk-new-secret\nFr4nk-new-secret\n')
assert_exit 0 "after the change the account passes" pam frank acct_mgmt
finish
