#!/usr/bin/env bash
# Access rules at login through the real libpam: time windows in a named
# zone, source networks (PAM_RHOST), a remote service without a remote
# host, each denial naming its rule in syslog and the audit chain; and
# `idgov policy check` explaining the same decisions without side effects.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
# Windows around now and far from now, in UTC, so the test never depends on the hour.
now_h=$(date -u +%-H)
open_win="Mo-Su $(printf '%02d' $(((now_h + 23) % 24))):00-$(printf '%02d' $(((now_h + 2) % 24))):00"
shut_win="Mo-Su $(printf '%02d' $(((now_h + 5) % 24))):00-$(printf '%02d' $(((now_h + 7) % 24))):00"
cat >> "$T/etc/idgov.conf" <<CONF
[policy]
remote_services = idgov
[rule eng-hours]
groups = engineering
times = $open_win
timezone = UTC
[rule erin-nights]
users = erin
times = $shut_win
timezone = Asia/Tokyo
[rule admins-vpn]
groups = admins
scope = remote
networks = 10.8.0.0/16, 2001:db8::/32
CONF
ig sync >/dev/null
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
authd_start || exit 1
echo "account required $MODULE $PAM_ARGS" > "$T/pam.d/idgov"

assert_exit 0 "engineering inside its hours" pam -I rhost=192.0.2.1 bob acct_mgmt
assert_exit 1 "erin outside her window (in Tokyo time) is refused" pam -I rhost=192.0.2.1 erin acct_mgmt
assert_contains "$(cat "$T/last.err" "$T/last.out")" "rule erin-nights" "erin is told which rule"
assert_logged "$T/syslog.txt" "by rule erin-nights" "the denial names its rule in syslog"
ig audit ingest >/dev/null # idgovd would sign the service's spooled events
assert_eq "$(sql "SELECT json_extract(details, '\$.rule') FROM audit WHERE action='login.denied' AND subject='erin'")" \
	"rule erin-nights" "and in the audit chain"

assert_exit 0 "an admin from the VPN" pam -I rhost=10.8.1.2 alice acct_mgmt
assert_exit 0 "an admin from the IPv6 VPN prefix" pam -I rhost=2001:db8::5 alice acct_mgmt
assert_exit 0 "an admin from a v4-mapped VPN address" pam -I rhost=::ffff:10.8.9.9 alice acct_mgmt
assert_exit 1 "an admin from elsewhere is refused" pam -I rhost=203.0.113.9 alice acct_mgmt
assert_logged "$T/syslog.txt" "203.0.113.9 is not in 10.8.0.0/16, 2001:db8::/32" \
	"the log says which address and which networks"
assert_exit 1 "a remote service without a remote host is refused" pam alice acct_mgmt
assert_exit 1 "a host name is never resolved" pam -I rhost=localhost alice acct_mgmt
assert_exit 0 "dave (admins through sre, engineering) from the VPN in hours" pam -I rhost=10.8.0.1 dave acct_mgmt

ig audit ingest >/dev/null
audited=$(sql "SELECT count(*) FROM audit")
assert_exit 1 "policy check explains a refusal" ig policy check alice --rhost 203.0.113.9
assert_contains "$(cat "$T/last.out")" "DENIED by rule admins-vpn" "policy check names the rule"
assert_contains "$(cat "$T/last.out")" "ok   account" "and shows the passing checks"
assert_exit 0 "policy check allows the VPN" ig policy check alice --rhost 10.8.1.2
assert_exit 1 "policy check of a departed-to-be user at a given time" ig policy check erin --rhost 192.0.2.1
assert_exit 2 "policy check rejects a non-numeric rhost" ig policy check alice --rhost vpn.example.com
assert_exit 2 "policy check rejects a malformed time" ig policy check alice --at yesterday
ig audit ingest >/dev/null
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'login.denied'")" \
	"$(sql "SELECT count(*) FROM audit WHERE action = 'login.denied' AND seq <= $audited")" \
	"policy check records no login denial (no side effects)"
assert_exit 0 "audit chain verifies" ig audit verify
finish
