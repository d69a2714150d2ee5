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
SILENT_PIDS=()
stop_halfdead() {
	[ -n "$HALFDEAD_PID" ] && kill "$HALFDEAD_PID" 2>/dev/null && wait "$HALFDEAD_PID" 2>/dev/null
	HALFDEAD_PID=""
}
stop_silent() {
	local pid
	for pid in "${SILENT_PIDS[@]}"; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	SILENT_PIDS=()
}
trap 'stop_halfdead; stop_silent; kill "$SINK_PID" 2>/dev/null; cleanup' EXIT

fleet_enrol
assert_exit 0 "online, the next code authenticates" pam alice authenticate <<<"$(code 0)"

# --- a stuck first provider ---
coproc STUCK { exec python3 "$(dirname "$0")/ldap_halfdead.py"; }
HALFDEAD_PID=$STUCK_PID
read -r STUCK_PORT <&"${STUCK[0]}"
[ -n "$STUCK_PORT" ] || { not_ok "the stuck provider listens"; exit 1; }
authd_stop
sed -i "s|^timeout_ms = 2000\$|timeout_ms = 1500\nproviders = ldap://127.0.0.1:$STUCK_PORT $URI|" "$T/etc/idgov.conf"
authd_start || exit 1
assert_exit 0 "a stuck first provider: the login completes on the second" \
	pam alice authenticate <<<"$(code 1)"
assert_eq "$(attr idgovLastStep)" "$((BASE + 1))" "the step was written to the second provider"
assert_exit 1 "the same code again is a replay" pam alice authenticate <<<"$(code 1)"
assert_logged "$T/syslog.txt" "a provider stopped answering" "the stuck provider is logged"
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

# --- every provider hung (not refusing: silent), offline = allow ---
# Each provider costs timeout_ms before the prompt: with two, timeout_ms
# must stay under half the module's timeout (3 s) for the offline
# fallback to answer in time (idgov.conf(5), timeout_ms).
ig sync >/dev/null
SILENT_URIS=""
for _ in 1 2; do
	exec {silent_out}< <(exec python3 "$(dirname "$0")/ldap_halfdead.py" silent)
	SILENT_PIDS+=("$!")
	read -r port <&"$silent_out"
	[ -n "$port" ] || { not_ok "a silent provider listens"; exit 1; }
	SILENT_URIS="$SILENT_URIS ldap://127.0.0.1:$port"
done
authd_stop
sed -i -e "s|^providers = .*\$|providers =$SILENT_URIS|" -e 's/^timeout_ms = 1500$/timeout_ms = 1000/' \
	-e 's/^offline = deny$/offline = allow/' "$T/etc/idgov.conf"
authd_start || exit 1
# A worker tries the providers once before it takes its first request; a
# login that comes meanwhile waits for that too (reported, not fixed here):
# one throw-away attempt lets the starting workers get past it.
pam alice authenticate <<<"000000" >/dev/null 2>&1
assert_exit 0 "two hung providers, offline = allow: a right code is accepted offline" \
	pam alice authenticate <<<"$(code 4)"
assert_eq "$(state_sql "SELECT step - $BASE FROM fleet_pending")" 4 "its step is queued"
assert_exit 1 "offline, the same code again is a replay" pam alice authenticate <<<"$(code 4)"
stop_silent

finish
