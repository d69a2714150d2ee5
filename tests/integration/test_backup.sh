#!/usr/bin/env bash
# Backups and restore: an encrypted, verified backup taken while idgovd
# works; restored into a new state directory it holds every row the store
# held at the snapshot and its audit chain verifies; a changed, cut or
# foreign-key backup is refused and nothing is replaced; a restore with
# idgovd running is refused; kill -9 during a backup leaves no file under
# a final name.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
mkdir -p "$T/run"
"$BUILD/tests/logsink" "$T/run/log.sock" "$T/syslog.txt" &
sink=$!
trap 'kill $sink 2>/dev/null; cleanup' EXIT
wait_for 5 test -S "$T/run/log.sock"

key=$T/keys/backup.key
assert_eq "$(stat -c %a "$key" 2>/dev/null)" 400 "idgov init made the backup key 0400"
assert_eq "$(stat -c %s "$key" 2>/dev/null)" 32 "of 32 bytes"
assert_exit 0 "sync succeeds" ig sync
mkdir -m 700 "$T/backups"

# --- while idgovd runs and requests write to the store
assert_exit 0 "idgovd starts" daemon_start
wait_for 5 test -S "$T/run/idgov.sock"
(
	for _ in $(seq 1 40); do
		ig mfa reset alice >/dev/null 2>&1 # refused but audited: a write
		ig policy check bob --service sshd --rhost 10.0.0.1 >/dev/null 2>&1
	done
) &
busy=$!
sleep 0.2
assert_exit 0 "backup --to DIR succeeds while requests run" ig backup --to "$T/backups"
assert_contains "$(cat "$T/last.out")" "verified after writing" "and is verified after writing"
wait "$busy"
file=$(ls "$T"/backups/idgov-*.backup)
assert_eq "$(basename "$file" | grep -cE '^idgov-[^/]+-[0-9]{8}T[0-9]{6}Z\.backup$')" 1 \
	"named idgov-HOST-UTCSTAMP.backup"
assert_eq "$(stat -c %a "$file")" 600 "mode 0600"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'backup.create'")" 1 \
	"the backup is audited"
assert_exit 1 "restore with idgovd running is refused" ig restore "$file"
assert_contains "$(cat "$T/last.err")" "idgovd is running" "saying why"
assert_eq "$(find "$T/state" -name '*before-restore*' | wc -l)" 0 "and nothing was set aside"
assert_exit 2 "backup --to a relative directory is a usage error" ig backup --to backups
daemon_stop

# --- a quiet backup, to compare with the store row for row
# The auth service's MFA state goes with it: a spent recovery code and a
# replay watermark must not become usable again on a restored host.
assert_exit 0 "the auth service's state file exists" test -s "$T/state/authd.db"
sqlite3 "$T/state/authd.db" "INSERT INTO mfa_state (user_uuid, last_step) VALUES ('uuid-w', 777777);
	INSERT INTO mfa_recovery_used VALUES ('uuid-w', 'c1', 'h1', 1)"
sleep 1 # a new second: a new file name
assert_exit 0 "backup in-process (root, no idgovd)" ig backup --to "$T/backups"
file=$(find "$T/backups" -name 'idgov-*.backup' -newer "$file")
assert_exit 0 "backup verify succeeds" ig backup verify "$file"
assert_contains "$(cat "$T/last.out")" "chain verified" "and says the chain verified"
head=$(sql "SELECT max(seq) FROM audit WHERE action = 'backup.create'")
head=$((head - 1)) # the snapshot's head: the record of the backup came after it

# rows FILE HEAD: every table's rows, the audit tables up to HEAD.
rows() {
	local db=$1 h=$2 t
	for t in $(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"); do
		echo "== $t"
		case $t in
		audit | audit_signatures)
			sqlite3 "$db" "SELECT * FROM $t WHERE seq <= $h ORDER BY seq" ;;
		*)
			sqlite3 "$db" "SELECT * FROM \"$t\" ORDER BY rowid" 2>/dev/null ||
				sqlite3 "$db" "SELECT * FROM \"$t\" ORDER BY 1" ;;
		esac
	done
}
rows "$T/state/idgov.db" "$head" >"$T/source.rows"

# --- restore into a new state directory (the same keys)
mkdir -m 700 "$T/state2"
sed -e "s|$T/state/idgov.db|$T/state2/idgov.db|" \
	-e "s|^audit_sign_every|audit_anchor = $T/state2/audit.anchor\naudit_sign_every|" \
	"$T/etc/idgov.conf" >"$T/etc/idgov2.conf"
ig2() { "$IDGOV" -c "$T/etc/idgov2.conf" "$@"; }
assert_exit 0 "restore into a new state directory" ig2 restore "$file"
assert_contains "$(cat "$T/last.out")" "resyncs people and groups" "tells what happens next"
rows "$T/state2/idgov.db" "$head" >"$T/restored.rows"
if diff -u "$T/source.rows" "$T/restored.rows" >"$T/rows.diff"; then
	ok "every table is restored row for row ($(wc -l <"$T/source.rows") lines)"
else
	not_ok "restored rows differ: $(head -c 1500 "$T/rows.diff")"
fi
assert_exit 0 "the restored chain verifies, anchor included" ig2 audit verify
r=$(sqlite3 "$T/state2/idgov.db" "SELECT action FROM audit WHERE seq > $head ORDER BY seq LIMIT 2")
assert_eq "$(echo "$r" | tr '\n' ' ')" "audit.anchor_reset backup.restore " \
	"the restore is recorded after the restored head, the re-anchoring first"
assert_contains "$(sqlite3 "$T/state2/idgov.db" "SELECT details FROM audit WHERE action = 'backup.restore'")" \
	"\"restored_head_seq\":$head" "naming the restored head"
assert_eq "$(stat -c %a "$T/state2/idgov.db")" 600 "the restored store is 0600"
assert_eq "$(sqlite3 "$T/state2/authd.db" "SELECT last_step FROM mfa_state WHERE user_uuid = 'uuid-w'")" \
	777777 "the MFA state came with it: the replay watermark"
assert_eq "$(sqlite3 "$T/state2/authd.db" "SELECT count(*) FROM mfa_recovery_used WHERE user_uuid = 'uuid-w'")" \
	1 "and the spent recovery code"
assert_eq "$(stat -c %a "$T/state2/authd.db")" 600 "the state file made by the restore is 0600"
assert_contains "$(sqlite3 "$T/state2/idgov.db" "SELECT details FROM audit WHERE action = 'backup.restore'")" \
	'"mfa_state_merged":true' "the restore record says the MFA state was merged"

# --- a restore over an existing store keeps the old one aside
sum=$(sha256sum <"$T/state/idgov.db")
# Since the backup, the watermark moved on and another code was spent: the
# restore keeps both (the state is merged, never rolled back).
sqlite3 "$T/state/authd.db" "UPDATE mfa_state SET last_step = 888888 WHERE user_uuid = 'uuid-w';
	INSERT INTO mfa_recovery_used VALUES ('uuid-w', 'c2', 'h2', 2)"
assert_exit 0 "restore over the live store" ig restore "$file"
aside=$(find "$T/state" -name 'idgov.db.before-restore-*' ! -name '*-wal' ! -name '*-shm')
assert_eq "$(sha256sum <"$aside" 2>/dev/null)" "$sum" "the previous store is kept aside, unchanged"
assert_exit 0 "the restored live store verifies" ig audit verify
assert_eq "$(sqlite3 "$T/state/authd.db" "SELECT last_step FROM mfa_state WHERE user_uuid = 'uuid-w'")" \
	888888 "the host's newer watermark stays (the higher of the two)"
assert_eq "$(sqlite3 "$T/state/authd.db" "SELECT group_concat(code_id) FROM (SELECT code_id FROM mfa_recovery_used WHERE user_uuid = 'uuid-w' ORDER BY code_id)")" \
	"c1,c2" "and every code spent on either side stays spent"
assert_exit 0 "a second restore at once" ig restore "$file"
assert_eq "$(find "$T/state" -name 'idgov.db.before-restore-*' ! -name '*-wal' ! -name '*-shm' | wc -l)" 2 \
	"keeps the store it replaces under a second name"
rm -f "$T"/state/idgov.db.before-restore-*

# --- refused backups: nothing is replaced
cp "$file" "$T/flipped.backup"
size=$(stat -c %s "$file")
# Every bit of the middle byte inverted: a changed byte whatever it held.
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$file" | tr -d ' ')
printf '%b' "\\0$(printf '%03o' $((byte ^ 255)))" |
	dd of="$T/flipped.backup" bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s "$file" "$T/flipped.backup" && not_ok "the flipped copy equals the backup"
head -c $((size - 10)) "$file" >"$T/cut.backup"
sum=$(sha256sum <"$T/state/idgov.db")
n=$(find "$T/state" | wc -l)
assert_exit 1 "verify refuses a flipped byte" ig backup verify "$T/flipped.backup"
assert_contains "$(cat "$T/last.err")" "fails authentication" "saying the file was changed"
assert_exit 1 "verify refuses a truncated file" ig backup verify "$T/cut.backup"
assert_contains "$(cat "$T/last.err")" "truncated" "saying it is truncated"
assert_exit 1 "restore refuses a flipped byte" ig restore "$T/flipped.backup"
assert_contains "$(cat "$T/last.err")" "nothing was changed" "and changes nothing"
assert_exit 1 "restore refuses a truncated file" ig restore "$T/cut.backup"
assert_eq "$(sha256sum <"$T/state/idgov.db")" "$sum" "the store is untouched"
assert_eq "$(find "$T/state" | wc -l)" "$n" "and nothing was set aside"
head -c 32 /dev/urandom >"$T/keys/other.key"
chmod 400 "$T/keys/other.key"
sed "s|^audit_sign_every|backup_key = $T/keys/other.key\naudit_sign_every|" \
	"$T/etc/idgov.conf" >"$T/etc/idgov3.conf"
assert_exit 1 "verify with another key is refused" \
	"$IDGOV" -c "$T/etc/idgov3.conf" backup verify "$file"
assert_contains "$(cat "$T/last.err")" "another backup key" "saying it is another key"

# --- kill -9 during a backup: a final name only ever holds a whole backup
# (40 MB more in the store, so that a backup takes long enough to be cut)
sql "CREATE TABLE filler(b BLOB);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
	INSERT INTO filler SELECT randomblob(1048576) FROM n"
mkdir -m 700 "$T/killed"
for i in 1 2 3 4 5 6; do
	# (not through ig: $! must be idgov itself, not a subshell)
	"$IDGOV" -c "$T/etc/idgov.conf" backup --to "$T/killed" >/dev/null 2>&1 &
	pid=$!
	sleep "0.$i"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	sleep 1
done
bad=0
echo "# $(find "$T/killed" -name '*.backup' | wc -l) whole backups, $(find "$T/killed" -name '*.tmp' | wc -l) temporaries left by kill -9"
for f in "$T"/killed/*.backup; do
	[ -e "$f" ] || continue
	ig backup verify "$f" >/dev/null 2>&1 || bad=$((bad + 1))
done
assert_eq "$bad" 0 "every file under a final name after kill -9 verifies"
whole=$(find "$T/killed" -name '*.backup' | wc -l)
if [ "$whole" -lt 6 ]; then
	ok "kill -9 did cut backups short ($((6 - whole)) of 6)"
else
	not_ok "no backup was cut short: the kill -9 test tested nothing"
fi
sql "DROP TABLE filler"

# --- scheduled: every 2 s into a target, pruned after 5 s; a missing target alerts
mkdir -m 700 "$T/sched"
cat >>"$T/etc/idgov.conf" <<CONF
[backup]
schedule = every 2s
targets = $T/sched, $T/missing
keep = 5s
max_age = 1h
CONF
assert_exit 0 "idgovd starts with scheduled backups" daemon_start
wait_for 5 test -S "$T/run/idgov.sock"
count() { find "$T/sched" -name 'idgov-*.backup' | wc -l; }
at_least() { [ "$(count)" -ge "$1" ]; }
wait_for 15 at_least 3
assert_exit 0 "idgovd answers while it backs up" ig status
sleep 8
n=$(count)
if [ "$n" -ge 2 ] && [ "$n" -le 5 ]; then
	ok "scheduled backups appear and old ones are pruned ($n kept)"
else
	not_ok "scheduled backups: $n files in $T/sched"
fi
bad=0
# idgovd keeps pruning (keep = 5s) while this loop runs: a file pruned
# between the glob and its verify is gone, not bad.
for f in "$T"/sched/*.backup; do
	ig backup verify "$f" >/dev/null 2>&1 || { [ -e "$f" ] && bad=$((bad + 1)); }
done
assert_eq "$bad" 0 "each scheduled backup verifies"
assert_contains "$(sql "SELECT details FROM audit WHERE action = 'backup.create' ORDER BY seq DESC LIMIT 1")" \
	'"scheduled":true' "scheduled backups are audited"
wait_for 5 grep -q "scheduled backup failed" "$T/syslog.txt"
line=$(grep "scheduled backup failed" "$T/syslog.txt" | head -n 1)
assert_contains "$line" "<81>" "a failing target is alerted at LOG_AUTHPRIV|LOG_ALERT"
assert_contains "$line" "$T/missing" "naming the target"
daemon_stop

finish
