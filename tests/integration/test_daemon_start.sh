#!/usr/bin/env bash
# idgovd's start: a directory that refuses the bind password fails it
# (non-zero exit before forking, the reason on stderr), a directory that is
# down does not; a relative -c works and SIGHUP rereads it after the
# daemon moved to /; idgov status exits 1 while disconnected; an unknown
# [sync] timezone fails the start.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

it_setup
good=$(cat "$T/slapd/rootpw")
printf 'wrong-password\n' > "$T/slapd/rootpw"
out=$("$IDGOVD" -c "$T/etc/idgov.conf" -p "$T/run/idgovd.pid" 2>&1)
rc=$?
assert_eq "$rc" 1 "a refused bind fails the start"
assert_contains "$out" "Invalid credentials" "the reason is on stderr"
assert_exit 1 "no daemon was left behind" test -e "$T/run/idgovd.pid"
printf '%s\n' "$good" > "$T/slapd/rootpw"

# An unknown [sync] timezone fails the start with the reason.
cp "$T/etc/idgov.conf" "$T/etc/good.conf"
printf '[sync]\ntimezone = Mars/Olympus\n' >> "$T/etc/idgov.conf"
out=$("$IDGOVD" -c "$T/etc/idgov.conf" -p "$T/run/idgovd.pid" 2>&1)
assert_eq "$?" 1 "an unknown reconciliation time zone fails the start"
assert_contains "$out" "[sync] timezone: 'Mars/Olympus' is not a known IANA time zone" "it says why"
mv "$T/etc/good.conf" "$T/etc/idgov.conf"

slapd_stop "$T/slapd"
start_relative() { (cd "$T" && "$IDGOVD" -c etc/idgov.conf -p run/idgovd.pid); }
assert_exit 0 "starts with the directory down, relative -c" start_relative
if wait_for 5 test -S "$T/run/idgov.sock"; then ok "socket"; else not_ok "socket"; fi
assert_exit 1 "status exits 1 while disconnected" ig status
kill -HUP "$(cat "$T/run/idgovd.pid")"
if wait_for 5 sql_is "SELECT count(*) FROM audit WHERE action='config.reload' AND details LIKE '%\"ok\"%'" 1; then
	ok "SIGHUP rereads a relative -c"
else
	not_ok "SIGHUP rereads a relative -c"
fi
slapd_restart "$T/slapd" || exit 1
persisting() { [ "$(ig --json status | jq -r .daemon.connection)" = persist ]; }
if wait_for 10 persisting; then ok "connected"; else not_ok "connected: $(ig --json status | jq -c .daemon)"; fi
assert_exit 0 "status exits 0 when connected" ig status
daemon_stop
finish
