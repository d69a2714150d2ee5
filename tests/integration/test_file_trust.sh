#!/usr/bin/env bash
# Files are trusted by owner and place, not by mode alone: a store anyone
# may write is refused (it decides logins), a master key owned by nobody
# stops idgovd with the reason, a socket directory someone else owns or
# may write is refused, and the CLI will not talk to a "daemon" served by
# another uid. The evidence report and the pid file replace what another
# user made at their name in a shared directory instead of writing into
# it, and refuse a FIFO there instead of hanging. Needs root (chown,
# setpriv) and python3 (the fake daemon).
. "$(dirname "$0")/lib.sh"

# The fake daemon runs as nobody: a python3 under /root (pyenv) is out of its reach.
PY=/usr/bin/python3
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null || [ ! -x "$PY" ]; then
	echo "skipped: needs root, setpriv and $PY"
	exit 77
fi
it_setup
cat >> "$T/etc/idgov.conf" <<CONF
[reviews]
fallback_reviewer = daemon
[campaign q]
scope = groups
groups = admins
schedule = none
duration = 1h
CONF
CONF=$T/etc/idgov.conf
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
ig sync >/dev/null
assert_exit 0 "status works on a store only root may write" ig status

# --- the store: a store anyone may write decides nothing ---
# (Without idgovd, root's CLI runs the request in-process; when that cannot
# open the store, the service is unavailable: exit 3.)
chmod 666 "$T/state/idgov.db"
assert_exit 3 "status refuses a world-writable store" ig status
assert_contains "$(cat "$T/last.err")" "$T/state/idgov.db: writable by group or others (mode 0666)" \
	"and names the file and the reason"
assert_exit 3 "policy check (the PAM path) refuses it too" ig policy check alice
assert_contains "$(cat "$T/last.err")" "idgov.db: writable by group or others" "with the reason"
chmod 600 "$T/state/idgov.db"
chmod 777 "$T/state"
assert_exit 3 "a store in a world-writable directory is refused" ig status
assert_contains "$(cat "$T/last.err")" "directory $T/state is writable by group or others (mode 0777)" \
	"naming the directory"
chmod 700 "$T/state"
chown 65534 "$T/state/idgov.db"
assert_exit 3 "a store owned by nobody is refused" ig status
assert_contains "$(cat "$T/last.err")" "idgov.db: owned by uid 65534, not root" "with the owner"
chown 0 "$T/state/idgov.db"
assert_exit 0 "the store is used again once it is root's alone" ig status

# --- the keys and the configuration ---
chown 65534 "$T/keys/master.key"
assert_exit 1 "idgovd refuses a master key owned by nobody" daemon_start
assert_contains "$(cat "$T/last.err")" "$T/keys/master.key: owned by uid 65534, not root" "and says why"
chown 0 "$T/keys/master.key"
chmod 777 "$T/keys"
assert_exit 1 "idgovd refuses keys in a world-writable directory" daemon_start
assert_contains "$(cat "$T/last.err")" "directory $T/keys is writable by group or others" "and says why"
chmod 755 "$T/keys"
chmod 666 "$CONF"
assert_exit 1 "idgovd refuses a world-writable configuration" daemon_start
assert_contains "$(cat "$T/last.err")" "refusing configuration $CONF: writable by group or others" \
	"and says why"
chmod 644 "$CONF"
chown 65534 "$T/slapd/rootpw"
assert_exit 1 "sync refuses a bind password file owned by nobody" ig sync
assert_contains "$(cat "$T/last.err")" "refusing bind password file $T/slapd/rootpw: owned by uid 65534" \
	"and says why"
chown 0 "$T/slapd/rootpw"
assert_exit 0 "and syncs once it is root's again" ig sync

# --- the socket directory ---
mkdir -p "$T/run"
chown 65534 "$T/run"
assert_exit 1 "idgovd refuses a socket directory owned by nobody" daemon_start
assert_contains "$(cat "$T/last.err")" "refusing socket directory $T/run: owned by uid 65534, not root" \
	"and says why"
chown 0 "$T/run"
chmod 1777 "$T/run"
assert_exit 1 "idgovd refuses a world-writable socket directory, sticky or not" daemon_start
assert_contains "$(cat "$T/last.err")" "$T/run: writable by group or others (mode 1777)" "and says why"
chmod 755 "$T/run"
assert_exit 0 "idgovd starts once every file is root's alone" daemon_start
assert_eq "$(ig --json status | jq -r .daemon.running)" true "and the CLI talks to it"
daemon_stop

# --- the client checks the server: a fake daemon run by nobody ---
mkdir -m 755 "$T/evil"
chown 65534 "$T/evil"
sed "s|^socket = .*|socket = $T/evil/idgov.sock|" "$CONF" > "$T/etc/evil.conf"
cat > "$T/fake.py" <<'PY'
import os, socket, sys
os.umask(0)  # any local user may connect, as to idgovd's 0666 socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(4)
s.settimeout(20)
for _ in range(2):
    c, _ = s.accept()
    c.settimeout(5)
    got = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            got += b
            if got.endswith(b"\n"):
                c.sendall(b'{"ok":true,"result":{"daemon":{"running":true},"allowed":true}}\n')
                break
    except OSError:
        pass
    with open(sys.argv[2], "ab") as f:
        f.write(got)
    c.close()
PY
nobody "$PY" "$T/fake.py" "$T/evil/idgov.sock" "$T/evil/got" &
fake=$!
wait_for 5 test -S "$T/evil/idgov.sock"
assert_exit 1 "root's CLI refuses a socket served by nobody" "$IDGOV" -c "$T/etc/evil.conf" status
assert_contains "$(cat "$T/last.err")" "refusing to talk to $T/evil/idgov.sock: it is served by uid 65534" \
	"and says who serves it"
assert_exit 1 "so does a user's (uid 2)" \
	setpriv --reuid=2 --regid=2 --clear-groups "$IDGOV" -c "$T/etc/evil.conf" policy check alice
assert_contains "$(cat "$T/last.err")" "served by uid 65534, not by root or [control] daemon_user (root)" \
	"with the accepted owners"
wait "$fake"
assert_eq "$(wc -c < "$T/evil/got")" 0 "the fake daemon received no request"

# --- the evidence report and the pid file in a shared directory ---
assert_exit 0 "root starts a campaign" ig review start q
mkdir -m 1777 "$T/shared"
mkfifo -m 666 "$T/shared/r.fifo"
assert_exit 1 "a report onto a FIFO is refused, not hung on" \
	timeout 10 "$IDGOV" -c "$CONF" review report 1 --format csv -o "$T/shared/r.fifo"
assert_contains "$(cat "$T/last.err")" "r.fifo: is a FIFO; refusing to replace it" "and says why"
nobody sh -c "umask 0; : > '$T/shared/r.csv'; ln '$T/shared/r.csv' '$T/shared/keep.csv'"
assert_eq "$(stat -c '%u %a' "$T/shared/r.csv")" "65534 666" "nobody made r.csv first, 0666"
assert_exit 0 "the report over nobody's file" ig review report 1 --format csv -o "$T/shared/r.csv"
assert_eq "$(stat -c '%u %a' "$T/shared/r.csv")" "0 600" "replaced by root's own 0600 file"
assert_contains "$(head -1 "$T/shared/r.csv")" "user" "holding the report"
assert_eq "$(wc -c < "$T/shared/keep.csv")" 0 "nobody's file received nothing"
nobody ln -s /etc/hostname "$T/shared/link.csv"
assert_exit 1 "a report onto a symlink is refused" ig review report 1 --format csv -o "$T/shared/link.csv"
assert_contains "$(cat "$T/last.err")" "is a symlink; refusing" "and says why"
assert_eq "$(find "$T/shared" -maxdepth 1 -name "*tmp*" | wc -l)" 0 "no temporary file is left behind"

mkfifo -m 666 "$T/shared/idgovd.pid"
assert_exit 1 "idgovd refuses a FIFO as its pid file" \
	timeout 10 "$IDGOVD" -c "$CONF" -p "$T/shared/idgovd.pid"
assert_contains "$(cat "$T/last.err")" "pid file: $T/shared/idgovd.pid: is a FIFO" "and says why"
assert_eq "$(stat -c %F "$T/shared/idgovd.pid")" fifo "and leaves it alone"
rm -f "$T/shared/idgovd.pid"
nobody sh -c "umask 0; : > '$T/shared/idgovd.pid'"
assert_exit 0 "idgovd starts over a pid file nobody made" \
	"$IDGOVD" -c "$CONF" -p "$T/shared/idgovd.pid"
assert_eq "$(stat -c '%u %a' "$T/shared/idgovd.pid")" "0 644" "the pid file is now root's, 0644"
stop_pid_file "$T/shared/idgovd.pid"
finish
