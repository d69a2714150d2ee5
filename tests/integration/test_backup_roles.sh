#!/usr/bin/env bash
# Who may ask idgovd for a backup, and where: idgovd writes as root, so an
# admin who is not root may write only into [backup] targets; a user who is
# not an admin may not ask at all; root may name any directory only root
# can change. Needs root (setpriv): daemon (uid 1) is an admin, bin (uid 2)
# is not.
# shellcheck source=grants_lib.sh
. "$(dirname "$0")/grants_lib.sh"

grants_setup
mkdir -m 700 "$T/target" "$T/elsewhere"
cat >>"$T/etc/idgov.conf" <<CONF
[backup]
schedule = none
targets = $T/target
CONF
assert_exit 0 "idgovd starts" daemon_start
wait_for 5 test -S "$T/run/idgov.sock"

assert_exit 0 "an admin backs up into the configured target" as 1 backup
assert_eq "$(find "$T/target" -name 'idgov-*.backup' | wc -l)" 1 "the file is there"
assert_exit 1 "an admin may not name another directory" as 1 backup --to "$T/elsewhere"
assert_contains "$(cat "$T/last.err")" "only root may back up into a directory" "saying why"
assert_exit 1 "a user who is not an admin may not ask" as 2 backup
assert_contains "$(cat "$T/last.err")" "for admins only" "saying why"
assert_exit 1 "nor verify a backup (the key is root's)" \
	as 2 backup verify "$(find "$T/target" -name 'idgov-*.backup')"
assert_exit 1 "nor restore" as 2 restore "$(find "$T/target" -name 'idgov-*.backup')"
assert_eq "$(find "$T/elsewhere" -type f | wc -l)" 0 "nothing was written elsewhere"
sleep 1
assert_exit 0 "root names any directory only root can change" ig backup --to "$T/elsewhere"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'backup.create'")" 2 \
	"each backup is audited"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'control.backup.run' AND details LIKE '%only root may%'")" 1 \
	"and the refusal too"

finish
