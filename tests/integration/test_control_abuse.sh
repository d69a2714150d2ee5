#!/usr/bin/env bash
# What a caller who is not an admin can do to the audit chain and to an
# admin's terminal. 300 refused requests as nobody, with 60 KB names and
# names that carry a newline, a forged audit line and escape sequences,
# add a bounded number of records; their count is written when the daemon
# stops; `idgov audit list` and `idgov user show` print no ESC byte and no
# forged line, while --json stays valid JSON. Needs root (setpriv).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "skipped: needs root and setpriv to run the CLI under other uids"
	exit 77
fi
it_setup
chmod 755 "$T/etc" "$T/slapd"
chmod 644 "$T/etc/idgov.conf"
assert_exit 0 "idgovd starts" daemon_start

# raw UID: a request line from stdin to the socket, as UID.
raw() {
	setpriv --reuid="$1" --regid="$1" --clear-groups "$BUILD/tests/sockclient" "$T/run/idgov.sock"
}
records() { sql "SELECT count(*) FROM audit"; }
nobody() { sql "SELECT count(*) FROM audit WHERE actor = 'nobody'"; }

esc=$(printf '\033')
forged='x\n    99 2026-12-01 00:00:00 root         grant.approve          grant:1\u001b[2J\u001b]0;pwned\u0007'
big=$(head -c 60000 /dev/zero | tr '\0' 'a')

before=$(nobody)
reply=$(printf '{"v":1,"op":"mfa.reset","args":{"name":"%s"}}\n' "$forged" | raw 65534)
assert_contains "$reply" '"ok":false' "a forged name is refused"
reply=$(printf '{"v":1,"op":"user.show","args":{"name":"%s"}}\n' "$big" | raw 65534)
assert_contains "$reply" '"code":"bad_request"' "a 60 KB name is refused"
reply=$(printf '{"v":1,"op":"user.list","args":{"%s":1}}\n' "$forged" | raw 65534)
assert_contains "$reply" "unknown argument (its name not shown)" "an argument named with controls is not echoed"
start=$(date +%s)
for i in $(seq 1 300); do
	case $((i % 3)) in
	0) printf '{"v":1,"op":"sync"}\n' ;;
	1) printf '{"v":1,"op":"user.show","args":{"name":"%s"}}\n' "$big" ;;
	2) printf '{"v":1,"op":"mfa.reset","args":{"name":"%s"}}\n' "$forged" ;;
	esac | raw 65534 >/dev/null
done
elapsed=$(($(date +%s) - start))
added=$(($(nobody) - before))
# One record for the minute's first refusal, and at most one count and one
# new first refusal if the loop crossed into the next minute.
if [ "$added" -le 3 ]; then
	ok "303 refusals as nobody in ${elapsed}s added $added records"
else
	not_ok "303 refusals as nobody added $added records"
fi
assert_eq "$(sql "SELECT count(*) FROM audit WHERE length(subject) > 256 OR length(details) > 1024")" 0 \
	"no record holds a long subject or details"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE subject <> '-' AND actor = 'nobody'")" 0 \
	"nobody's invalid names are not subjects"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE instr(actor || subject || action || details, char(27)) > 0 OR instr(actor || subject || action || details, char(10)) > 0")" 0 \
	"no record holds a raw ESC or newline"

# A directory value with a newline and escape sequences, shown to an admin.
ldif <<LDIF
dn: uid=alice,ou=People,dc=example,dc=com
changetype: modify
replace: displayName
displayName:: $(printf 'Alice\033[31m Red\nuser:        root' | base64 -w0)
LDIF
assert_exit 0 "sync" ig sync
ig user show alice >"$T/show.out" 2>&1
assert_eq "$(grep -c "$esc" "$T/show.out")" 0 "user show prints no ESC byte"
assert_eq "$(grep -c '^user:' "$T/show.out")" 1 "user show prints no forged line"
assert_contains "$(cat "$T/show.out")" 'Alice\x1b[31m Red\x0auser:' "the value is shown escaped"
ig --json user show alice >"$T/show.json"
assert_eq "$(jq -r .display_name "$T/show.json" | head -1)" "Alice${esc}[31m Red" "--json keeps the value as it is"

# Every record printed on one line of its own, with no escape sequence
# (the listing's own record comes after it).
listed=$(records)
ig audit list >"$T/list.out" 2>&1
assert_eq "$(grep -c "$esc" "$T/list.out")" 0 "audit list prints no ESC byte"
assert_eq "$(wc -l <"$T/list.out")" "$listed" "audit list prints one line per record"
assert_eq "$(grep -c 'root *grant.approve' "$T/list.out")" 0 "no forged grant.approve line"
assert_exit 0 "audit list --json is valid JSON" sh -c "'$IDGOV' -c '$T/etc/idgov.conf' --json audit list | jq -e 'length > 0'"

# The count is written when the minute is over, at the latest at shutdown.
daemon_stop
counted=$(sql "SELECT coalesce(sum(json_extract(details, '\$.count')), 0) FROM audit WHERE action = 'control.refused' AND actor = 'nobody'")
first=$(sql "SELECT count(*) FROM audit WHERE actor = 'nobody' AND action <> 'control.refused'")
assert_eq "$((counted + first))" 303 "every refusal is a record or in a count"
assert_exit 0 "audit chain verifies" ig audit verify
finish
