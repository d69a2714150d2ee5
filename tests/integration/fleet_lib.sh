# shellcheck shell=bash
# A fleet on one machine, for the fleet's integration tests (and bench/fleet):
# two slapd providers in multi-provider replication and any number of idgov
# instances (a governor, hosts), each with its own configuration, state
# directory, keys and sockets, binding with its own service DN.
#
# The providers, $T/p1 and $T/p2, are tests/lib/slapd.sh instances with:
#   - olcServerID 1 and 2, olcMultiProvider TRUE on the database, syncprov
#     (with its session log) and an olcSyncrepl (refreshAndPersist, retry
#     every second) to the other, bound as the other's root DN (which no ACL
#     limits, so the whole tree and its operational attributes replicate);
#   - idgov's schema, and the ACL of schema/ldap/idgov-acl.ldif with its
#     suffix replaced by the test's: the governors group may write the lease
#     and every governance change, the hosts group only token state and
#     last-login attributes of people;
#   - the same data: tests/fixtures/org.ldif (or the file given) and
#     ou=idgov with the service DNs and the two groups, loaded into p1 with
#     slapadd and copied to p2 with slapcat, so that entryUUIDs and CSNs are
#     the same on both before they start.
#
#   fleet_providers_start [LDIF]  set up, load and start both; P1_URI, P2_URI
#   fleet_provider_stop N         stop provider N (by its pid file)
#   fleet_provider_start N        start provider N again on the same URI
#   fleet_in_sync                 both serve the same contextCSN (for wait_for)
#   fleet_search N ARGS...        ldapsearch as the root DN on provider N
#   fleet_modify N                ldapmodify as the root DN on provider N
#   fleet_as N NAME               ldapmodify bound as service DN NAME on N;
#                                 prints the LDAP result code
#   fleet_instance NAME ROLE [URIS]  an idgov instance under $T/NAME bound as
#                                 cn=NAME,ou=idgov (a member of the governors
#                                 or the hosts group by ROLE), [fleet] role,
#                                 name and lease_dn set, `idgov init` run;
#                                 URIS (default "P1 P2") is [directory] uri
#   fleet_ig NAME ARGS...         the idgov CLI with NAME's configuration
#   fleet_daemon_start NAME       idgovd for NAME ($T/NAME/run/idgovd.pid)
#   fleet_daemon_stop NAME
#   fleet_sql NAME QUERY          NAME's store
#   fleet_mfa_directory NAME OFFLINE [KEY_FROM]
#                                 [fleet] mfa = directory for NAME (the
#                                 providers P1 then P2 for every instance,
#                                 offline = OFFLINE, a wide TOTP window and
#                                 no failure delay); the fleet key made by
#                                 `idgov init` (a governor) or copied from
#                                 instance KEY_FROM (a host)
#   fleet_authd_start NAME        NAME's auth service, on its own socket,
#                                 with a PAM service file for it
#   fleet_pam NAME USER ACTION... pamtester through NAME's auth service
#   fleet_enroll NAME USER        `idgov mfa enroll USER` on NAME, confirmed
#                                 with the code of this step (lib.sh's
#                                 enrol_with); sets SECRET and BASE for
#                                 lib.sh's code, and ENROL_OUT
#
# Service DNs are made when the providers are set up: FLEET_GOVERNORS and
# FLEET_HOSTS (space-separated names, defaults "gov1 gov2" and "hostA
# hostB") list them; each has the password "NAME-secret" in $T/pw/NAME.

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLEET_GOVERNORS=${FLEET_GOVERNORS:-gov1 gov2}
FLEET_HOSTS=${FLEET_HOSTS:-hostA hostB}
FLEET_OU="ou=idgov,$SLAPD_SUFFIX"
FLEET_LEASE="cn=governor,$FLEET_OU"
FLEET_INSTANCES=""

# Everything this library started, stopped at exit, then lib.sh's own
# cleanup (which keeps $T when something failed). lib.sh's cleanup is
# renamed and wrapped, so that every trap that calls `cleanup` (lib.sh's
# syslog_sink sets its own) stops the fleet too.
eval "lib_$(declare -f cleanup)"
cleanup() {
	local - name f pid pids=()
	set +e
	# All asked at once (SIGTERM), then each waited for, up to 10 s, then
	# killed: a hundred agents stop in the time of one.
	for name in $FLEET_INSTANCES; do
		for f in "$T/$name/run/idgovd.pid" "$T/$name/run/authd.pid"; do
			pid=$(cat "$f" 2>/dev/null) && kill "$pid" 2>/dev/null && pids+=("$pid")
		done
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 200); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
	done
	slapd_stop "$T/p1"
	slapd_stop "$T/p2"
	lib_cleanup
}

# The service DNs and their groups under ou=idgov.
fleet_service_ldif() {
	local name
	printf 'dn: %s\nobjectClass: organizationalUnit\nou: idgov\n\n' "$FLEET_OU"
	for name in $FLEET_GOVERNORS $FLEET_HOSTS; do
		printf 'dn: cn=%s,%s\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: %s\nuserPassword: %s-secret\n\n' \
			"$name" "$FLEET_OU" "$name" "$name"
	done
	printf 'dn: cn=idgov-governors,%s\nobjectClass: groupOfNames\ncn: idgov-governors\n' "$FLEET_OU"
	for name in $FLEET_GOVERNORS; do
		printf 'member: cn=%s,%s\n' "$name" "$FLEET_OU"
	done
	printf '\ndn: cn=idgov-hosts,%s\nobjectClass: groupOfNames\ncn: idgov-hosts\n' "$FLEET_OU"
	for name in $FLEET_HOSTS; do
		printf 'member: cn=%s,%s\n' "$name" "$FLEET_OU"
	done
}

# fleet_provider_config N: the server ID, multi-provider mode and the ACL
# into provider N's cn=config, offline (slapmodify), before anything is
# loaded.
fleet_provider_config() {
	local n=$1 dir=$T/p$1
	{
		cat <<LDIF
dn: cn=config
changetype: modify
add: olcServerID
olcServerID: $n

dn: olcDatabase={1}mdb,cn=config
changetype: modify
add: olcSyncrepl
olcSyncrepl: $(fleet_syncrepl "$n" ldap://127.0.0.1:1/)
-
add: olcMultiProvider
olcMultiProvider: TRUE

LDIF
		sed "s/dc=example,dc=com/$SLAPD_SUFFIX/g" "$ROOT/schema/ldap/idgov-acl.ldif"
	} >"$dir/fleet-config.ldif"
	slapmodify -n0 -F "$dir/slapd.d" -l "$dir/fleet-config.ldif" >"$dir/slapmodify.log" 2>&1 || {
		echo "provider $n: slapmodify of cn=config failed: $(cat "$dir/slapmodify.log")" >&2
		return 1
	}
}

# fleet_syncrepl N PEER_URI: provider N's olcSyncrepl value (a placeholder
# peer until the ports are known: olcMultiProvider needs one to exist).
fleet_syncrepl() {
	printf '{0}rid=00%s provider=%s bindmethod=simple binddn="%s" credentials=secret searchbase="%s" type=refreshAndPersist retry="1 +" timeout=3 network-timeout=3' \
		"$1" "$2" "$SLAPD_ROOTDN" "$SLAPD_SUFFIX"
}

# fleet_provider_peer N PEER_URI: provider N (stopped) replicates from PEER_URI.
fleet_provider_peer() {
	local n=$1 dir=$T/p$1
	cat >"$dir/fleet-peer.ldif" <<LDIF
dn: olcDatabase={1}mdb,cn=config
changetype: modify
replace: olcSyncrepl
olcSyncrepl: $(fleet_syncrepl "$n" "$2")
LDIF
	slapmodify -n0 -F "$dir/slapd.d" -l "$dir/fleet-peer.ldif" >"$dir/slapmodify.log" 2>&1 || {
		echo "provider $n: slapmodify of olcSyncrepl failed: $(cat "$dir/slapmodify.log")" >&2
		return 1
	}
}

fleet_providers_start() {
	local ldif=${1:-$ROOT/tests/fixtures/org.ldif} name try
	slapd_setup "$T/p1" || return 1
	slapd_setup "$T/p2" || return 1
	fleet_provider_config 1 || return 1
	fleet_provider_config 2 || return 1
	mkdir -p "$T/pw"
	for name in $FLEET_GOVERNORS $FLEET_HOSTS; do
		printf '%s-secret' "$name" >"$T/pw/$name"
		chmod 600 "$T/pw/$name"
	done
	fleet_service_ldif >"$T/fleet-services.ldif"
	cat "$ldif" - "$T/fleet-services.ldif" <<<"" >"$T/fleet-data.ldif"
	slapd_load "$T/p1" "$T/fleet-data.ldif" || return 1
	# The same entries (entryUUID, entryCSN and the contextCSN) on p2.
	slapcat -F "$T/p1/slapd.d" -b "$SLAPD_SUFFIX" -l "$T/p1.slapcat" 2>"$T/p1/slapcat.log" || {
		cat "$T/p1/slapcat.log" >&2
		return 1
	}
	slapadd -q -F "$T/p2/slapd.d" -b "$SLAPD_SUFFIX" -l "$T/p1.slapcat" >"$T/p2/slapadd.log" 2>&1 || {
		cat "$T/p2/slapadd.log" >&2
		return 1
	}
	# Each names the other's port in its configuration, so a port taken
	# meanwhile (by another test) means new ports for both.
	for try in 1 2 3 4 5; do
		P1_URI="ldap://127.0.0.1:$(slapd_free_port)/"
		P2_URI="ldap://127.0.0.1:$(slapd_free_port)/"
		[ "$P2_URI" = "$P1_URI" ] && continue
		fleet_provider_peer 1 "$P2_URI" || return 1
		fleet_provider_peer 2 "$P1_URI" || return 1
		echo "$P1_URI" >"$T/p1/uri"
		echo "$P2_URI" >"$T/p2/uri"
		if fleet_provider_start 1 2>"$T/provider-start.err" && fleet_provider_start 2 2>>"$T/provider-start.err"; then
			break
		fi
		fleet_provider_stop 1
		fleet_provider_stop 2
		if [ "$try" = 5 ]; then
			cat "$T/provider-start.err" >&2
			return 1
		fi
	done
	wait_for 20 fleet_in_sync || {
		echo "the providers did not reach the same contextCSN" >&2
		return 1
	}
}

# Starts provider N on its URI (a first start, or again after a stop).
fleet_provider_start() {
	slapd_restart "$T/p$1" || {
		echo "provider $1 did not start on $(cat "$T/p$1/uri"): $(cat "$T/p$1/slapd.log")" >&2
		return 1
	}
}

fleet_provider_stop() {
	slapd_stop "$T/p$1"
}

fleet_search() {
	local n=$1
	shift
	ldapsearch -x -LLL -o ldif-wrap=no -H "$(cat "$T/p$n/uri")" -D "$SLAPD_ROOTDN" -y "$T/p$n/rootpw" "$@"
}

fleet_modify() {
	ldapmodify -x -H "$(cat "$T/p$1/uri")" -D "$SLAPD_ROOTDN" -y "$T/p$1/rootpw" >/dev/null
}

# fleet_as N NAME < LDIF: prints ldapmodify's exit code (the LDAP result code).
fleet_as() {
	ldapmodify -x -H "$(cat "$T/p$1/uri")" -D "cn=$2,$FLEET_OU" -y "$T/pw/$2" >"$T/as.out" 2>&1
	echo $?
}

# The contextCSN values of the suffix on provider N, one line, sorted.
fleet_context_csn() {
	fleet_search "$1" -s base -b "$SLAPD_SUFFIX" contextCSN 2>/dev/null |
		sed -n 's/^contextCSN: //p' | sort | tr '\n' ' '
}

fleet_in_sync() {
	local a b
	a=$(fleet_context_csn 1)
	b=$(fleet_context_csn 2)
	[ -n "$a" ] && [ "$a" = "$b" ]
}

# fleet_attr N DN ATTR: the values of ATTR of DN on provider N, one a line.
fleet_attr() {
	fleet_search "$1" -s base -b "$2" "$3" 2>/dev/null | sed -n "s/^$3: //p"
}

# fleet_attr_is N DN ATTR VALUE: for wait_for.
fleet_attr_is() {
	[ "$(fleet_attr "$1" "$2" "$3")" = "$4" ]
}

fleet_instance() {
	local name=$1 role=$2 uris=${3:-"$P1_URI $P2_URI"} d=$T/$1
	mkdir -p "$d/etc" "$d/run"
	{
		idgov_conf "$d" "$uris" "cn=$name,$FLEET_OU" "$T/pw/$name" "idgov-$name"
		cat <<CONF
[fleet]
role = $role
name = $name
lease_dn = $FLEET_LEASE
lease_ttl = ${FLEET_LEASE_TTL:-6s}
CONF
	} >"$d/etc/idgov.conf"
	"$IDGOV" -c "$d/etc/idgov.conf" init >"$d/init.out" 2>&1 || {
		echo "idgov init for $name failed: $(cat "$d/init.out")" >&2
		return 1
	}
	FLEET_INSTANCES="$FLEET_INSTANCES $name"
}

fleet_ig() {
	local name=$1
	shift
	"$IDGOV" -c "$T/$name/etc/idgov.conf" "$@"
}

fleet_daemon_start() {
	"$IDGOVD" -c "$T/$1/etc/idgov.conf" -p "$T/$1/run/idgovd.pid"
}

fleet_daemon_stop() {
	stop_pid_file "$T/$1/run/idgovd.pid"
}

fleet_sql() {
	sqlite3 -batch -cmd ".timeout 5000" "$T/$1/state/idgov.db" "$2"
}

# fleet_sql_is NAME QUERY EXPECTED: for wait_for.
fleet_sql_is() {
	[ "$(fleet_sql "$1" "$2")" = "$3" ]
}

fleet_mfa_directory() {
	local name=$1 offline=$2 from=${3:-} d=$T/$1
	sed -i "s|^lease_ttl = .*|&\nmfa = directory\nkey = $d/keys/fleet.key\nproviders = $P1_URI $P2_URI\ntimeout_ms = 500\noffline = $offline|" \
		"$d/etc/idgov.conf"
	printf '[mfa]\nwindow = 8\nfail_delay_ms = 0\n' >>"$d/etc/idgov.conf"
	if [ -n "$from" ]; then
		cp -p "$T/$from/keys/fleet.key" "$d/keys/fleet.key" || return 1
	else
		"$IDGOV" -c "$d/etc/idgov.conf" init >"$d/init.out" 2>&1 || {
			echo "idgov init (fleet key) for $name failed: $(cat "$d/init.out")" >&2
			return 1
		}
	fi
	[ -f "$d/keys/fleet.key" ] || {
		echo "$name has no fleet key" >&2
		return 1
	}
}

fleet_authd_start() {
	local d=$T/$1 stack
	grep -q '^\[authd\]$' "$d/etc/idgov.conf" ||
		printf '[authd]\nsocket = %s\nclient_uid = %s\n' "$d/run/authd.sock" "$(id -u)" >>"$d/etc/idgov.conf"
	mkdir -p "$d/pam.d"
	for stack in auth account session; do
		echo "$stack required $BUILD/pam_module/pam_idgov.so socket=$d/run/authd.sock server_uid=$(id -u) spool=$d/state/spool"
	done >"$d/pam.d/idgov"
	("$AUTHD" -c "$d/etc/idgov.conf" -p "$d/run/authd.pid" >/dev/null 2>>"$d/authd.err" &)
	wait_for 10 test -S "$d/run/authd.sock" || {
		echo "$1's idgov-authd did not start: $(cat "$d/authd.err")" >&2
		return 1
	}
}

fleet_pam() {
	local name=$1
	shift
	LD_PRELOAD="$(pam_preload)" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/$name/pam.d" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		pamtester idgov "$@"
}

fleet_enroll() {
	enrol_with "$T/$1/etc/idgov.conf" "$2" 0
}
