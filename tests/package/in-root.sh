#!/usr/bin/env bash
# Runs as root inside the Debian 12 root that run.sh prepared, with the
# .debs in /srv/debs: what a new admin does, by the README's steps.
set -euo pipefail
cd /srv/idgov-test

FAILED=0
ok() { echo "ok - $*"; }
not_ok() {
	echo "not ok - $*"
	FAILED=$((FAILED + 1))
}
check() {
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what"; fi
}

# -- install
dpkg -i /srv/debs/idgov_*.deb /srv/debs/libpam-idgov_*.deb /srv/debs/idgov-web_*.deb >/dev/null
module=$(dpkg -L libpam-idgov | grep '/security/pam_idgov\.so$')
unix=$(dpkg -L libpam-modules | grep '/security/pam_unix\.so$')
check "the module is beside pam_unix.so ($module)" test "$(dirname "$module")" = "$(dirname "$unix")"
check "/etc/idgov/idgov.conf is a conffile" grep -qx /etc/idgov/idgov.conf /var/lib/dpkg/info/idgov.conffiles
check "/var/lib/idgov is 0700" test "$(stat -c %a /var/lib/idgov)" = 700
check "the unit is installed" test -f /lib/systemd/system/idgovd.service
check "the auth service's units are installed" test -f /lib/systemd/system/idgov-authd.service -a \
	-f /lib/systemd/system/idgov-authd.socket
check "idgov-web's unit is installed" test -f /lib/systemd/system/idgov-web.service
check "the idgov-web user exists, with no login" sh -c 'getent passwd idgov-web | grep -q nologin'
check "idgov --version" test "$(idgov --version)" = "idgov $(dpkg-query -W -f '${Version}' idgov)"

# -- pam-auth-update
check "the profile is not enabled by the install" sh -c '! grep -q pam_idgov /etc/pam.d/common-auth'
pam-auth-update --enable idgov idgov-password
unix=$(grep -n 'pam_unix\.so' /etc/pam.d/common-auth | head -1 | cut -d: -f1)
idg=$(grep -n 'pam_idgov\.so' /etc/pam.d/common-auth | head -1 | cut -d: -f1)
check "common-auth: pam_idgov after pam_unix" test "${idg:-0}" -gt "${unix:-99}"
check "common-account has pam_idgov" grep -q pam_idgov /etc/pam.d/common-account
check "common-session has pam_idgov" grep -q pam_idgov /etc/pam.d/common-session
unix=$(grep -n 'pam_unix\.so' /etc/pam.d/common-password | head -1 | cut -d: -f1)
chk=$(grep -n 'pam_idgov\.so check_only' /etc/pam.d/common-password | head -1 | cut -d: -f1)
rec=$(grep -n 'pam_idgov\.so record_only' /etc/pam.d/common-password | head -1 | cut -d: -f1)
check "common-password: check_only before pam_unix" test "${chk:-99}" -lt "${unix:-0}"
check "common-password: record_only after pam_unix" test "${rec:-0}" -gt "${unix:-99}"

# -- the directory and the configuration (slapd.sh loads the installed schema)
# shellcheck source=../lib/slapd.sh
. tests/lib/slapd.sh
slapd_setup /srv/slapd
slapd_load /srv/slapd tests/fixtures/org.ldif
slapd_start /srv/slapd
install -m 0600 /dev/null /etc/idgov/ldap.secret
cat /srv/slapd/rootpw >/etc/idgov/ldap.secret
sed -i -e "s|^uri = .*|uri = $(cat /srv/slapd/uri)|" -e 's|^tls = starttls|tls = none|' \
	-e 's|^dictionary = .*|dictionary =|' /etc/idgov/idgov.conf
# idgov-web(8)'s EXAMPLES: its user, and (here) loopback only.
sed -i -e '/^\[web\]/,/^\[/ s|^user =.*|user = idgov-web|' \
	-e '/^\[web\]/,/^\[/ s|^listen =.*|listen = 127.0.0.1|' /etc/idgov/idgov.conf
idgov init >/dev/null
check "idgov init made the master key 0400" test "$(stat -c %a /var/lib/idgov/master.key)" = 400
check "idgov init made idgov-web's key, 0600, the web user's" \
	test "$(stat -c '%a %U' /etc/idgov/web.key)" = "600 idgov-web"

# -- idgovd, started as the unit starts it (less -f: no systemd here to tell)
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/idgovd.service)
daemon=${exec_start% -f}
printf 'wrong\n' >/etc/idgov/ldap.secret
if out=$($daemon -p /run/idgov/idgovd.pid 2>&1); then
	not_ok "a wrong bind password fails the start"
else
	case $out in *"Invalid credentials"*) ok "a wrong bind password fails the start: $out" ;;
	*) not_ok "a wrong bind password: $out" ;; esac
fi
cat /srv/slapd/rootpw >/etc/idgov/ldap.secret
check "idgovd starts ($daemon)" "$daemon" -p /run/idgov/idgovd.pid
connected() { idgov status >/dev/null 2>&1; }
for _ in $(seq 1 100); do
	if connected; then break; fi
	sleep 0.1
done
check "idgov status exits 0: connected" connected
check "alice is mirrored" sh -c 'idgov user show alice | grep -q active'

# -- idgov-authd, as its unit starts it (no systemd here: it binds the socket itself)
authd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/idgov-authd.service)
($authd -p /run/idgov/authd.pid &)
for _ in $(seq 1 100); do [ -S /run/idgov/authd.sock ] && break; sleep 0.1; done
check "idgov-authd listens on /run/idgov/authd.sock, mode 0600" \
	test "$(stat -c %a /run/idgov/authd.sock 2>/dev/null)" = 600

# -- idgov-web, as its unit starts it: its own user, the certificate idgov init made
web=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/idgov-web.service)
setpriv --reuid=idgov-web --regid=idgov-web --init-groups "$web" 2>/srv/web.err &
webpid=$!
headers() { curl -sk -o /dev/null -D - https://127.0.0.1:8443/; }
for _ in $(seq 1 100); do headers >/dev/null 2>&1 && break; sleep 0.1; done
check "idgov-web serves HTTPS as idgov-web, with HSTS" sh -c 'curl -sk -o /dev/null -D - \
	https://127.0.0.1:8443/ | grep -qi "^strict-transport-security:"'
check "idgov-web refuses to run as root" sh -c "timeout 5 $web 2>&1 | grep -q 'refusing to run as root'"

# -- enrolment and login through the installed module and common-*
useradd -m -s /bin/bash alice
echo 'alice:Correct-Horse-42' | chpasswd
printf '@include common-auth\n@include common-account\n@include common-session\n' \
	>/etc/pam.d/idgov-test
coproc ENROL { idgov mfa enroll alice 2>&1; }
# shellcheck disable=SC2153 # set by coproc ENROL
enrol_pid=$ENROL_PID

exec {from}<&"${ENROL[0]}" {to}>&"${ENROL[1]}"
secret=""
while read -r line <&"$from"; do
	case $line in otpauth://*)
		secret=$(printf '%s' "$line" | sed 's/.*secret=\([A-Z2-7]*\).*/\1/')
		break
		;;
	esac
done
step=$(($(date +%s) / 30))
oathtool --totp -b -N "@$((step * 30))" "$secret" >&"$to"
exec {to}>&-
cat <&"$from" >/dev/null
exec {from}<&-
wait "$enrol_pid" 2>/dev/null || true
check "alice is enrolled" sh -c 'idgov --json mfa status alice | jq -e .enrolled'
# The next step's code: the enrolment's own is spent (replay watermark).
code=$(oathtool --totp -b -N "@$(((step + 1) * 30))" "$secret")
check "a wrong code is refused" sh -c "! printf 'Correct-Horse-42\n000000\n' |
	pamtester idgov-test alice authenticate"
check "alice logs in: password, TOTP code, account, session" sh -c "printf 'Correct-Horse-42\n$code\n' |
	pamtester idgov-test alice authenticate acct_mgmt open_session close_session"

# -- purge
kill "$(cat /run/idgov/authd.pid)"
kill "$webpid"
kill "$(cat /run/idgov/idgovd.pid)"
for _ in $(seq 1 50); do [ -e /run/idgov/idgovd.pid ] && sleep 0.1; done
slapd_stop /srv/slapd
rm /etc/pam.d/idgov-test
dpkg --purge idgov-web libpam-idgov idgov >/dev/null
check "pam.d has no pam_idgov" sh -c '! grep -rq pam_idgov /etc/pam.d'
left=$(find / -xdev \( -path /srv -o -path /proc \) -prune -o -name '*idgov*' -print)
if [ -z "$left" ]; then ok "nothing of idgov is left"; else not_ok "left after purge: $left"; fi

echo "$FAILED failed"
[ "$FAILED" -eq 0 ]
