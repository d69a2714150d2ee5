#!/usr/bin/env bash
# The audit head's copy in the directory ([store] audit_anchor_dn): idgovd
# publishes each signed head to it, and `idgov audit verify` compares the
# store with it. A tail cut together with an older (genuine) anchor file
# put back still fails, because the directory copy is off the host.
. "$(dirname "$0")/lib.sh"

it_setup
mkdir -p "$T/run"
syslog_sink
entry=ou=People,dc=example,dc=com
sed -i "s/^audit_sign_every = 50$/&\naudit_anchor_dn = $entry\naudit_anchor_attr = description/" \
	"$T/etc/idgov.conf"

dir_head() {
	ldapsearch -x -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" \
		-LLL -o ldif-wrap=no -s base -b "$entry" description |
		sed -n 's/^description: audit head seq=\([0-9]*\) .*/\1/p'
}
dir_head_is() {
	[ "$(dir_head)" = "$1" ]
}

# Without the daemon nothing is published; verify says so, and passes.
assert_exit 0 "verify passes before anything is published" ig audit verify
assert_eq "$(ig --json audit verify | jq .directory_anchor)" 0 "no head in the directory yet"

assert_exit 0 "idgovd starts" daemon_start
wait_for 10 sql_is "SELECT count(*) > 0 FROM audit WHERE action = 'sync.baseline'" 1
assert_exit 0 "user list through the daemon" ig user list
saved=$(cat "$T/keys/audit.anchor")
saved_seq=$(sql "SELECT max(seq) FROM audit_signatures")
assert_exit 0 "group list through the daemon" ig group list
assert_exit 0 "user show through the daemon" ig user show alice
head=$(sql "SELECT max(seq) FROM audit_signatures")
wait_for 5 dir_head_is "$head"
assert_eq "$(dir_head)" "$head" "idgovd published the newest head to $entry"
assert_exit 0 "verify passes against the anchor file and the directory" ig audit verify
assert_contains "$(cat "$T/last.out")" "anchored at" "verify prints the anchor"
daemon_stop

# Cut the tail at an older head and put the anchor file of that time back.
head=$(dir_head)
sql "DELETE FROM audit WHERE seq > $saved_seq; DELETE FROM audit_signatures WHERE seq > $saved_seq"
printf '%s\n' "$saved" >"$T/keys/audit.anchor"
assert_exit 1 "verify fails: the directory holds a later head" ig audit verify
assert_contains "$(cat "$T/last.out")" \
	"records $((saved_seq + 1))..$head are missing (directory entry says head $head, the store ends at $saved_seq)" \
	"and names the missing range"

# The daemon does not lower the directory's copy over the cut.
assert_exit 0 "idgovd starts again" daemon_start
ig user list >/dev/null
wait_for 5 grep -q "audit head in $entry: the store's head" "$T/syslog.txt"
assert_logged "$T/syslog.txt" "audit head in $entry: the store's head" \
	"publishing over the cut is refused and alerted"
assert_eq "$(dir_head)" "$head" "the directory's copy is kept"
daemon_stop

# The reset moves the directory's copy back with the anchor file.
now=$(sql "SELECT max(seq) FROM audit_signatures")
assert_exit 0 "anchor --reset --confirm HEAD" ig audit anchor --reset --confirm "$now"
assert_eq "$(dir_head)" $((now + 1)) "the directory's copy is reset too"
assert_exit 0 "the chain verifies after the reset" ig audit verify

# An unreachable directory fails verify when a copy is configured.
sed -i "s|^uri = .*|uri = ldap://127.0.0.1:1/|" "$T/etc/idgov.conf"
assert_exit 1 "verify fails when the directory cannot be read" ig audit verify
assert_contains "$(cat "$T/last.out")" "cannot read the audit head from the directory" "and says so"

finish
