#!/usr/bin/env bash
# Fleet-wide MFA against a hostile or broken world, through real PAM: a
# first provider that is up but stuck (it accepts the bind, then never
# answers a search or a modify) must cost a login one [fleet] timeout_ms,
# not one per retry: the next try goes to the next provider, and the login
# completes there within the PAM module's timeout (3 s). A held connection
# that went stale (the provider restarted) is still tried again first, so
# the fleet keeps writing to the first provider.
# shellcheck source=pam_fleet_lib.sh
. "$(dirname "$0")/pam_fleet_lib.sh"

HALFDEAD_PID=""
stop_halfdead() {
	[ -n "$HALFDEAD_PID" ] && kill "$HALFDEAD_PID" 2>/dev/null && wait "$HALFDEAD_PID" 2>/dev/null
	HALFDEAD_PID=""
}
trap 'stop_halfdead; kill "$SINK_PID" 2>/dev/null; cleanup' EXIT

fleet_enrol
assert_exit 0 "online, the next code authenticates" pam alice authenticate <<<"$(code 0)"

# --- a stuck first provider ---
coproc HALFDEAD { exec python3 "$(dirname "$0")/ldap_halfdead.py"; }
HALFDEAD_PID=$HALFDEAD_PID
read -r STUCK_PORT <&"${HALFDEAD[0]}"
[ -n "$STUCK_PORT" ] || { not_ok "the stuck provider listens"; exit 1; }
authd_stop
sed -i "s|^timeout_ms = 2000\$|timeout_ms = 1500\nproviders = ldap://127.0.0.1:$STUCK_PORT $URI|" "$T/etc/idgov.conf"
authd_start || exit 1
assert_exit 0 "a stuck first provider: the login completes on the second" \
	pam alice authenticate <<<"$(code 1)"
assert_eq "$(attr idgovLastStep)" "$((BASE + 1))" "the step was written to the second provider"
assert_exit 1 "the same code again is a replay" pam alice authenticate <<<"$(code 1)"
assert_contains "$(cat "$T/syslog.txt")" "a provider stopped answering" "the stuck provider is logged"
stop_halfdead

# --- a held connection gone stale: the same provider again, not offline ---
authd_stop
sed -i "s|^providers = .*\$|providers = $URI|" "$T/etc/idgov.conf"
authd_start || exit 1
assert_exit 0 "a code on the held connection" pam alice authenticate <<<"$(code 2)"
slapd_stop "$T/slapd"
slapd_restart "$T/slapd" || { not_ok "slapd restarts"; exit 1; }
assert_exit 0 "after the provider restarted, the next code is accepted online" \
	pam alice authenticate <<<"$(code 3)"
assert_eq "$(attr idgovLastStep)" "$((BASE + 3))" "and written to it"

finish
