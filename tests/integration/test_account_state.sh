#!/usr/bin/env bash
# Account state from every common source: the ppolicy lock, shadowExpire,
# nsAccountLock, a nologin shell and a configured status attribute.
# `idgov status`, `user list` and `user show` print the state that `policy
# check` and the PAM module decide from, with the reason and the expiry
# date; a source value that cannot be read disables (fail closed).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
# This slapd has no nsAccountLock in its schema (389-ds has): read it from
# roomNumber, which inetOrgPerson allows; the mirror reads whatever is named.
# shadowExpire is read from carLicense, a text attribute, so that the
# directory can hold a day number that does not parse (slapd refuses one in
# shadowExpire itself).
cat >>"$T/etc/idgov.conf" <<'CONF'
[users]
ns_account_lock = roomNumber
shadow_expire = carLicense
status = employeeType
disabled_values = terminated, on-leave
CONF
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
authd_start || exit 1
echo "account required $MODULE $PAM_ARGS" >"$T/pam.d/idgov"

# person NAME UIDNUMBER EXTRA-LINES...: adds a user.
person() {
	local name=$1 num=$2
	shift 2
	{
		printf 'dn: uid=%s,ou=People,dc=example,dc=com\nchangetype: add\n' "$name"
		printf 'objectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: shadowAccount\n'
		printf 'uid: %s\ncn: %s\nsn: %s\nuidNumber: %s\ngidNumber: 10000\nhomeDirectory: /home/%s\n' \
			"$name" "$name" "$name" "$num" "$name"
		printf '%s\n' "$@"
	} | ldif
}
past=$(($(date -u +%s) / 86400 - 3))
future=$(($(date -u +%s) / 86400 + 30))
person xpast 10100 "carLicense: $past"
person xfuture 10101 "carLicense: $future"
person nologin 10102 "loginShell: /usr/sbin/nologin"
person falsesh 10103 "loginShell: /bin/false"
person nslocked 10104 "roomNumber: TRUE"
person nsopen 10105 "roomNumber: false"
person nsodd 10106 "roomNumber: maybe"
person leaver 10107 "employeeType: staff" "employeeType: Terminated"
person staff 10108 "employeeType: staff" "loginShell: /bin/bash"
person badexp 10109 "carLicense: soon"
assert_exit 0 "sync" ig sync

# expect USER STATE REASON: user list, user show, policy check and PAM agree.
expect() {
	local user=$1 state=$2 reason=$3 show check
	assert_eq "$(ig --json user list | jq -r --arg u "$user" '.[] | select(.uid == $u) | .status + "|" + (.reason // "")')" \
		"$state|$reason" "$user: user list says $state${reason:+ ($reason)}"
	show=$(ig user show "$user")
	if [ -n "$reason" ]; then
		assert_contains "$show" "state:       $state ($reason)" "$user: user show gives the state and reason"
	else
		assert_contains "$show" "state:       $state" "$user: user show gives the state"
	fi
	check=$(ig policy check "$user" 2>&1)
	if [ "$state" = active ]; then
		assert_exit 0 "$user: PAM lets an active account in" pam "$user" acct_mgmt
		assert_contains "$check" "allowed" "$user: policy check allows"
	else
		assert_exit 1 "$user: PAM refuses" pam "$user" acct_mgmt
		assert_contains "$check" "rule account.$state: the account is $state: $reason" \
			"$user: policy check refuses with the same state and reason"
	fi
}
expect xpast expired "shadowExpire $(date -u -d "@$((past * 86400))" +%F) has passed"
expect xfuture active ""
expect nologin disabled "login shell /usr/sbin/nologin"
expect falsesh disabled "login shell /bin/false"
expect nslocked disabled "roomNumber is TRUE"
expect nsopen active ""
expect nsodd disabled "roomNumber cannot be read (neither TRUE nor FALSE)"
expect leaver disabled "employeeType is Terminated"
expect staff active ""
expect badexp disabled "carLicense cannot be read (not a day number)"
expect grace disabled "locked by ppolicy (pwdAccountLockedTime)"

assert_contains "$(ig user show xfuture)" "expires:     $(date -u -d "@$((future * 86400))" +%F)" \
	"user show prints the expiry date"
assert_contains "$(ig user show bob)" "expires:     never" "and says when there is none"
assert_eq "$(ig --json status | jq -r '.counts | "\(.users_active) \(.users_disabled) \(.users_expired)"')" \
	"10 7 1" "status counts active, disabled and expired as policy check decides"
assert_contains "$(ig status)" "10 active, 7 disabled, 1 expired, 0 departed" "and prints them"
assert_eq "$(ig --json user list --status expired | jq -r '.[].uid')" xpast "user list filters by the same state"

# A source that changes back re-enables; the change is audited with the reason.
ldif <<'L'
dn: uid=leaver,ou=People,dc=example,dc=com
changetype: modify
delete: employeeType
employeeType: Terminated
L
assert_exit 0 "sync" ig sync
expect leaver active ""
assert_contains "$(sql "SELECT details FROM audit WHERE action='user.changed' AND subject='leaver'")" \
	'"disabled_reason":["employeeType is Terminated",null]' "the change of reason is audited"
finish
