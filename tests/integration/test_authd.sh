#!/usr/bin/env bash
# idgov-authd and pam_idgov.so as its thin client, through the real libpam
# (pam_wrapper + pamtester): the service refuses to start on a broken
# configuration (file:line) and keeps its last good one when an edit
# breaks; the module fails closed with a clear log line when the socket
# is absent, hung or served by the wrong uid (refused on the peer's
# credentials before a byte is sent), and then only a break-glass
# code lets anyone in, once, alerted, even with a broken idgov.conf; the
# service closes
# connections from other uids and survives malformed requests; it runs
# from a socket systemd passes (LISTEN_FDS); and a PAM process maps
# neither libldap, libsodium nor SQLite and never opens the store, the
# configuration or a key. [pam] local_users for accounts outside the
# directory.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 10\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
stack() {
	for s in auth account session; do
		echo "$s required $MODULE $PAM_ARGS $*"
	done >"$T/pam.d/idgov"
}
stack timeout=1
enroll alice 0

# A broken configuration stops the start with its file:line reason.
cp "$T/etc/idgov.conf" "$T/etc/broken.conf"
printf '[authd]\nsokcet = /tmp/x\n' >>"$T/etc/broken.conf"
out=$("$AUTHD" -c "$T/etc/broken.conf" -p "$T/run/broken.pid" 2>&1)
assert_eq "$?" 1 "a broken configuration stops the start"
assert_contains "$out" "broken.conf:$(wc -l <"$T/etc/broken.conf"): [authd] sokcet" "with its file:line reason"
assert_exit 1 "and nothing listens" test -e "$T/run/broken.pid"

# The service is down: no socket.
assert_exit 1 "no service: the login is refused" pam alice authenticate <<<"$(code 1)"

# pam_logged USER ACTION... < answers: pam, in a private mount namespace
# whose /dev holds null, urandom and a syslog stand-in at /dev/log, so the
# module's own pam_syslog() lines land in $T/pam-syslog.txt (root only;
# pam_wrapper passes them to syslog(3) with PAM_WRAPPER_USE_SYSLOG).
pam_logged() {
	# shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
	LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" PAM_WRAPPER_USE_SYSLOG=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		unshare -m sh -c 'mount --bind /dev/null "$1/null" && mount --bind /dev/urandom "$1/urandom" &&
			mount --rbind "$1" /dev && shift && exec pamtester idgov "$@"' _ "$T/dev" "$@"
}
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	mkdir -p "$T/dev"
	: >"$T/dev/null"
	: >"$T/dev/urandom"
	"$BUILD/tests/logsink" "$T/dev/log" "$T/pam-syslog.txt" &
	pamlog=$!
	wait_for 5 test -S "$T/dev/log"
	assert_exit 1 "no service: refused (again, logged)" pam_logged alice authenticate <<<"$(code 1)"
	assert_logged "$T/pam-syslog.txt" "denying alice: the auth service at $T/run/authd.sock cannot answer: cannot connect" \
		"the module logs why it refused"

	# Break-glass: single-use codes, checked by the module itself.
	assert_exit 0 "idgov breakglass codes erin" ig breakglass codes erin --file "$T/etc/breakglass"
	mapfile -t bg < <(grep -E '^  [A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$' "$T/last.out" | tr -d ' ')
	assert_eq "${#bg[@]}" 10 "ten codes shown once"
	assert_eq "$(stat -c %a "$T/etc/breakglass")" 600 "the code file is 0600"
	assert_eq "$(grep -c "${bg[0]}" "$T/etc/breakglass")" 0 "and holds no code in clear"
	stack timeout=1 breakglass="$T/etc/breakglass"
	assert_exit 0 "service down: erin's break-glass code lets her in (auth and account)" \
		pam_logged erin authenticate acct_mgmt <<<"${bg[0]}"
	wait_for 10 grep -q 'BREAK-GLASS login of erin' "$T/pam-syslog.txt"
	assert_contains "$(grep 'BREAK-GLASS login of erin' "$T/pam-syslog.txt")" "<81>" \
		"the break-glass login is alerted at LOG_ALERT (authpriv.alert)"
	assert_exit 1 "the same code again is refused" pam_logged erin authenticate <<<"${bg[0]}"
	assert_eq "$(grep -c '^erin:' "$T/etc/breakglass")" 9 "the spent code's line is gone"
	assert_exit 1 "alice with erin's code is refused" pam_logged alice authenticate <<<"${bg[1]}"
	assert_exit 1 "erin without break-glass auth fails the account step" pam_logged erin acct_mgmt
	# A broken idgov.conf: the service does not start, break-glass still works.
	cp "$T/etc/idgov.conf" "$T/etc/good.conf"
	printf '[pam]\nbreak_glas = erin\n' >>"$T/etc/idgov.conf"
	assert_exit 1 "a broken idgov.conf: the service refuses to start" "$AUTHD" -c "$T/etc/idgov.conf"
	assert_contains "$(cat "$T/last.err")" "idgov.conf:$(wc -l <"$T/etc/idgov.conf"): [pam] break_glas" "naming file:line"
	assert_exit 0 "a broken idgov.conf: break-glass still lets erin in" pam_logged erin authenticate acct_mgmt <<<"${bg[1]}"
	cp "$T/etc/good.conf" "$T/etc/idgov.conf"
	# The file is trusted by owner and mode only: group-readable, it is refused.
	chmod 640 "$T/etc/breakglass"
	assert_exit 1 "a group-readable code file is not used" pam_logged erin authenticate <<<"${bg[2]}"
	assert_logged "$T/pam-syslog.txt" "group or others may use it" "and the reason is logged"
	chmod 600 "$T/etc/breakglass"
	stack timeout=1
	kill "$pamlog"
else
	echo "# not root or no mount namespaces: break-glass checks through /dev/log skipped"
fi

authd_start || exit 1
assert_exit 0 "with the service, the code authenticates" pam alice authenticate acct_mgmt open_session close_session <<<"$(code 1)"
assert_eq "$(stat -c %a "$T/run/authd.sock")" 600 "the socket it binds is 0600"

# An edit that breaks the file is logged; the last good configuration stays.
cp "$T/etc/idgov.conf" "$T/etc/good.conf"
printf '[mfa]\nwindow = many\n' >>"$T/etc/idgov.conf"
assert_exit 0 "a broken edit: logins go on under the last good configuration" pam alice authenticate <<<"$(code 2)"
assert_logged "$T/syslog.txt" "configuration not reloaded, the last good one stays" "the broken edit is logged"
cp "$T/etc/good.conf" "$T/etc/idgov.conf"

# [pam] local_users: accounts in passwd but not in the directory. By
# default system accounts (uid < 1000) are left to the rest of the stack
# (PAM_IGNORE) and the others refused; ignore and deny apply to all.
SEC=$(dirname "$(find /lib /usr/lib -name pam_permit.so -path '*security*' | head -1)")
{
	echo "auth required $MODULE $PAM_ARGS timeout=1"
	echo "auth required $SEC/pam_permit.so"
	echo "account [success=ok user_unknown=ignore ignore=ignore default=bad] $MODULE $PAM_ARGS timeout=1"
	echo "account required $SEC/pam_permit.so"
} >"$T/pam.d/idgov"
assert_exit 0 "local_users default: bin (uid 2) is left to the rest of the stack" pam bin authenticate acct_mgmt <<<""
assert_exit 1 "local_users default: nobody (uid 65534) is refused" pam nobody authenticate <<<""
assert_contains "$(cat "$T/last.err")" "local account outside the directory" "and told why"
assert_exit 1 "local_users default: nobody's account step is refused too" pam nobody acct_mgmt
assert_logged "$T/syslog.txt" "denied nobody (pam:idgov) by rule pam.local_users" "the refusal names its rule"
assert_exit 1 "a user neither in the directory nor local is still refused" pam mallory authenticate <<<""
sed -i 's/^\[admin\]$/[pam]\nlocal_users = ignore\n[admin]/' "$T/etc/idgov.conf"
assert_exit 0 "local_users = ignore: nobody is left to the rest of the stack" pam nobody authenticate acct_mgmt <<<""
sed -i 's/^local_users = ignore$/local_users = deny/' "$T/etc/idgov.conf"
assert_exit 1 "local_users = deny: bin is refused" pam bin authenticate <<<""
sed -i '/^local_users = deny$/d' "$T/etc/idgov.conf"
stack timeout=1

# Wrong owner: the module wants another uid at the socket.
stack timeout=1 server_uid=4242
assert_exit 1 "a socket served by another uid: refused" pam alice authenticate <<<"$(code 3)"
stack timeout=1

# A socket really served by a non-root uid (an impostor, uid 65534): the
# module refuses it on the peer's credentials before it sends anything;
# the impostor counts the bytes it received.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/impostor"
	chown 65534:65534 "$T/impostor"
	setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - "$T/impostor" <<'PY' &
import os, socket, sys, time
d = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(d + "/authd.sock"); s.listen(4)
s.settimeout(20)
c, _ = s.accept()
c.settimeout(5)
got = b""
try:
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
except socket.timeout:
    pass
with open(d + "/received.tmp", "w") as f:
    f.write(str(len(got)))
os.rename(d + "/received.tmp", d + "/received")
PY
	impostor=$!
	wait_for 5 test -S "$T/impostor/authd.sock"
	for s in auth account; do echo "$s required $MODULE socket=$T/impostor/authd.sock timeout=1"; done >"$T/pam.d/idgov"
	assert_exit 1 "a socket served by uid 65534 (server_uid 0): refused" pam alice authenticate <<<"$(code 3)"
	wait_for 10 test -s "$T/impostor/received"
	assert_eq "$(cat "$T/impostor/received" 2>/dev/null)" 0 "and not one byte was sent to it"
	kill "$impostor" 2>/dev/null
	wait "$impostor" 2>/dev/null
	stack timeout=1
else
	echo "# not root: the impostor socket check skipped"
fi

# A hung service: accepts, never answers. The module gives up at its timeout.
python3 - "$T/run/hung.sock" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(8)
held = []
end = time.time() + 20
s.settimeout(1)
while time.time() < end:
    try:
        c, _ = s.accept(); held.append(c)
    except socket.timeout:
        pass
PY
hung=$!
wait_for 5 test -S "$T/run/hung.sock"
for s in auth account; do echo "$s required $MODULE socket=$T/run/hung.sock server_uid=$(id -u) timeout=1"; done >"$T/pam.d/idgov"
assert_exit 1 "a hung service: the code is refused" pam alice authenticate <<<"$(code 3)"
assert_exit 1 "a hung service: the account is refused" pam alice acct_mgmt
kill "$hung" 2>/dev/null
wait "$hung" 2>/dev/null
stack timeout=1

# The service closes connections from uids it does not serve. The socket
# is 0600, so another uid cannot even connect; make it reachable to show
# that the peer check holds on its own.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 666 "$T/run/authd.sock"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - "$T/run/authd.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(5)
print("closed" if s.recv(16) == b"" else "answered")
PY
)
	assert_eq "$out" closed "a connection from uid 65534 is closed unanswered"
	assert_logged "$T/syslog.txt" "refused a connection from uid 65534" "and logged with its uid"
	chmod 600 "$T/run/authd.sock"
fi

# Malformed requests end their connection, not the service.
python3 - "$T/run/authd.sock" <<'PY'
import socket, struct, sys
def send(payload, prefix=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.settimeout(10)
    s.sendall((prefix if prefix is not None else struct.pack(">I", len(payload))) + payload)
    data = s.recv(64)
    s.close()
    assert data == b"", data
send(b"\x01\x01\x07\x00\x05alice")                   # no op, no service
send(b"\x09\x01")                                    # unknown version
send(b"", struct.pack(">I", 1 << 30))                # a length beyond the bound
send(b"\x01\x01\x01\x00\x01\x01\x07\xff\xffalice")   # a field longer than the frame
PY
assert_eq "$?" 0 "four malformed requests: each connection closed without an answer"
assert_logged "$T/syslog.txt" "refused a request: missing required field" "the reason is logged"
assert_exit 0 "the service still answers" pam alice acct_mgmt

# A PAM process maps no libldap, libsodium or SQLite, and opens none of
# the store, the configuration or the keys: only the service does.
mkfifo "$T/in"
exec {w}<>"$T/in"
LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	pamtester idgov alice authenticate <"$T/in" >"$T/pt.out" 2>&1 &
pt=$!
wait_for 5 grep -q "Verification code" "$T/pt.out"
maps=$(cat "/proc/$pt/maps" 2>/dev/null)
assert_contains "$maps" "pam_idgov.so" "the module is loaded in pamtester (at the prompt)"
for lib in libldap libsodium libsqlite3 liboath; do
	case "$maps" in
	*"$lib"*) not_ok "pamtester maps $lib" ;;
	*) ok "pamtester does not map $lib" ;;
	esac
done
code 4 >&"$w"
exec {w}>&-
wait "$pt"
assert_eq "$?" 0 "and the login completes"
if command -v strace >/dev/null; then
	strace -f -e trace=%file -o "$T/strace.txt" \
		-E LD_PRELOAD="$(pam_preload)" -E PAM_WRAPPER=1 -E PAM_WRAPPER_SERVICE_DIR="$T/pam.d" \
		-E ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		pamtester idgov alice authenticate acct_mgmt open_session close_session <<<"$(code 5)" >/dev/null 2>&1
	assert_eq "$?" 0 "a traced login succeeds"
	assert_contains "$(cat "$T/strace.txt")" "pam_idgov.so" "the trace saw the module load"
	assert_eq "$(grep -cE 'master\.key|audit\.key|idgov\.db|idgov\.conf' "$T/strace.txt")" 0 \
		"the PAM process never opens the store, the configuration or a key"
else
	not_ok "strace is missing (scripts/install-deps.sh installs it)"
fi

# Socket activation: systemd holds the socket and passes it as fd 3.
authd_stop
if command -v systemd-socket-activate >/dev/null; then
	# It execs the service in its own process: the pid file names it.
	(systemd-socket-activate -l "$T/run/authd.sock" \
		"$AUTHD" -c "$T/etc/idgov.conf" -p "$T/run/authd.pid" >/dev/null 2>&1 &)
	wait_for 5 test -s "$T/run/authd.pid"
	wait_for 5 test -S "$T/run/authd.sock"
	assert_exit 0 "through a socket systemd passes, the code authenticates" pam alice authenticate <<<"$(code 6)"
	assert_logged "$T/syslog.txt" "serving the socket from systemd" "the service took the passed socket"
	authd_stop
else
	not_ok "systemd-socket-activate is missing"
fi
finish
