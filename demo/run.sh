#!/usr/bin/env bash
# The idgov demo: a private OpenLDAP directory on 127.0.0.1 with a small
# organisation, idgovd mirroring it live, and the audit chain verified.
# Everything lives under demo/run/ and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=$ROOT/demo/run

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

scripts/install-deps.sh
say "building idgov"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
IDGOV=$ROOT/build/idgov/idgov
IDGOVD=$ROOT/build/idgov/idgovd

. tests/lib/slapd.sh
# The socket and a copy of the config live where a second admin (uid 1,
# "daemon", an admin in the sample directory) can reach them.
SHARED=
stop_all() {
	if [ -f "$RUN/idgovd.pid" ]; then kill "$(cat "$RUN/idgovd.pid")" 2>/dev/null || true; fi
	if [ -f "$RUN/authd.pid" ]; then kill "$(cat "$RUN/authd.pid")" 2>/dev/null || true; fi
	slapd_stop "$RUN/slapd"
	[ -z "$SHARED" ] || rm -rf "$SHARED"
}
trap stop_all EXIT
[ -d "$RUN" ] && { stop_all; rm -rf "$RUN"; }
mkdir -p "$RUN"
SHARED=$(mktemp -d /tmp/idgov-demo.XXXXXX)
chmod 755 "$SHARED"

say "starting a private slapd with the sample organisation (tests/fixtures/org.ldif)"
slapd_setup "$RUN/slapd"
slapd_load "$RUN/slapd" tests/fixtures/org.ldif
slapd_start "$RUN/slapd"
echo "slapd listening on $SLAPD_URI (syncprov, ppolicy)"

# The shipped example, pointed at this slapd and at demo/run/.
sed -e "s|^uri = .*|uri = $SLAPD_URI|" \
    -e "s|^tls = .*|tls = none|" \
    -e "s|^bind_password_file = .*|bind_password_file = $RUN/slapd/rootpw|" \
    -e "s|/var/lib/idgov/|$RUN/state/|" \
    -e "s|^socket = .*|socket = $SHARED/idgov.sock|" \
    -e "s|^syslog_socket = .*|syslog_socket = $RUN/log.sock|" \
    idgov.conf.example > "$RUN/idgov.conf"
install -m 644 "$RUN/idgov.conf" "$SHARED/idgov.conf"
ig() { "$IDGOV" -c "$RUN/idgov.conf" "$@"; }
# The CLI as the second admin; its identity comes from the socket's peer credentials.
ig_daemon() { setpriv --reuid=1 --regid=1 --clear-groups "$IDGOV" -c "$SHARED/idgov.conf" "$@"; }

say "idgov init: store, master key, audit signing key"
show ig init

say "starting idgovd (refreshAndPersist against the directory)"
"$IDGOVD" -c "$RUN/idgov.conf" -p "$RUN/idgovd.pid"
show ig status
say "the mirrored directory"
show ig user list
show ig group list
show ig group show admins
show ig user show dave

say "changing the directory: a joiner, a membership, a mover and a leaver"
ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$RUN/slapd/rootpw" >/dev/null <<'L'
dn: uid=ivan,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: ivan
cn: Ivan Ivanov
sn: Ivanov
displayName: Ivan Ivanov
mail: ivan@example.com
manager: uid=bob,ou=People,dc=example,dc=com
uidNumber: 10010
gidNumber: 10000
homeDirectory: /home/ivan

dn: cn=engineering,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=ivan,ou=People,dc=example,dc=com

dn: uid=erin,ou=People,dc=example,dc=com
changetype: modrdn
newrdn: uid=erin
deleteoldrdn: 1
newsuperior: ou=Contractors,dc=example,dc=com

dn: uid=frank,ou=People,dc=example,dc=com
changetype: delete
L
start=$(date +%s%N)
until ig --json user show ivan >/dev/null 2>&1 &&
	[ "$(ig --json user show frank 2>/dev/null | jq -r .status)" = departed ]; do
	sleep 0.02
done
echo "the changes reached the store in $((($(date +%s%N) - start) / 1000000)) ms"
show ig user show ivan
show ig audit list --since 10m

say "verifying the audit chain"
show ig audit verify

say "MFA: enrolling alice (oathtool plays the authenticator app)"
coproc ENROL { "$IDGOV" -c "$RUN/idgov.conf" mfa enroll alice 2>&1; }
exec {from}<&"${ENROL[0]}" {to}>&"${ENROL[1]}"
while read -r line <&"$from"; do
	printf '%s\n' "$line"
	case "$line" in otpauth://*) secret=$(printf '%s' "$line" | sed 's/.*secret=\([A-Z2-7]*\).*/\1/'); break ;; esac
done
step=$(($(date +%s) / 30))
code() { oathtool --totp -b -N "@$(((step + $1) * 30))" "$secret"; }
echo "(answering with $(code 0))"
code 0 >&"$to"
exec {to}>&-
cat <&"$from"
exec {from}<&-

say "logging in as alice through pam_idgov (pam_wrapper + pamtester: nothing under /etc changes)"
mkdir -p "$RUN/pam.d"
printf '[authd]\nsocket = %s\n' "$RUN/authd.sock" >> "$RUN/idgov.conf"
echo "$ idgov-authd   (the auth service the module asks; it alone opens the store and keys)"
("$ROOT/build/idgov/idgov-authd" -c "$RUN/idgov.conf" -p "$RUN/authd.pid" &)
for _ in $(seq 1 100); do [ -s "$RUN/authd.pid" ] && break; sleep 0.1; done
for stack in auth account session; do
	echo "$stack required $ROOT/build/pam_module/pam_idgov.so socket=$RUN/authd.sock server_uid=$(id -u)"
done > "$RUN/pam.d/demo"
printf 'auth required pam_deny.so\naccount required pam_deny.so\n' > "$RUN/pam.d/other"
pam() { LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$RUN/pam.d" pamtester -I rhost=192.0.2.10 demo "$@"; }
echo "$ pamtester demo alice authenticate acct_mgmt open_session close_session   (code $(code 1))"
pam alice authenticate acct_mgmt open_session close_session <<<"$(code 1)"
echo "$ pamtester demo alice authenticate   (the same code again)"
pam alice authenticate <<<"$(code 1)" || echo "(refused: a code works once)"
echo "$ pamtester demo grace acct_mgmt   (grace is locked in the directory)"
pam grace acct_mgmt || true
show ig policy check grace --rhost 192.0.2.10 || true
show ig audit list --limit 4

say "a time-bound grant: bob gets admins for 5 seconds, with a second admin's approval"
show ig grant request --user bob --group admins --for 5s --reason "restore the billing database"
id=$(ig --json grant list --pending | jq -r '.[-1].id')
echo "$ idgov grant approve $id   (root asked for it, so root may not approve it)"
ig grant approve "$id" || true
echo "$ idgov grant approve $id --comment 'ticket OPS-1'   (as daemon, uid 1, another admin)"
ig_daemon grant approve "$id" --comment "ticket OPS-1" >/dev/null
sleep 1
show ig group show admins
end=$(ig --json grant show "$id" | jq -r .end)
echo "(waiting for the end, $(date -u -d "@$end" +%H:%M:%S); idgovd removes it on its own)"
while [ "$(date +%s)" -le "$end" ]; do sleep 0.2; done
sleep 0.5
show ig grant show "$id"

say "an access review of the privileged groups, closed at once with the default approve"
show ig review start --adhoc --scope privileged --default approve --fallback alice
show ig review show 1
show ig review close 1
ig review report 1 --format html -o "$RUN/review-1.html"
echo "(evidence report: demo/run/review-1.html)"

say "tampering with one audit record behind idgov's back"
sqlite3 "$RUN/state/idgov.db" "UPDATE audit SET subject = 'mallory' WHERE action = 'user.leaver'"
set +e
show ig audit verify
echo "(exit code $?)"
set -e

say "done; files are in demo/run/, idgovd, idgov-authd and slapd are stopped"
