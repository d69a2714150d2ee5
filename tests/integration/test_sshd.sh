#!/usr/bin/env bash
# End to end through a real sshd on 127.0.0.1: keyboard-interactive asks
# for the verification code through pam_idgov; the right code logs in and
# runs a command, a replayed or wrong one does not, and the session is
# recorded with the client's address; a code-only login with a password
# past its maximum age goes on under [pam] password_age = password-logins
# and must change it under all-logins. sshd runs with pam_wrapper (its own
# PAM service directory) and nss_wrapper (its own passwd file), so nothing
# under /etc changes. Needs root (sshd), openssh-server and sshpass.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ] || ! command -v sshpass >/dev/null ||
	[ ! -e /usr/lib/x86_64-linux-gnu/libnss_wrapper.so ]; then
	echo "skipped: needs root, openssh-server, sshpass and libnss-wrapper"
	exit 77
fi
MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 4\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
enroll alice 0

S=$T/sshd
mkdir -p "$S/pam.d" "$S/home/alice" /run/sshd
syslog_sink
authd_start || exit 1
chmod 755 "$S" "$S/home"
chown 10001:10000 "$S/home/alice"
cat > "$S/passwd" <<P
root:x:0:0:root:/root:/bin/sh
sshd:x:$(id -u sshd 2>/dev/null || echo 65534):65534::/run/sshd:/usr/sbin/nologin
alice:x:10001:10000:Alice Archer:$S/home/alice:/bin/sh
P
cat > "$S/group" <<G
root:x:0:
nogroup:x:65534:
staff:x:10000:
G
{
	echo "auth     required $MODULE $PAM_ARGS"
	echo "account  required $MODULE $PAM_ARGS"
	echo "session  required $MODULE $PAM_ARGS"
} > "$S/pam.d/sshd"
ssh-keygen -q -t ed25519 -N '' -f "$S/host_key"
port=$(slapd_free_port)
cat > "$S/sshd_config" <<C
ListenAddress 127.0.0.1:$port
HostKey $S/host_key
PidFile $S/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
AuthenticationMethods keyboard-interactive
PermitRootLogin no
StrictModes no
LogLevel VERBOSE
C
LD_PRELOAD="$(pam_preload) libnss_wrapper.so" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$S/pam.d" \
	NSS_WRAPPER_PASSWD="$S/passwd" NSS_WRAPPER_GROUP="$S/group" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	/usr/sbin/sshd -f "$S/sshd_config" -E "$S/sshd.log"
trap 'stop_pid_file "$S/sshd.pid"; kill "$SINK_PID" 2>/dev/null; cleanup' EXIT
wait_for 5 test -s "$S/sshd.pid" || not_ok "sshd started"

login() { # CODE: runs `echo logged-in-as $(id -un)` over ssh answering the prompt with CODE
	# shellcheck disable=SC2016 # $(id -u) is for the remote shell
	sshpass -P "Verification code" -p "$1" ssh -p "$port" -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o PreferredAuthentications=keyboard-interactive \
		-o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 -o LogLevel=ERROR \
		alice@127.0.0.1 'echo logged-in-as $(id -u)'
}
assert_exit 0 "the right code logs in over ssh" login "$(code 1)"
assert_contains "$(cat "$T/last.out")" "logged-in-as 10001" "and runs a command as alice"
assert_exit 255 "the same code again is refused" login "$(code 1)"
assert_contains "$(cat "$T/last.err")" "Permission denied (keyboard-interactive)" "ssh reports the refusal"
assert_exit 255 "a wrong code is refused" login 000000
assert_exit 0 "a later code logs in again" login "$(code 2)"
assert_eq "$(state_sql "SELECT service || ' ' || rhost FROM sessions WHERE uid='alice' LIMIT 1")" \
	"sshd 127.0.0.1" "the ssh session is recorded with the client's address"
assert_contains "$(cat "$S/sshd.log")" "Accepted keyboard-interactive/pam for alice" "sshd says how alice got in"

# A password 200 days old and a login that gives none (the code alone,
# as after an ssh key): [pam] password_age = password-logins (the
# default) lets it in with a warning and an audit event; all-logins
# makes sshd ask for a change, which this stack (no password module)
# cannot make, so the login is refused.
ldif <<L
dn: uid=alice,ou=People,dc=example,dc=com
changetype: modify
replace: shadowLastChange
shadowLastChange: $(($(date +%s) / 86400 - 200))
L
ig sync >/dev/null
assert_exit 0 "password-logins: a code-only login with a 200-day-old password logs in" \
	timeout 60 bash -c "$(declare -f login); port=$port; login $(code 3)"
assert_contains "$(cat "$T/last.out")" "logged-in-as 10001" "and runs the command"
assert_eq "$(grep -l '"action":"login.password_expired"' "$T/state/spool"/*.ev 2>/dev/null | wc -l)" 1 \
	"the login is recorded (login.password_expired spooled)"
sed -i 's|^\[admin\]$|[pam]\npassword_age = all-logins\n[admin]|' "$T/etc/idgov.conf"
assert_exit 255 "all-logins: the same login must change the password first" \
	timeout 60 bash -c "$(declare -f login); port=$port; login $(code 4)"
assert_logged "$T/syslog.txt" "alice must change the password: the password is 200 days old" \
	"refused for the password's age"
finish
