#!/usr/bin/env bash
# The directory goes away while idgovd runs: the daemon notices, reports
# itself disconnected, retries with capped backoff, and when the directory
# returns it resumes from the cookie and picks up what changed meanwhile.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
assert_exit 0 "idgovd starts" daemon_start
if wait_for 5 daemon_connection_is persist; then ok "persisting"; else not_ok "persisting"; fi

slapd_stop "$T/slapd"
if wait_for 10 daemon_connection_is disconnected; then
	ok "daemon notices the directory is gone"
else
	not_ok "daemon notices the directory is gone"
fi
assert_contains "$(ig --json status | jq -r .daemon.last_error)" "$(sed 's|/$||' "$T/slapd/uri")" \
	"last error names the directory"

# Change the data while idgovd cannot see it (slapd stopped: edit offline).
cat > "$T/offline.ldif" <<'L'
dn: uid=olga,ou=People,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: posixAccount
uid: olga
cn: Olga
sn: O
uidNumber: 10040
gidNumber: 10000
homeDirectory: /home/olga
L
slapadd -q -w -F "$T/slapd/slapd.d" -b dc=example,dc=com -l "$T/offline.ldif" >/dev/null 2>&1
slapd_restart "$T/slapd" || not_ok "slapd restarts"
# reconnect_max is 2 s in the test config, so the retry comes quickly.
if wait_for 15 sql_is "SELECT count(*) FROM users WHERE uid='olga'" 1; then
	ok "reconnected and picked up the change made while disconnected"
else
	not_ok "reconnected: $(ig --json status | jq -c .daemon)"
fi
assert_eq "$(ig --json status | jq -r .daemon.connection)" persist "persisting again"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='sync.baseline'")" 1 "resumed, not re-baselined"

ldif <<'L'
dn: uid=olga,ou=People,dc=example,dc=com
changetype: modify
replace: mail
mail: olga@example.com
L
if wait_for 5 sql_is "SELECT mail FROM users WHERE uid='olga'" olga@example.com; then
	ok "live changes flow again after the reconnect"
else
	not_ok "live changes flow again after the reconnect"
fi
assert_exit 0 "audit chain verifies" ig audit verify
finish
