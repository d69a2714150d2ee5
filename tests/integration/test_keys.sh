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
assert_logged "$T/syslog.txt" "completed an interrupted rotation" "idgovd completed it at start"
assert_eq "$([ -e "$KEY.new" ] && echo yes || echo no)" no "master.key.new renamed"
all_log_in "after recovery"

# In idgovd: destroy-old and a rotation, after which its own MFA operations still open secrets.
assert_exit 0 "destroy-old through idgovd" ig key destroy-old master
assert_exit 0 "rotation through idgovd" ig key rotate master
all_log_in "after a rotation in idgovd"
enroll erin 0
assert_contains "$ENROL_OUT" "MFA is now active" "idgovd enrols with the new key"
assert_exit 0 "audit chain verifies" ig audit verify

# The audit key: rotated inside idgovd, whose own records and the logins'
# (pam_idgov.so in another process, opened with the old key file) are
# signed with the new key from then on; the chain verifies from the pinned
# first public key, which is not changed.
AKEY=$T/keys/audit.key
pub_before=$(sha256sum <"$T/keys/audit.pub")
assert_exit 0 "audit key rotation through idgovd" ig key rotate audit
assert_contains "$(cat "$T/last.out")" "signed by both keys" "the rotation says how it is signed"
assert_eq "$(stat -c %a "$AKEY.old")" 400 "the old audit key is kept, 0400"
assert_eq "$(sha256sum <"$T/keys/audit.pub")" "$pub_before" "the pinned public key is unchanged"
all_log_in "after an audit key rotation"
enroll frank 0
assert_exit 0 "audit chain verifies across the rotation" ig audit verify
assert_contains "$(cat "$T/last.out")" "1 audit key rotation followed" "and says it followed it"
assert_exit 0 "key list" ig key list
assert_contains "$(cat "$T/last.out")" "audit.key.old" "key list shows the old audit key"
assert_exit 1 "a second audit rotation waits for destroy-old" ig key rotate audit
assert_exit 0 "destroy-old audit" ig key destroy-old audit
assert_eq "$([ -e "$AKEY.old" ] && echo yes || echo no)" no "the old audit secret key is gone"
assert_exit 0 "the chain still verifies without the old secret key" ig audit verify
daemon_stop

# kill -9 after the commit, before the files are swapped: logins sign with
# audit.key.new meanwhile, and idgovd completes the swap at start.
IDGOV_FAULT=key-rotate-after-commit ig key rotate audit >/dev/null 2>&1
assert_eq "$?" 137 "the audit rotation was killed after its commit"
assert_eq "$([ -e "$AKEY.new" ] && echo yes || echo no)" yes "the new key is still audit.key.new"
all_log_in "with the audit rotation cut after its commit"
SECRET=${secrets[alice]} BASE=${bases[alice]} pam alice authenticate <<<"000000" >/dev/null 2>&1
assert_exit 0 "the chain verifies before recovery" ig audit verify
daemon_start
assert_logged "$T/syslog.txt" "audit key: completed an interrupted rotation" \
	"idgovd completed the audit rotation at start"
assert_eq "$([ -e "$AKEY.new" ] && echo yes || echo no)" no "audit.key.new renamed"
all_log_in "after the audit rotation's recovery"
assert_exit 0 "audit chain verifies across two rotations" ig audit verify
assert_contains "$(cat "$T/last.out")" "2 audit key rotations followed" "both rotations followed"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action IN ('audit.key_rotate', \
	'key destroy-old', 'key rotate completed') AND subject = 'audit'")" 4 \
	"two audit key rotations, a destruction and a completion audited"
daemon_stop

# The backup key: a backup made before its rotation is verified and
# restored with the kept old key until destroy-old, then refused.
mkdir -m 700 "$T/backups"
assert_exit 0 "a backup before the backup key rotation" ig backup --to "$T/backups"
before=$(ls "$T"/backups/idgov-*.backup)
assert_exit 0 "backup key rotation" ig key rotate backup
assert_contains "$(cat "$T/last.out")" "backup key rotated" "the rotation says so"
assert_eq "$(stat -c %a "$T/keys/backup.key.old")" 400 "the old backup key is kept, 0400"
assert_exit 0 "the older backup still verifies" ig backup verify "$before"
assert_contains "$(cat "$T/last.out")" "previous backup key" "with the previous key, and says so"
sleep 1 # backup names carry the second
assert_exit 0 "a backup after the rotation" ig backup --to "$T/backups"
after=$(find "$T/backups" -name 'idgov-*.backup' -newer "$before")
assert_exit 0 "the older backup is restored with the old key" ig restore "$before"
assert_exit 0 "the restored chain verifies" ig audit verify
assert_exit 0 "destroy-old backup" ig key destroy-old backup
assert_exit 1 "the older backup cannot be read any more" ig backup verify "$before"
assert_contains "$(cat "$T/last.err")" "another backup key" "and says why"
assert_exit 0 "the newer backup verifies" ig backup verify "$after"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE subject = 'backup' AND action IN \
	('key rotate', 'key destroy-old')")" 1 "destroy-old audited in the restored store"

# A rotation record rewritten in the store is caught.
seq=$(sql "SELECT max(seq) FROM audit WHERE action = 'audit.key_rotate'")
sql "UPDATE audit SET actor = 'someone-else' WHERE seq = $seq" >/dev/null
assert_exit 1 "a rewritten rotation record fails verification" ig audit verify
assert_contains "$(cat "$T/last.out")" "record $seq" "and names it"
finish
