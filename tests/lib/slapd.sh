# shellcheck shell=bash
# A private slapd for tests, the demo and benchmarks: cn=config generated
# with slapadd, an mdb database for dc=example,dc=com, syncprov with a
# session log (so deletes arrive as a delete phase), and ppolicy for
# pwdAccountLockedTime. It listens on 127.0.0.1 only, on a free port.
#
#   slapd_setup DIR [--no-syncprov]   generate the config under DIR; with
#                                     SLAPD_TLS_DIR set (ca.pem, server.pem,
#                                     server.key) slapd also offers StartTLS
#                                     and an ldaps:// listener (DIR/ldaps_uri)
#                                     With SLAPD_REFINT=1 it also runs
#                                     memberof and refint (as most sites
#                                     do): renaming or deleting an entry
#                                     rewrites the member values of every
#                                     group that held it, internally
#   slapd_load DIR FILE.ldif          bulk-load entries (slapadd -q -w)
#   slapd_start DIR                   start; sets SLAPD_URI and SLAPD_PORT
#   slapd_stop DIR                    stop by the pid in its own pid file
#
# The root DN is cn=admin,dc=example,dc=com with the password in DIR/rootpw.

SLAPD_SUFFIX="dc=example,dc=com"
# idgov's LDAP schema files (the sudoRole schema for sudo grants, idgov's own).
SLAPD_SCHEMA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../schema/ldap" && pwd)
SLAPD_ROOTDN="cn=admin,$SLAPD_SUFFIX"

# A port nothing listens on now (slapd_start retries if it loses a race for it).
slapd_free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

slapd_setup() {
	local dir=$1 mode=${2:-}
	local overlays
	rm -rf "$dir"
	mkdir -p "$dir/slapd.d" "$dir/data"
	printf 'secret' > "$dir/rootpw"
	chmod 600 "$dir/rootpw"
	overlays="olcModuleLoad: back_mdb"
	[ "$mode" = "--no-syncprov" ] || overlays="$overlays
olcModuleLoad: syncprov"
	[ -e /usr/lib/ldap/ppolicy.so ] && overlays="$overlays
olcModuleLoad: ppolicy"
	[ "${SLAPD_REFINT:-}" = 1 ] && overlays="$overlays
olcModuleLoad: memberof
olcModuleLoad: refint"
	local tls=""
	if [ -n "${SLAPD_TLS_DIR:-}" ]; then
		tls="olcTLSCACertificateFile: $SLAPD_TLS_DIR/ca.pem
olcTLSCertificateFile: $SLAPD_TLS_DIR/server.pem
olcTLSCertificateKeyFile: $SLAPD_TLS_DIR/server.key"
	fi
	cat > "$dir/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcArgsFile: $dir/slapd.args
olcLogLevel: none
$tls

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
$overlays

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file://$SLAPD_SCHEMA_DIR/sudo.ldif
include: file://$SLAPD_SCHEMA_DIR/idgov.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $dir/data
olcSuffix: $SLAPD_SUFFIX
olcRootDN: $SLAPD_ROOTDN
olcRootPW: secret
olcDbMaxSize: 8589934592
olcSizeLimit: unlimited
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: uid,memberUid,member eq
LDIF
	if [ "$mode" != "--no-syncprov" ]; then
		cat >> "$dir/config.ldif" <<LDIF

dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {0}syncprov
olcSpCheckpoint: 100 10
olcSpSessionlog: 10000
LDIF
	fi
	if [ -e /usr/lib/ldap/ppolicy.so ]; then
		cat >> "$dir/config.ldif" <<LDIF

dn: olcOverlay={1}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {1}ppolicy
LDIF
	fi
	if [ "${SLAPD_REFINT:-}" = 1 ]; then
		cat >> "$dir/config.ldif" <<LDIF

dn: olcOverlay={2}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {2}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={3}refint,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {3}refint
olcRefintAttribute: member
LDIF
	fi
	slapadd -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd-config.log" 2>&1 || {
		cat "$dir/slapadd-config.log" >&2
		return 1
	}
}

slapd_load() {
	local dir=$1 ldif=$2
	slapadd -q -w -F "$dir/slapd.d" -b "$SLAPD_SUFFIX" -l "$ldif" >"$dir/slapadd.log" 2>&1 || {
		tail -20 "$dir/slapadd.log" >&2
		return 1
	}
}

slapd_start() {
	local dir=$1 try
	local listen
	for try in 1 2 3 4 5; do
		SLAPD_PORT=$(slapd_free_port)
		SLAPD_URI="ldap://127.0.0.1:$SLAPD_PORT/"
		listen=$SLAPD_URI
		if [ -n "${SLAPD_TLS_DIR:-}" ]; then
			SLAPD_LDAPS_URI="ldaps://127.0.0.1:$(slapd_free_port)/"
			listen="$listen $SLAPD_LDAPS_URI"
			echo "$SLAPD_LDAPS_URI" > "$dir/ldaps_uri"
		fi
		slapd -F "$dir/slapd.d" -h "$listen" -s 0 >"$dir/slapd.log" 2>&1 && break
		[ "$try" = 5 ] && { cat "$dir/slapd.log" >&2; return 1; }
	done
	echo "$SLAPD_URI" > "$dir/uri"
	slapd_wait "$SLAPD_URI" && return 0
	echo "slapd did not answer on $SLAPD_URI" >&2
	return 1
}

# slapd_wait URI: 0 once a rootDSE search on URI answers (polled every
# 100 ms), 1 after 10 s without an answer.
slapd_wait() {
	for _ in $(seq 1 100); do
		ldapsearch -x -H "$1" -s base -b "" -LLL 1.1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# stop_pid_file FILE: SIGTERM the process whose pid FILE holds, wait up to
# 10 s for it to exit, then SIGKILL it.
stop_pid_file() {
	local file=$1 pid
	[ -f "$file" ] || return 0
	pid=$(cat "$file")
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
	rm -f "$file"
}

slapd_stop() {
	stop_pid_file "$1/slapd.pid"
}

# ldapmodify/ldapadd as the root DN against the running instance.
slapd_modify() {
	local dir=$1
	shift
	ldapmodify -x -H "$(cat "$dir/uri")" -D "$SLAPD_ROOTDN" -y "$dir/rootpw" "$@" >/dev/null
}

# Starts a stopped instance again on the URI it had.
slapd_restart() {
	local dir=$1 uri
	uri=$(cat "$dir/uri")
	slapd -F "$dir/slapd.d" -h "$uri" -s 0 >"$dir/slapd.log" 2>&1 || return 1
	slapd_wait "$uri"
}
