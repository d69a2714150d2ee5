#!/usr/bin/env bash
# 1,000 full PAM transactions (authenticate, account, session open and
# close) in one process, as in a long-running sshd: no descriptor is left
# open and memory does not grow; under the sanitizer build LeakSanitizer
# checks every allocation of the module too.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
# Wrong codes take the whole verification path; keep them from locking.
sed -i 's/^\[admin\]$/[mfa]\nmax_failures = 1000\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
enroll alice 0
mkdir -p "$T/pam.d"
authd_start || exit 1
{
	echo "auth optional $MODULE $PAM_ARGS"
	echo "account required $MODULE $PAM_ARGS"
	echo "session required $MODULE $PAM_ARGS"
} > "$T/pam.d/idgov"
assert_exit 0 "1000 transactions leave no descriptor and no memory behind" \
	"$BUILD/tests/pam_loop" "$T/pam.d" alice 1000 000000
cat "$T/last.out"
assert_eq "$(state_sql "SELECT count(*) FROM sessions WHERE uid='alice' AND closed_at IS NOT NULL")" 1000 \
	"every session was recorded and closed"
finish
