#!/usr/bin/env bash
# The control socket: the caller's uid (SO_PEERCRED) decides. A non-admin
# is refused admin requests; a directory admin (uid 1, "daemon", in
# idgov-admins) is allowed; malformed and oversized requests get an error
# reply, are audited, and the daemon keeps serving. Needs root (setpriv).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "skipped: needs root and setpriv to run the CLI under other uids"
	exit 77
fi
it_setup
# Other uids must reach the socket and read the config and password file.
chmod 755 "$T/etc" "$T/slapd"
chmod 644 "$T/etc/idgov.conf"
assert_exit 0 "idgovd starts" daemon_start
assert_eq "$(stat -c %a "$T/run/idgov.sock")" 666 "socket is mode 0666"

as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$IDGOV" -c "$T/etc/idgov.conf" "$@"
}

assert_exit 0 "nobody may ask for status" as 65534 status
assert_exit 1 "nobody is refused user list" as 65534 user list
assert_contains "$(cat "$T/last.err")" "for admins only" "refusal says why"
assert_exit 1 "nobody is refused sync" as 65534 sync
assert_exit 1 "nobody is refused audit verify" as 65534 audit verify
assert_exit 1 "nobody may not look at alice" as 65534 user show alice
assert_eq "$(sql "SELECT count(*) FROM audit WHERE actor='nobody' AND details LIKE '%refused%'")" 1 \
	"the minute's first refusal audited with the caller's name (the rest are counted)"

assert_exit 0 "directory admin (daemon, uid 1) may list users" as 1 user list
assert_exit 0 "directory admin may verify the audit chain" as 1 audit verify
assert_exit 0 "directory admin may sync" as 1 sync

# MFA enrolment through the socket is by peer credentials: nobody may not
# enrol alice; "daemon" (uid 1, a directory user) enrols itself.
assert_exit 1 "nobody may not enrol someone else" as 65534 mfa enroll alice </dev/null
assert_contains "$(cat "$T/last.err")" "only admins may manage another user's MFA" "and is told why"
as 1 mfa enroll </dev/null >"$T/enrol.out" 2>&1
assert_contains "$(cat "$T/enrol.out")" "otpauth://totp/idgov:daemon?secret=" "uid 1 starts its own enrolment"
assert_eq "$(sql "SELECT m.confirmed FROM mfa m JOIN users u ON u.uuid = m.user_uuid WHERE u.uid='daemon'")" 0 \
	"pending until a first code confirms it"
assert_eq "$(sql "SELECT actor FROM audit WHERE action='mfa.enroll_started'")" daemon "audited with the caller as actor"

# Raw protocol abuse, straight at the socket.
raw() { "$BUILD/tests/sockclient" "$T/run/idgov.sock"; }

reply=$(printf '{"v":1,"op":' | raw)
assert_contains "$reply" '"code":"bad_request"' "malformed JSON gets a bad_request reply"
reply=$(printf '{"v":1,"op":"user.list","args":{"status":"active","evil":1}}\n' | raw)
assert_contains "$reply" "unknown argument 'evil'" "unknown argument rejected"
reply=$(printf '{"v":9,"op":"status"}\n' | raw)
assert_contains "$reply" "unsupported protocol version" "wrong version rejected"
reply=$(head -c 1048576 /dev/zero | tr '\0' 'a' | raw)
assert_contains "$reply" "request larger than 65536 bytes" "1 MiB request rejected"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='control.malformed'")" 3 \
	"malformed and oversized requests audited"

# Requests answered in one turn of the loop are audited together (one
# transaction, one signature), their replies sent after that commit, and
# so are those that arrive while the turn answers its first ones (taken
# before its commit): each of 20 concurrent callers, asking three times in
# a row, finds each of its own records, once, as soon as it has that
# answer, and the chain still verifies (below).
for i in $(seq 1 20); do
	(
		for k in 1 2 3; do
			ig user show "nosuch$i.$k" >/dev/null 2>&1
			echo "$i.$k $(sql "SELECT count(*) FROM audit WHERE subject='nosuch$i.$k' AND details LIKE '%not_found%'")"
		done
	) >"$T/conc.$i" &
done
wait
for i in $(seq 1 20); do
	assert_eq "$(tr '\n' ' ' <"$T/conc.$i")" "$i.1 1 $i.2 1 $i.3 1 " \
		"concurrent caller $i finds each of its records once its reply has come"
done
assert_eq "$(sql "SELECT count(*) FROM audit WHERE subject LIKE 'nosuch%'")" 60 "60 requests, 60 records"

assert_exit 0 "daemon still serves after abuse" ig status
assert_exit 0 "audit chain verifies" ig audit verify
finish
