#!/usr/bin/env bash
# Fleet-wide MFA enrolment ([fleet] mfa = directory) against a real slapd
# with idgov's schema, a governor (gov1) and a host (host1) each with its
# own idgovd, store and socket:
# - enrolling on the governor writes the token to the directory (the
#   secret sealed, never in clear), the mirror's row at once, no local
#   enrolment left; the host's sync brings the token into its mirror
#   within seconds and the host refuses a second enrolment;
# - unlock and reset on either machine change the directory and both
#   mirrors; a token value the parser refuses marks the mirror's row
#   unusable (locked, no secret, a warning), never "not enrolled";
# - `idgov fleet migrate` on a third machine with local enrolments writes
#   them (twice: the second run skips them), and a person enrolled in the
#   directory with another secret is a conflict left alone;
# - `idgov fleet join` passes on a joined host and fails, naming the
#   check, with another key, a key file others can read, a missing key,
#   mfa = local and no provider answering.
. "$(dirname "$0")/lib.sh"

it_setup
syslog_sink
URI=$(cat "$T/slapd/uri")
LEASE="cn=governor,ou=idgov,dc=example,dc=com"
ldif <<LDIF
dn: ou=idgov,dc=example,dc=com
changetype: add
objectClass: organizationalUnit
ou: idgov
LDIF

# instance DIR: a state directory and socket of its own, same directory and log.
instance() {
	local d=$1
	mkdir -p "$d/etc" "$d/run"
	sed -e "s|$T/state/|$d/state/|; s|$T/keys/|$d/keys/|; s|$T/run/idgov.sock|$d/run/idgov.sock|" \
		"$T/etc/idgov.conf" >"$d/etc/idgov.conf"
	"$IDGOV" -c "$d/etc/idgov.conf" init >/dev/null || exit 1
}
# fleet_conf FILE ROLE NAME MFA KEY
fleet_conf() {
	printf '[fleet]\nrole = %s\nname = %s\nlease_dn = %s\nmfa = %s\nkey = %s\n' "$2" "$3" "$LEASE" "$4" "$5" >>"$1"
}
instance "$T/b"
instance "$T/l"
fleet_conf "$T/etc/idgov.conf" governor gov1 directory "$T/keys/fleet.key"
fleet_conf "$T/b/etc/idgov.conf" host host1 directory "$T/b/keys/fleet.key"
fleet_conf "$T/l/etc/idgov.conf" host old1 local "$T/l/keys/fleet.key"
assert_exit 0 "idgov init on the governor makes the fleet key" ig init
assert_eq "$(stat -c %a "$T/keys/fleet.key")" 400 "the fleet key is 0400"
cp -p "$T/keys/fleet.key" "$T/b/keys/fleet.key"
igb() { "$IDGOV" -c "$T/b/etc/idgov.conf" "$@"; }
igl() { "$IDGOV" -c "$T/l/etc/idgov.conf" "$@"; }
sqlb() { sqlite3 -batch -cmd ".timeout 5000" "$T/b/state/idgov.db" "$1"; }
sqll() { sqlite3 -batch -cmd ".timeout 5000" "$T/l/state/idgov.db" "$1"; }
sqlb_is() { [ "$(sqlb "$1")" = "$2" ]; }
entry() { # entry UID ATTR...: the person's entry as the directory holds it
	local who=$1
	shift
	ldapsearch -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" -LLL -o ldif-wrap=no -s base \
		-b "uid=$who,ou=People,dc=example,dc=com" "$@" 2>/dev/null
}
attr() { entry "$1" "$2" | sed -n "s/^$2:: *//p; s/^$2: //p"; }
modify() { # modify UID <<LDIF (the change lines)
	{
		printf 'dn: uid=%s,ou=People,dc=example,dc=com\nchangetype: modify\n' "$1"
		cat
	} | ldapmodify -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" >/dev/null
}
row_b() { sqlb "SELECT $2 FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = '$1'"; }
# The governor's idgovd also serves the web frontend ([web] user = nobody).
printf '[web]\nuser = nobody\n' >>"$T/etc/idgov.conf"
chmod 755 "$T/etc" "$T/slapd"
chmod 644 "$T/etc/idgov.conf"
ldif <<LDIF
dn: uid=alice,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Correct horse 42')
LDIF
assert_exit 0 "the governor's idgovd starts" daemon_start
assert_exit 0 "the host's idgovd starts" "$IDGOVD" -c "$T/b/etc/idgov.conf" -p "$T/b/run/idgovd.pid"
trap 'stop_pid_file "$T/b/run/idgovd.pid"; kill "$SINK_PID" 2>/dev/null; cleanup' EXIT
wait_for 10 sqlb_is "SELECT count(*) > 0 FROM users" 1

# --- enrol on the governor: the token goes to the directory ---
enroll alice 0
assert_contains "$ENROL_OUT" "MFA is now active" "alice enrols on the governor"
assert_contains "$ENROL_OUT" "Recovery codes for alice" "and gets her recovery codes"
stored=$(entry alice idgovTokenSecret idgovLastStep idgovRecoveryCode objectClass idgovTokenAlgorithm)
assert_contains "$stored" "idgovTokenSecret:: " "the directory holds her sealed secret"
assert_contains "$stored" "objectClass: idgovToken" "on her entry, with the idgovToken class"
case "$stored" in
*"$SECRET"* | *otpauth*) not_ok "the directory holds the secret in clear" ;;
*) ok "and not the secret in clear (base32 or URI)" ;;
esac
if printf '%s' "$(attr alice idgovTokenSecret)" | base64 -d 2>/dev/null | grep -aq "$SECRET"; then
	not_ok "the sealed value contains the base32 secret"
else
	ok "the sealed value is not the secret"
fi
assert_eq "$(attr alice idgovLastStep)" "$BASE" "the confirming code's step is the watermark"
assert_eq "$(entry alice idgovRecoveryCode | grep -c '^idgovRecoveryCode: [A-Z0-9]\{4\}:.argon2id')" 10 \
	"ten recovery code hashes, ID:HASH"
assert_eq "$(attr alice idgovTokenAlgorithm)" sha1 "with the configured algorithm"
assert_eq "$(sql "SELECT count(*) FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice' AND f.sealed IS NOT NULL AND f.last_step = $BASE")" 1 \
	"the governor's mirror has her token at once"
assert_eq "$(sql "SELECT count(*) FROM mfa")" 0 "and no local enrolment is left"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'mfa.enrolled' AND details LIKE '%\"fleet\":true%'")" 1 \
	"the enrolment is audited as fleet-wide"

# --- the host's sync brings it; the host refuses a second enrolment ---
if wait_for 10 sqlb_is "SELECT count(*) FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice' AND f.sealed IS NOT NULL" 1; then
	ok "the host's mirror has alice's token within seconds"
else
	not_ok "the host's mirror has no token for alice"
fi
assert_eq "$(row_b alice last_step)" "$BASE" "with the same watermark"
assert_eq "$(row_b alice "length(recovery) - length(replace(recovery, char(10), '')) + 1")" 10 \
	"and the ten recovery values"
st=$(igb mfa status alice)
assert_contains "$st" "enrolled:       yes" "the host says alice is enrolled"
assert_eq "$(igb --json mfa status alice | jq -r .source)" directory "read from the directory"
assert_exit 1 "the host refuses to enrol alice again" igb mfa enroll alice </dev/null
assert_contains "$(cat "$T/last.err")" "already enrolled fleet-wide" "saying she is enrolled"
assert_eq "$(sqlb "SELECT count(*) FROM mfa")" 0 "without a pending enrolment on the host"

# --- unlock from the host ---
lock_end=$(date -u -d '+1 hour' +%Y%m%d%H%M%SZ)
modify alice <<LDIF
replace: idgovFailureCount
idgovFailureCount: 5
-
replace: idgovFailureWindowStart
idgovFailureWindowStart: $(date -u +%Y%m%d%H%M%SZ)
-
replace: idgovLockEnd
idgovLockEnd: $lock_end
LDIF
assert_eq "$(igb --json mfa status alice | jq -r .locked)" true "a lock in the directory shows on the host"
wait_for 10 sqlb_is "SELECT locked_until > 0 FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice'" 1
assert_exit 0 "the host unlocks alice" igb mfa unlock alice
assert_eq "$(attr alice idgovLockEnd)$(attr alice idgovFailureCount)" "" "the lock and count are gone from the directory"
assert_eq "$(row_b alice locked_until)" 0 "and from the host's mirror at once"
assert_eq "$(igb --json mfa status alice | jq -r .locked)" false "the host says unlocked"
if wait_for 10 sql_is "SELECT locked_until FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice'" 0; then
	ok "the governor's mirror follows through its sync"
else
	not_ok "the governor's mirror still has the lock"
fi
assert_eq "$(sqlb "SELECT count(*) FROM audit WHERE action = 'mfa.unlocked'")" 1 "the unlock is audited on the host"

# --- a value the parser refuses: the mirror's row is unusable, never "not enrolled" ---
modify alice <<LDIF
replace: idgovTokenAlgorithm
idgovTokenAlgorithm: md5
LDIF
if wait_for 10 sqlb_is "SELECT sealed IS NULL AND locked_until = 9223372036854775807 AND last_step = $BASE FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice'" 1; then
	ok "an unreadable token marks the host's row locked, without a secret, the step kept"
else
	not_ok "the host's row after an unreadable token: $(row_b alice 'quote(sealed) IS NULL, locked_until, last_step')"
fi
assert_eq "$(sqlb "SELECT attribute FROM entry_warnings w JOIN users u ON u.uuid = w.uuid WHERE u.uid = 'alice'")" idgovToken \
	"with a warning on the entry"
assert_eq "$(sqlb "SELECT status FROM users WHERE uid = 'alice'")" active "the rest of the entry is still applied"
assert_exit 1 "the host refuses to enrol her over it" igb mfa enroll alice </dev/null
modify alice <<LDIF
replace: idgovTokenAlgorithm
idgovTokenAlgorithm: sha1
LDIF
if wait_for 10 sqlb_is "SELECT sealed IS NOT NULL AND locked_until = 0 FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice'" 1; then
	ok "the next readable copy replaces the mark"
else
	not_ok "the host's row stayed unusable"
fi

# --- reset on the governor ---
assert_exit 0 "the governor resets alice" ig mfa reset alice
assert_eq "$(attr alice idgovTokenSecret)$(attr alice idgovLastStep)$(attr alice idgovRecoveryCode)" "" \
	"her token is gone from the directory"
assert_eq "$(sql "SELECT count(*) FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice'")" 0 \
	"and from the governor's mirror"
if wait_for 10 sqlb_is "SELECT count(*) FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid = 'alice'" 0; then
	ok "and from the host's mirror through its sync"
else
	not_ok "the host's mirror still has alice's token"
fi
assert_eq "$(igb --json mfa status alice | jq -r .enrolled)" false "the host says she is not enrolled"
enroll alice 0
assert_contains "$ENROL_OUT" "MFA is now active" "she can enrol again"

# --- new recovery codes: by root for her, and by a person for themself with a code ---
before=$(entry alice idgovRecoveryCode | sort)
assert_exit 0 "root replaces alice's recovery codes from the host" igb mfa recovery-codes alice
assert_contains "$(cat "$T/last.out")" "Recovery codes for alice" "printing the new ones"
after=$(entry alice idgovRecoveryCode | sort)
assert_eq "$(printf '%s\n' "$after" | grep -c '^idgovRecoveryCode: ')" 10 "ten new values in the directory"
if [ "$before" != "$after" ]; then ok "replacing the old ones"; else not_ok "the values did not change"; fi
assert_eq "$(attr alice idgovLastStep)" "$BASE" "the watermark is kept"
assert_eq "$(sqlb "SELECT count(*) FROM audit WHERE action = 'mfa.recovery_codes_replaced' AND details LIKE '%\"fleet\":true%'")" 1 \
	"audited on the host"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	# --- the web sign-in's code step checks the directory's token ---
	mapfile -t rcodes < <(sed -n 's/^  \([A-Z0-9]\{4\}-[A-Z0-9]\{4\}-[A-Z0-9]\{4\}\)$/\1/p' "$T/last.out")
	as_web() {
		printf '%s\n' "$1" | setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$BUILD/tests/sockclient" "$T/run/idgov.sock"
	}
	web_code() { # web_code CODE: a new sign-in as alice, then CODE; prints the reply
		local token
		token=$(as_web '{"v":1,"op":"web.signin","args":{"name":"alice","password":"Correct horse 42","addr":"192.0.2.7"}}' |
			jq -r .result.session)
		as_web "$(jq -cn --arg s "$token" --arg c "$1" \
			'{v:1, op:"web.verify", args:{code:$c}, session:$s, addr:"192.0.2.7"}')"
	}
	reply=$(as_web '{"v":1,"op":"web.signin","args":{"name":"alice","password":"Correct horse 42","addr":"192.0.2.7"}}')
	assert_eq "$(printf '%s' "$reply" | jq -r .result.step)" code "the web asks alice, enrolled fleet-wide, for her code"
	assert_contains "$(web_code "$(code 1)")" '"ok":true' "her next code signs her in on the web"
	assert_eq "$(attr alice idgovLastStep)" "$((BASE + 1))" "and is consumed in the directory"
	assert_contains "$(web_code "$(code 1)")" "not valid" "the same code is refused on the web after that"
	assert_contains "$(web_code 000000)" "not valid" "a wrong code is refused"
	assert_eq "$(attr alice idgovFailureCount)" 1 "and counted in the directory"
	assert_contains "$(web_code "${rcodes[0]:-none}")" '"ok":true' "a recovery code signs her in"
	assert_eq "$(entry alice idgovRecoveryCode | grep -c '^idgovRecoveryCode: ')" 9 "and is spent in the directory"
	assert_contains "$(web_code "${rcodes[0]:-none}")" "not valid" "once"

	# bin (uid 2) is a person of the directory (tests/fixtures/unix-users.ldif).
	ldif <"$ROOT/tests/fixtures/unix-users.ldif" || exit 1
	wait_for 10 sqlb_is "SELECT count(*) FROM users WHERE uid = 'bin'" 1
	wait_for 10 sql_is "SELECT count(*) FROM users WHERE uid = 'bin'" 1
	enroll bin 0
	assert_contains "$ENROL_OUT" "MFA is now active" "bin is enrolled by an admin"
	as_bin() { setpriv --reuid=2 --regid=2 --clear-groups "$IDGOV" -c "$T/b/etc/idgov.conf" "$@"; }
	assert_exit 1 "bin's own new codes need a current code" as_bin mfa recovery-codes </dev/null
	assert_exit 1 "a wrong code is refused" as_bin mfa recovery-codes <<<"000000"
	assert_contains "$(cat "$T/last.err")" "not valid" "as not valid"
	assert_eq "$(attr bin idgovFailureCount)" 1 "and counted in the directory, as a login counts it"
	assert_exit 1 "the code already consumed by the enrolment is refused" as_bin mfa recovery-codes <<<"$(code 0)"
	assert_eq "$(attr bin idgovFailureCount)" 1 "a replay is not counted"
	assert_exit 0 "the next code gets bin new codes on the host" as_bin mfa recovery-codes <<<"$(code 1)"
	assert_contains "$(cat "$T/last.out")" "Recovery codes for bin" "printed once"
	assert_eq "$(attr bin idgovLastStep)" "$((BASE + 1))" "and consumes that code fleet-wide"
	assert_eq "$(attr bin idgovFailureCount)" "" "which clears the failure count"
	assert_exit 1 "so it cannot be used again, here or anywhere" as_bin mfa recovery-codes <<<"$(code 1)"
else
	echo "# skipped the self-service recovery codes: needs root and setpriv"
fi

# --- migrate a machine's local enrolments ---
assert_exit 0 "the old machine syncs" igl sync
enrol_with "$T/l/etc/idgov.conf" bob 0
assert_contains "$ENROL_OUT" "MFA is now active" "bob enrols locally on the old machine"
BOB_STEP=$BASE
enrol_with "$T/l/etc/idgov.conf" carol 0
assert_contains "$ENROL_OUT" "MFA is now active" "carol too"
enrol_with "$T/l/etc/idgov.conf" erin 0
assert_contains "$ENROL_OUT" "MFA is now active" "erin too"
enroll erin 0
assert_contains "$ENROL_OUT" "MFA is now active" "erin enrols fleet-wide on the governor with another secret"
erin_before=$(entry erin idgovTokenSecret idgovLastStep)
sed -i 's/^mfa = local$/mfa = directory/' "$T/l/etc/idgov.conf"
assert_exit 1 "migrate without the fleet key fails" igl fleet migrate
assert_contains "$(cat "$T/last.err")" "$T/l/keys/fleet.key" "naming the missing key file"
cp -p "$T/keys/fleet.key" "$T/l/keys/fleet.key"
assert_exit 0 "migrate runs" igl fleet migrate
out=$(cat "$T/last.out")
assert_contains "$out" "3 local enrolments: 2 migrated, 0 already in the directory, 1 conflicts" "with the counts"
assert_contains "$out" "conflict   erin" "naming the conflict"
assert_eq "$(entry bob idgovTokenSecret | grep -c '^idgovTokenSecret:: ')" 1 "bob's sealed secret is in the directory"
assert_eq "$(attr bob idgovLastStep)" "$BOB_STEP" "with his watermark"
assert_eq "$(entry bob idgovRecoveryCode | grep -c '^idgovRecoveryCode: ')" 10 "and his unspent recovery codes"
assert_eq "$(entry erin idgovTokenSecret idgovLastStep)" "$erin_before" "erin's directory enrolment is left alone"
assert_exit 0 "migrate runs again" igl fleet migrate
assert_contains "$(cat "$T/last.out")" "3 local enrolments: 0 migrated, 2 already in the directory, 1 conflicts" \
	"and skips what it did (the directory's secret is the local one)"
assert_eq "$(sqll "SELECT count(*) FROM audit WHERE action = 'fleet.migrated'")" 2 "each person migrated is audited once"
assert_eq "$(sqll "SELECT count(*) FROM audit WHERE action = 'fleet.migrate_conflict' AND subject = 'erin'")" 2 \
	"each conflict at each run"
assert_eq "$(sqll "SELECT count(*) FROM audit WHERE action = 'fleet.migrate'")" 2 "each run once"
assert_eq "$(sqll "SELECT count(*) FROM mfa WHERE confirmed = 1")" 3 "the local enrolments stay"
if wait_for 10 sqlb_is "SELECT count(*) FROM fleet_tokens f JOIN users u ON u.uuid = f.user_uuid WHERE u.uid IN ('bob', 'carol') AND f.sealed IS NOT NULL" 2; then
	ok "the host's mirror has the migrated tokens"
else
	not_ok "the host's mirror lacks the migrated tokens"
fi

# --- fleet join on the host ---
assert_exit 0 "fleet join passes on the host" igb fleet join
out=$(cat "$T/last.out")
assert_contains "$out" "chown root:root $T/b/keys/fleet.key && chmod 0400 $T/b/keys/fleet.key" "it prints the steps"
assert_contains "$out" "In $T/b/etc/idgov.conf set" "naming this host's configuration file"
assert_contains "$out" "PASS  [fleet] mfa = directory" "mfa set"
assert_contains "$out" "PASS  key file root-owned and private" "the key file's owner and mode"
assert_contains "$out" "PASS  tokens in the mirror sealed under this key: $(sqlb "SELECT count(*) FROM fleet_tokens WHERE sealed IS NOT NULL") under" \
	"every mirrored token under its key"
assert_contains "$out" "PASS  a provider answers and binds: $URI" "a provider answers"
# The failing cases, in-process with changed configurations (the daemon keeps its own).
stop_pid_file "$T/b/run/idgovd.pid"
head -c 32 /dev/urandom >"$T/b/keys/other.key"
chmod 0400 "$T/b/keys/other.key"
sed -i "s|^key = .*|key = $T/b/keys/other.key|" "$T/b/etc/idgov.conf"
assert_exit 1 "fleet join fails with another key" igb fleet join
assert_contains "$(cat "$T/last.out")" "FAIL  tokens in the mirror sealed under this key: 0 under" "naming the key check"
chmod 0644 "$T/b/keys/other.key"
assert_exit 1 "fleet join fails with a key others can read" igb fleet join
assert_contains "$(cat "$T/last.out")" "FAIL  key file root-owned and private: owner uid 0, mode 0644" "naming the mode"
sed -i "s|^key = .*|key = $T/b/keys/missing.key|" "$T/b/etc/idgov.conf"
assert_exit 1 "fleet join fails without a key" igb fleet join
assert_contains "$(cat "$T/last.out")" "FAIL  key file present" "naming the missing file"
sed -i "s|^key = .*|key = $T/b/keys/fleet.key|; s|^mfa = directory$|mfa = local|" "$T/b/etc/idgov.conf"
assert_exit 1 "fleet join fails with mfa = local" igb fleet join
assert_contains "$(cat "$T/last.out")" "FAIL  [fleet] mfa = directory: still local" "saying so"
sed -i "s|^mfa = local$|mfa = directory|; s|^uri = .*|uri = ldap://127.0.0.1:1/|" "$T/b/etc/idgov.conf"
assert_exit 1 "fleet join fails when no provider answers" igb fleet join
assert_contains "$(cat "$T/last.out")" "FAIL  a provider answers and binds" "naming the provider check"
assert_exit 0 "mfa status falls back to the mirror when no provider answers" igb --json mfa status bob
assert_eq "$(jq -r .source "$T/last.out")/$(jq -r .enrolled "$T/last.out")" mirror/true "and says so"
assert_exit 1 "mfa reset changes nothing when no provider answers" igb mfa reset bob
assert_contains "$(cat "$T/last.err")" "no directory provider answers" "saying why"
assert_eq "$(entry bob idgovTokenSecret | grep -c '^idgovTokenSecret:: ')" 1 "bob is still enrolled"

stop_pid_file "$T/b/run/idgovd.pid"
finish
