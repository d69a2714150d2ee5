#!/usr/bin/env bash
# The CLI's contract: --help everywhere (exit 0), usage errors exit 2,
# refusals exit 1, and an unavailable daemon exits 3 for non-root callers.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
ig sync >/dev/null
for cmd in "--help" "init --help" "status --help" "sync --help" "user --help" "user list --help" \
	"user show --help" "group --help" "group show --help" "audit --help" "audit list --help" \
	"mfa --help" "mfa enroll --help" "policy --help" "policy check --help"; do
	# shellcheck disable=SC2086
	assert_exit 0 "idgov $cmd" ig $cmd
	assert_contains "$(cat "$T/last.out")" "usage:" "idgov $cmd prints usage"
done
assert_exit 2 "no command" ig
assert_exit 2 "unknown command" ig frobnicate
assert_exit 2 "unknown option" ig status --bogus
assert_exit 2 "missing operand" ig user show
assert_exit 2 "extra operand" ig group list extra
assert_exit 2 "malformed --since" ig audit list --since tomorrowish
assert_exit 2 "malformed --limit" ig audit list --limit -3
assert_exit 2 "mfa reset without a user" ig mfa reset
assert_exit 1 "unknown user" ig user show nobody-here
assert_contains "$(cat "$T/last.err")" "no user named 'nobody-here'" "says which user"
assert_exit 1 "a config that does not exist" "$IDGOV" -c /nonexistent.conf status
assert_contains "$(cat "$T/last.err")" "/nonexistent.conf: cannot open" "names the file"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T/etc" && chmod 644 "$T/etc/idgov.conf"
	assert_exit 3 "no daemon, not root: exit 3" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$IDGOV" -c "$T/etc/idgov.conf" status
	assert_contains "$(cat "$T/last.err")" "idgovd is not running" "and says why"
fi
finish
