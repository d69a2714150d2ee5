# shellcheck shell=bash
# Shared by the test_pam_fleet*.sh tests: a slapd with idgov's schema, a
# configuration with [fleet] mfa = directory (fleet key, a short provider
# timeout, offline = deny), the mirror synced, a PAM service file for
# pam_idgov.so, and fleet_enrol, which puts alice's token into the
# directory as an enrolment does and starts the auth service.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
PUT=$BUILD/tests/fleet_token_put
it_setup
URI=$(cat "$T/slapd/uri")
ALICE="uid=alice,ou=People,dc=example,dc=com"
# The fleet key: made by idgov init on a governor; made here if this init did not.
[ -f "$T/keys/fleet.key" ] || { head -c 32 /dev/urandom >"$T/keys/fleet.key" && chmod 400 "$T/keys/fleet.key"; }
sed -i 's/^\[admin\]$/[mfa]\nwindow = 8\nfail_delay_ms = 0\n[fleet]\nmfa = directory\nkey = '"${T//\//\\/}"'\/keys\/fleet.key\ntimeout_ms = 500\noffline = deny\n[admin]/' \
	"$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
for stack in auth account session; do
	echo "$stack required $MODULE $PAM_ARGS"
done >"$T/pam.d/idgov"

# attr NAME: alice's NAME values in the directory, as the root DN reads them.
attr() {
	ldapsearch -x -H "$URI" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" -LLL -s base -b "$ALICE" "$1" 2>/dev/null |
		sed -n "s/^$1: //p"
}

# fleet_enrol: alice's token (watermark: the step before now) in the
# directory; sets SECRET and BASE (for lib.sh's code) and recovery (her ten
# recovery codes), and starts the auth service.
fleet_enrol() {
	local out
	BASE=$(($(date +%s) / 30))
	out=$("$PUT" "$T/etc/idgov.conf" alice "$((BASE - 1))")
	assert_eq "$?" 0 "a token for alice is written to the directory"
	SECRET=$(printf '%s\n' "$out" | sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p')
	mapfile -t recovery < <(printf '%s\n' "$out" | grep -E '^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$')
	assert_eq "${#recovery[@]}" 10 "with ten recovery codes"
	assert_eq "$(attr idgovLastStep)" "$((BASE - 1))" "its watermark is the enrolment's step"
	authd_start || exit 1
}
