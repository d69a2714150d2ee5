#!/usr/bin/env bash
# The fleet-wide MFA token in a real slapd with idgov's schema (token.h,
# provider.h, fleetseal.h), driven by tests/fleet_token.c: `idgov init`
# makes the fleet key on a governor; an enrolment is written once (a
# second one is refused) and its secret, sealed for the user's entryUUID,
# opens only there; a step is consumed once, and of writers racing for
# the same step (or the same failure count, or the same recovery code)
# exactly one wins (every write bound as a host's service DN under the
# example ACL); unlock, clear, new recovery codes; the last-login
# stamp is written at most once a day; values the directory holds that
# are not what idgov writes make the token unreadable; and the provider
# order falls over to the second provider when the first is down (a
# closed port, or a server that never answers) and comes back to the
# first once it answers again and PROVIDERS_RETRY_FIRST seconds passed.
. "$(dirname "$0")/lib.sh"

FT=$BUILD/tests/fleet_token
it_setup
URI=$(cat "$T/slapd/uri")
ALICE="uid=alice,ou=People,dc=example,dc=com"
BOB="uid=bob,ou=People,dc=example,dc=com"
HOST="cn=host1,ou=idgov,dc=example,dc=com"

# Everything below runs as a host's service DN under the example ACL
# (schema/ldap/idgov-acl.ldif): what a host may write is what the token needs.
slapd_stop "$T/slapd"
{
	printf 'dn: ou=idgov,dc=example,dc=com\nobjectClass: organizationalUnit\nou: idgov\n\n'
	printf 'dn: %s\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n' "$HOST"
	printf 'cn: host1\nuserPassword: host-secret\n\n'
	printf 'dn: cn=idgov-hosts,ou=idgov,dc=example,dc=com\nobjectClass: groupOfNames\n'
	printf 'cn: idgov-hosts\nmember: %s\n' "$HOST"
} >"$T/hosts.ldif"
slapadd -q -F "$T/slapd/slapd.d" -b "$SLAPD_SUFFIX" -l "$T/hosts.ldif" >"$T/slapadd.log" 2>&1 ||
	not_ok "loading the host's service DN: $(cat "$T/slapadd.log")"
slapmodify -n0 -F "$T/slapd/slapd.d" -l "$ROOT/schema/ldap/idgov-acl.ldif" >"$T/acl.log" 2>&1 ||
	not_ok "loading the example ACL: $(cat "$T/acl.log")"
slapd_restart "$T/slapd" || exit 1
printf 'host-secret' >"$T/host.pw"
chmod 600 "$T/host.pw"
sed -i "s|^bind_dn = .*|bind_dn = $HOST|; s|^bind_password_file = .*|bind_password_file = $T/host.pw|" \
	"$T/etc/idgov.conf"
assert_exit 0 "idgov init with [fleet] mfa = local (the default)" ig init
assert_eq "$(grep -c 'fleet key' "$T/last.out")" 0 "says nothing of a fleet key and makes none"
cat >>"$T/etc/idgov.conf" <<CONF
[fleet]
mfa = directory
key = $T/keys/fleet.key
timeout_ms = 500
CONF
CONF_FILE=$T/etc/idgov.conf
ft() { "$FT" "$CONF_FILE" "$@"; }
# field NAME: the value of NAME= in the last `ft read`'s output ($T/read.out).
field() { sed -n "s/^$1=//p" "$T/read.out"; }
tread() { ft read "$1" >"$T/read.out"; }
attr() {
	ldapsearch -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" -o ldif-wrap=no -LLL -s base -b "$1" "$2" 2>/dev/null |
		sed -n "s/^$2:: *//p; s/^$2: //p"
}

# --- idgov init makes the fleet key on a governor, once ---
assert_exit 0 "idgov init on a governor with [fleet] mfa = directory" ig init
assert_contains "$(cat "$T/last.out")" "fleet key   $T/keys/fleet.key (created; every host needs a copy" \
	"init says where the fleet key is and that hosts need a copy"
assert_eq "$(stat -c '%a %U %s' "$T/keys/fleet.key")" "400 root 32" "the fleet key is 32 bytes, root's, 0400"
assert_contains "$(sqlite3 "$T/state/idgov.db" "SELECT details FROM audit WHERE action='idgov.init' ORDER BY seq DESC LIMIT 1")" \
	'"fleet_key_created":true' "and records it in the audit chain"
sum=$(sha256sum "$T/keys/fleet.key")
assert_exit 0 "init again" ig init
assert_contains "$(cat "$T/last.out")" "fleet key   $T/keys/fleet.key (kept" "keeps the fleet key"
assert_eq "$(sha256sum "$T/keys/fleet.key")" "$sum" "and never rewrites it"
mkdir -p "$T/h"
sed -e "s|$T/keys/|$T/h/keys/|; s|$T/state/|$T/h/state/|; s|$T/run/|$T/h/run/|" "$CONF_FILE" >"$T/h/idgov.conf"
printf 'role = host\nlease_dn = cn=governor,ou=idgov,dc=example,dc=com\n' >>"$T/h/idgov.conf"
assert_exit 0 "idgov init on a host" "$IDGOV" -c "$T/h/idgov.conf" init
assert_eq "$(test -e "$T/h/keys/fleet.key" && echo made)" "" "makes no fleet key of its own"

# --- an enrolment, written once ---
tread "$ALICE"
assert_eq "$(field enrolled) $(field last_step) $(field token_class)" "0 0 0" "alice has no token yet"
# shellcheck disable=SC2016 # crypto_pwhash strings: the $ are theirs
R1='AB2C:$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA'
# shellcheck disable=SC2016
R2='XY3Z:$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$b3RoZXJvdGhlcm90aGVyMg'
assert_exit 0 "enrolling alice (write, replace 0)" ft write "$ALICE" 0 "$R1" "$R2"
tread "$ALICE"
assert_eq "$(field enrolled) $(field algorithm) $(field digits) $(field period) $(field n_recovery)" \
	"1 sha1 6 30 2" "the token reads back whole"
assert_eq "$(field token_class)" 1 "with the idgovToken class added"
assert_eq "$(field sealed_len)" $((1 + 8 + 24 + 16 + 20)) "the secret is sealed (version, key id, nonce, tag)"
assert_exit 0 "the sealed secret opens for alice" ft open "$ALICE"
assert_eq "$(cat "$T/last.out")" "secret=3132333435363738393031323334353637383930
done" "to the secret written"
sealed=$(attr "$ALICE" idgovTokenSecret)
case "$sealed" in
*MTIzNDU2Nzg5MDEyMzQ1Njc4OTA*) not_ok "the directory holds the secret in clear" ;;
"") not_ok "no idgovTokenSecret in the directory" ;;
*) ok "the directory holds only the sealed secret" ;;
esac
assert_exit 4 "a second enrolment is refused (TOKEN_CHANGED)" ft write "$ALICE" 0
assert_eq "$(attr "$ALICE" idgovTokenSecret)" "$sealed" "and the first one's secret stays"
# The same sealed value copied into bob's entry does not open there.
ldif <<LDIF
dn: $BOB
changetype: modify
add: objectClass
objectClass: idgovToken
-
add: idgovTokenSecret
idgovTokenSecret:: $sealed
LDIF
assert_exit 1 "alice's sealed secret copied to bob does not open" ft open "$BOB"
assert_contains "$(cat "$T/last.out")" "another person's entry" "and says why"
assert_exit 0 "clearing bob's token" ft clear "$BOB"
tread "$BOB"
assert_eq "$(field enrolled) $(field token_class)" "0 0" "clear removes the values and the class"
assert_exit 0 "clearing a token that is not there is done too" ft clear "$BOB"

# --- a step, consumed once ---
assert_exit 0 "consuming step 1000" ft consume "$ALICE" 1000
tread "$ALICE"
assert_eq "$(field last_step)" 1000 "the step is recorded"
assert_exit 4 "the same step again is a replay (TOKEN_CHANGED)" ft consume "$ALICE" 1000
assert_exit 4 "so is an earlier step" ft consume "$ALICE" 999
assert_exit 0 "a later step is accepted" ft consume "$ALICE" 1001
assert_exit 4 "consuming on an entry without a token is TOKEN_CHANGED (read again: not enrolled)" \
	ft consume "$BOB" 5
tread "$BOB"
assert_eq "$(field last_step)" 0 "and writes nothing"
# Writers racing for one step: released together, exactly one wins.
race() {
	local go=$T/go.$RANDOM n=$1 i pids=()
	shift
	for i in $(seq 1 "$n"); do
		("$FT" -w "$go" "$CONF_FILE" "$@" >"$T/race.$i.out" 2>&1; echo $? >"$T/race.$i.rc") &
		pids+=($!)
	done
	sleep 0.5
	touch "$go"
	wait "${pids[@]}"
	for i in $(seq 1 "$n"); do cat "$T/race.$i.rc"; done | sort | tr '\n' ' '
}
for step in 2000 2001 2002; do
	assert_eq "$(race 4 consume "$ALICE" "$step")" "0 4 4 4 " "four writers race for step $step: one wins"
done
tread "$ALICE"
assert_eq "$(field last_step)" 2002 "the last step won is the one stored"

# --- failures, by compare-and-swap ---
now=$(date +%s)
assert_exit 0 "recording a failure" ft fail "$ALICE" 1 "$now" 0
tread "$ALICE"
assert_eq "$(field failures) $(field failure_start) $(field locked_until)" "1 $now 0" "the count and window are stored"
assert_eq "$(race 3 fail "$ALICE" 2 "$now" 0)" "0 4 4 " "three writers who read one failure: one writes the second"
tread "$ALICE"
assert_eq "$(field failures)" 2 "the count is two, not lost or doubled"
lock=$((now + 300))
assert_exit 0 "a fifth failure locks" ft fail "$ALICE" 5 "$now" "$lock"
tread "$ALICE"
assert_eq "$(field locked_until)" "$lock" "the lock end is stored"
assert_eq "$(attr "$ALICE" idgovLockEnd)" "$(date -u -d "@$lock" +%Y%m%d%H%M%SZ)" "as a GeneralizedTime"
assert_exit 0 "unlock" ft unlock "$ALICE"
tread "$ALICE"
assert_eq "$(field failures) $(field failure_start) $(field locked_until) $(field last_step)" "0 0 0 2002" \
	"unlock removes the lock and count, and keeps the step"
assert_exit 0 "a failure after unlock" ft fail "$ALICE" 1 "$now" 0
assert_exit 0 "a good code clears the count" ft consume "$ALICE" 2003
tread "$ALICE"
assert_eq "$(field failures) $(field failure_start)" "0 0" "failures and window gone"

# --- recovery codes: each spent once ---
assert_eq "$(race 3 spend "$ALICE" "$R1")" "0 4 4 " "three writers spend one recovery code: one wins"
tread "$ALICE"
assert_eq "$(field n_recovery) $(field recovery)" "1 $R2" "the other code is left"
assert_exit 4 "spending it again is TOKEN_CHANGED" ft spend "$ALICE" "$R1"
assert_exit 1 "a value that is not ID:HASH is refused before it is sent" ft spend "$ALICE" "nocolon"

# --- new recovery codes (replace 1): the secret as read, the step not moved back ---
# shellcheck disable=SC2016
R3='QQ4R:$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$dGhpcmR0aGlyZHRoaXJkMw'
assert_exit 0 "new recovery codes (write, replace 1)" ft write "$ALICE" 1 "$R3"
tread "$ALICE"
assert_eq "$(field n_recovery) $(field recovery) $(field last_step)" "1 $R3 2003" "replace the codes, keep the step"
assert_eq "$(attr "$ALICE" idgovTokenSecret)" "$sealed" "and the secret"
many=()
for i in $(seq 1 17); do many+=("$R3"); done
assert_exit 1 "seventeen recovery codes are refused before they are sent" ft write "$ALICE" 1 "${many[@]}"
# A rewrite that read an older step loses to the login that consumed a newer one.
ldif <<LDIF
dn: $ALICE
changetype: modify
replace: idgovLastStep
idgovLastStep: 2001
LDIF
tread "$ALICE"
(
	"$FT" -w "$T/go.rw" "$CONF_FILE" write "$ALICE" 1 "$R2" >"$T/rw.out"
	echo $? >"$T/rw.rc"
) &
rw_pid=$!
sleep 0.5
ft consume "$ALICE" 2004 >/dev/null
touch "$T/go.rw"
wait "$rw_pid"
assert_eq "$(cat "$T/rw.rc")" 4 "a rewrite whose step was overtaken is TOKEN_CHANGED"
tread "$ALICE"
assert_eq "$(field last_step) $(field recovery)" "2004 $R3" "and the newer step stays"

# --- the last-login stamp, at most once a day ---
assert_exit 0 "the first login stamps" ft touch "$ALICE" "$now"
tread "$ALICE"
assert_eq "$(field last_login) $(field login_class)" "$now 1" "idgovLastLogin and its class"
assert_exit 4 "an hour later: nothing to do" ft touch "$ALICE" $((now + 3600))
assert_exit 4 "a day to the second: still nothing" ft touch "$ALICE" $((now + 86400))
assert_exit 0 "a day and a second later: stamped again" ft touch "$ALICE" $((now + 86401))
assert_eq "$(race 3 touch "$BOB" "$now")" "0 4 4 " "three hosts stamping the same login: one write"

# --- values idgov never writes make the token unreadable, not absent ---
# set_attr ATTR [VALUE...]: replaces ATTR of alice's entry (no VALUE: removes it).
set_attr() {
	local a=$1 v
	shift
	{
		printf 'dn: %s\nchangetype: modify\nreplace: %s\n' "$ALICE" "$a"
		for v in "$@"; do printf '%s: %s\n' "$a" "$v"; done
	} | ldapmodify -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" >/dev/null
}
# bad ATTR VALUE WHAT GOOD: with ATTR = VALUE the read fails naming ATTR; GOOD restores it.
bad() {
	set_attr "$1" "$2"
	assert_exit 1 "$3 is refused" ft read "$ALICE"
	assert_contains "$(cat "$T/last.out")" "$1" "naming $1"
	set_attr "$1" "$4"
	assert_exit 0 "and with $1 = $4 it reads again" ft read "$ALICE"
}
bad idgovLastStep -5 "a negative step" 2004
bad idgovLastStep 99999999999999999999 "a step past 2^63" 2004
bad idgovLockEnd 20261202101010+0100 "a lock end in another zone" 20990101000000Z
bad idgovFailureCount -1 "a negative failure count" 0
bad idgovTokenDigits 9 "nine digits" 6
bad idgovTokenDigits 5 "five digits" 8
bad idgovTokenPeriod 0 "a zero period" 30
bad idgovTokenAlgorithm md5 "an unknown algorithm" SHA256
bad idgovRecoveryCode "not-a-code" "a recovery value without ID:" "$R2"
bad idgovRecoveryCode "ab2c:x" "a recovery ID in lower case" "$R2"
bad idgovFailureWindowStart 202612021010Z "a time without seconds" 20261202101010.5Z
bad idgovLastLogin 2026120210Z "a last login to the hour only" 20261202101010Z
tread "$ALICE"
assert_eq "$(field algorithm) $(field locked_until)" "sha256 4070908800" "what was restored reads as written"
# shellcheck disable=SC2046 # one argument per value
set_attr idgovRecoveryCode $(for i in $(seq 10 26); do echo "AA$i:x"; done)
assert_exit 1 "seventeen recovery values are refused" ft read "$ALICE"
assert_contains "$(cat "$T/last.out")" "idgovRecoveryCode has 17 values (at most 16)" "saying how many"
set_attr idgovRecoveryCode "$R2"
printf 'dn: %s\nchangetype: modify\nreplace: idgovTokenSecret\nidgovTokenSecret: short\n' "$ALICE" |
	ldapmodify -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" >/dev/null
assert_exit 1 "a sealed value too short to be one is refused" ft read "$ALICE"
assert_contains "$(cat "$T/last.out")" "idgovTokenSecret is 5 bytes" "saying its size"
assert_exit 1 "and writes on an unreadable token still need a readable one first" ft fail "$ALICE" 1 "$now" 0

ldif <<LDIF >/dev/null
dn: $ALICE
changetype: modify
replace: idgovTokenSecret
idgovTokenSecret:: $sealed
LDIF
assert_exit 0 "with the sealed secret put back, the token reads again" ft open "$ALICE"

# What a login's fleet-wide step costs on loopback (printed, never asserted: see bench/).
assert_exit 0 "measuring reads and read + consume" ft measure "$ALICE" 50
sed -n 's/^/# /p' "$T/last.out" | grep _us
tread "$ALICE"
step_after=$(field last_step)

# --- a provider that goes away under a held connection: TOKEN_DOWN ---
(
	"$FT" -w "$T/go.down" "$CONF_FILE" consume "$ALICE" 3000 >"$T/down.out"
	echo $? >"$T/down.rc"
) &
down_pid=$!
sleep 0.5
slapd_stop "$T/slapd"
touch "$T/go.down"
wait "$down_pid"
assert_eq "$(cat "$T/down.rc")" 3 "a step consumed on a connection whose server stopped is TOKEN_DOWN"
assert_contains "$(cat "$T/down.out")" "down: consuming a step of the token of $ALICE" "saying what and whose"
assert_exit 3 "and a new connection to it is TOKEN_DOWN too" ft read "$ALICE"
slapd_restart "$T/slapd" || exit 1
tread "$ALICE"
assert_eq "$(field last_step)" "$step_after" "nothing was written"

# --- the provider order ---
# A second slapd, stopped: its port is closed. A silent listener: it accepts and never answers.
slapd_setup "$T/slapd2" || exit 1
slapd_load "$T/slapd2" "$ROOT/tests/fixtures/org.ldif" || exit 1
slapd_load "$T/slapd2" "$T/hosts.ldif" || exit 1
slapd_start "$T/slapd2" || exit 1
URI2=$(cat "$T/slapd2/uri")
slapd_stop "$T/slapd2"
trap 'slapd_stop "$T/slapd2"; [ -n "${SILENT_PID:-}" ] && kill "$SILENT_PID" 2>/dev/null; cleanup' EXIT
SILENT_PORT=$(slapd_free_port)
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    time.sleep(60)
' "$SILENT_PORT" &
SILENT_PID=$!
wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SILENT_PORT"
sed -i "s|^timeout_ms = 500\$|timeout_ms = 500\nproviders = $URI2 ldap://127.0.0.1:$SILENT_PORT/ $URI|" "$CONF_FILE"
(
	"$FT" "$CONF_FILE" providers get@1000 get@1005 wait:"$T/up" get@1009 get@1010 get@1011 \
		drop get@1012 >"$T/prov.out"
	echo $? >"$T/prov.rc"
) &
PROV_PID=$!
wait_for 10 grep -q "^2 " "$T/prov.out"
assert_eq "$(head -1 "$T/prov.out")" "2 $URI" \
	"the first down (closed port), the second silent: the third provider is used"
slapd_restart "$T/slapd2" || not_ok "slapd2 did not start again"
touch "$T/up"
wait "$PROV_PID"
assert_eq "$(cat "$T/prov.rc")" 0 "the provider sequence ran"
assert_eq "$(sed -n 2,4p "$T/prov.out" | tr '\n' '|')" "2 $URI|2 $URI|0 $URI2|" \
	"held until $((10)) s after the last try, then back to the first once it answers"
assert_eq "$(sed -n 5,6p "$T/prov.out" | tr '\n' '|')" "0 $URI2|0 $URI2|" "and held there, after a drop too"
# A clock set back while held on a later provider: the earlier ones are tried at once.
slapd_stop "$T/slapd2"
(
	"$FT" "$CONF_FILE" providers get@2000 wait:"$T/up2" get@1990 >"$T/back.out"
	echo $? >"$T/back.rc"
) &
back_pid=$!
wait_for 10 grep -q "^2 " "$T/back.out"
slapd_restart "$T/slapd2" || not_ok "slapd2 did not start again"
touch "$T/up2"
wait "$back_pid"
assert_eq "$(head -2 "$T/back.out" | tr '\n' '|')" "2 $URI|0 $URI2|" \
	"a clock set back counts as the retry time passed"
slapd_stop "$T/slapd2"
sed -i "s|^providers = .*|providers = $URI2 ldap://127.0.0.1:$SILENT_PORT/|" "$CONF_FILE"
assert_exit 3 "none answering is TOKEN_DOWN" ft providers get@1000
assert_contains "$(cat "$T/last.out")" "no MFA provider answers" "saying so"
assert_contains "$(cat "$T/last.out")" "$URI2" "naming the closed one"
assert_contains "$(cat "$T/last.out")" "127.0.0.1:$SILENT_PORT" "and the silent one"
sed -i "s|^providers = .*|providers = $URI|" "$CONF_FILE"
assert_exit 0 "the host's service DN binds" ft providers get@1000
echo wrong >"$T/wrongpw"
chmod 600 "$T/wrongpw"
sed -i "s|^bind_password_file = .*|bind_password_file = $T/wrongpw|" "$CONF_FILE"
assert_exit 1 "a provider that refuses the credentials is an error, not 'down'" ft providers get@1000
assert_contains "$(cat "$T/last.out")" "Invalid credentials" "with the server's words"

finish
