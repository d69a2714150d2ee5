# shellcheck shell=bash
# Helpers for the grant and account tests: a config with grants, break-glass,
# accounts and a notify command that files every message, and the CLI run
# under other uids. Needs root (setpriv).
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "skipped: needs root and setpriv to run the CLI under other uids"
	exit 77
fi

grants_setup() {
	it_setup
	ldif < "$ROOT/tests/fixtures/unix-users.ldif" || exit 1
	ldif <<LDIF || exit 1
dn: ou=SUDOers,dc=example,dc=com
changetype: add
objectClass: organizationalUnit
ou: SUDOers
LDIF
	cat > "$T/notify.sh" <<SH
#!/bin/sh
cat >> "$T/mail.log"
echo "--" >> "$T/mail.log"
SH
	chmod 755 "$T/notify.sh"
	cat >> "$T/etc/idgov.conf" <<CONF
[grants]
approvers = 1
group_max_duration = admins = 8h
max_pending = 1h
ending_soon = 2s
retry_max = 2
sudo_base = ou=SUDOers,dc=example,dc=com
sudo_command = /usr/bin/systemctl restart postgresql
[breakglass]
group = oncall
max_duration = 30m
[accounts]
base = ou=People,dc=example,dc=com
uid_min = 70000
uid_max = 70009
retention = ${RETENTION:-1h}
[notify]
command = $T/notify.sh
admin_mail = admins@example.com
CONF
	chmod 755 "$T/etc" "$T/slapd"
	chmod 644 "$T/etc/idgov.conf"
	ig sync >/dev/null || exit 1
}

# as UID idgov ARGS...: the CLI as another user.
as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$IDGOV" -c "$T/etc/idgov.conf" "$@"
}

# members GROUP: the group's member and memberUid values, one per line, sorted.
members() {
	ldapsearch -LLL -x -o ldif-wrap=no -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" \
		-y "$T/slapd/rootpw" -b "cn=$1,ou=Groups,dc=example,dc=com" -s base \
		member memberUid | sed -n 's/^\(member\|memberUid\): //p' | sort
}

# has_member GROUP VALUE / lacks_member GROUP VALUE: for wait_for.
has_member() { members "$1" | grep -qx "$2"; }
lacks_member() { ! members "$1" | grep -qx "$2"; }

# grant_field ID FIELD: one field of `idgov --json grant show ID`.
grant_field() {
	ig --json grant show "$1" | jq -r ".$2"
}
