#!/usr/bin/env bash
# Master key rotation end to end: users enrolled, the key rotated in the
# CLI's process, logins through pam_idgov.so (pam_wrapper + pamtester)
# with their codes, the old key destroyed, a rotation killed (-9) after
# its commit and completed by idgovd at start, a rotation inside idgovd
# (which reloads its key), and the audit chain verified after each.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 10\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d" "$T/run"
"$BUILD/tests/logsink" "$T/run/log.sock" "$T/syslog.txt" &
authd_start || exit 1
sink=$!
trap 'kill $sink 2>/dev/null; daemon_stop 2>/dev/null; cleanup' EXIT
for stack in auth account session; do
	echo "$stack required $MODULE $PAM_ARGS"
done > "$T/pam.d/idgov"

declare -A secrets bases
for u in alice bob dave; do
	enroll "$u" 0
	assert_contains "$ENROL_OUT" "MFA is now active" "$u enrolled"
	secrets[$u]=$SECRET
	bases[$u]=$BASE
done
step=0
# Each round of logins uses the next time step (the replay watermark).
all_log_in() {
	step=$((step + 1))
	for u in alice bob dave; do
		SECRET=${secrets[$u]} BASE=${bases[$u]}
		assert_exit 0 "$1: $u logs in with a code" pam "$u" authenticate <<<"$(code "$step")"
	done
}
KEY=$T/keys/master.key

all_log_in "before any rotation"
assert_exit 0 "key list" ig key list
assert_contains "$(cat "$T/last.out")" "master" "lists the master key"
assert_eq "$(sql "SELECT count(*) FROM key_ids")" 0 "no key id recorded before the first rotation"

assert_exit 0 "root rotates the master key in-process" ig key rotate master
assert_contains "$(cat "$T/last.out")" "3 secrets re-encrypted" "every enrolment re-encrypted"
assert_eq "$(stat -c %a "$KEY.old")" 400 "the old key is kept, 0400"
assert_eq "$([ -e "$KEY.new" ] && echo yes || echo no)" no "no new key file left"
all_log_in "after rotation"
assert_exit 1 "a second rotation waits for destroy-old" ig key rotate master
assert_exit 0 "destroy-old" ig key destroy-old master
assert_eq "$([ -e "$KEY.old" ] && echo yes || echo no)" no "the old key is gone"
all_log_in "after destroy-old"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action IN ('key rotate', 'key destroy-old')")" 2 \
	"rotation and destruction audited"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE details LIKE '%new_id%'")" 1 "by key id"
assert_exit 0 "audit chain verifies" ig audit verify

# kill -9 after the new key file is written, before the transaction.
IDGOV_FAULT=key-rotate-after-new-file ig key rotate master >/dev/null 2>&1
assert_eq "$?" 137 "a rotation killed before its transaction"
all_log_in "with an unused master.key.new"
assert_exit 0 "key list" ig key list
assert_contains "$(cat "$T/last.out")" "rotation in progress" "key list shows the new key file"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'key rotate'")" 1 "nothing committed"

# kill -9 after the commit, before the files are swapped (the unused new key goes first).
IDGOV_FAULT=key-rotate-after-commit ig key rotate master >/dev/null 2>&1
assert_eq "$?" 137 "the rotation was killed"
assert_eq "$([ -e "$KEY.new" ] && echo yes || echo no)" yes "the new key is still master.key.new"
all_log_in "with the rotation cut after its commit"
daemon_start
assert_contains "$(cat "$T/syslog.txt")" "completed an interrupted rotation" "idgovd completed it at start"
assert_eq "$([ -e "$KEY.new" ] && echo yes || echo no)" no "master.key.new renamed"
all_log_in "after recovery"

# In idgovd: destroy-old and a rotation, after which its own MFA operations still open secrets.
assert_exit 0 "destroy-old through idgovd" ig key destroy-old master
assert_exit 0 "rotation through idgovd" ig key rotate master
all_log_in "after a rotation in idgovd"
enroll erin 0
assert_contains "$ENROL_OUT" "MFA is now active" "idgovd enrols with the new key"
assert_exit 1 "the audit key cannot be rotated yet" ig key rotate audit
assert_contains "$(cat "$T/last.err")" "not supported yet" "and says so"
assert_exit 0 "audit chain verifies" ig audit verify
finish
