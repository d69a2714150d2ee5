#!/usr/bin/env bash
# The pam-auth-update profiles (dist/pam-config, dist/pam-config-password)
# run through the real pam-auth-update, in a private mount namespace over
# copies of /etc/pam.d, /usr/share/pam-configs and /var/lib/pam, so the
# host's PAM files are never touched: enabled, pam_idgov lands after
# pam_unix in common-auth, -account and -session, and in common-password
# its check comes before pam_unix and its record after it; removed, no
# pam_idgov line is left. Needs root (mount namespace); skipped without.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v pam-auth-update >/dev/null ||
	! unshare -m true 2>/dev/null; then
	echo "# skipped: needs root, unshare -m and pam-auth-update"
	exit 77
fi

mkdir -p "$T/pamd" "$T/cfgs" "$T/varlib"
cp -a /etc/pam.d/. "$T/pamd/"
cp -a /usr/share/pam-configs/. "$T/cfgs/"
rm -f "$T/cfgs/idgov" "$T/cfgs/idgov-password"
cp -a /var/lib/pam/. "$T/varlib/" 2>/dev/null
# A system with pam_idgov enabled already would not test the profiles.
grep -l pam_idgov "$T"/pamd/common-* 2>/dev/null | xargs -r sed -i '/pam_idgov/d'
cp "$ROOT/dist/pam-config" "$T/cfgs/idgov"
cp "$ROOT/dist/pam-config-password" "$T/cfgs/idgov-password"

# in_ns CMD: runs CMD with the copies mounted over the real paths.
in_ns() {
	unshare -m sh -c "mount --bind '$T/pamd' /etc/pam.d &&
		mount --bind '$T/cfgs' /usr/share/pam-configs &&
		mount --bind '$T/varlib' /var/lib/pam && $1"
}

# line FILE PATTERN: the number of the first line of $T/pamd/FILE matching PATTERN (0: none).
line() {
	local n
	n=$(grep -n "$2" "$T/pamd/$1" | head -1 | cut -d: -f1)
	echo "${n:-0}"
}

assert_exit 0 "pam-auth-update --enable idgov idgov-password" \
	in_ns "DEBIAN_FRONTEND=noninteractive pam-auth-update --enable idgov idgov-password"
for f in auth account session; do
	unix=$(line "common-$f" 'pam_unix\.so')
	idg=$(line "common-$f" 'pam_idgov\.so')
	assert_eq "$([ "$idg" -gt "$unix" ] && [ "$unix" -gt 0 ] && echo after || echo "$idg/$unix")" \
		after "common-$f: pam_idgov after pam_unix"
done
unix=$(line common-password 'pam_unix\.so')
chk=$(line common-password 'pam_idgov\.so.*check_only')
rec=$(line common-password 'pam_idgov\.so.*record_only')
assert_eq "$([ "$chk" -gt 0 ] && [ "$chk" -lt "$unix" ] && echo before || echo "$chk/$unix")" \
	before "common-password: the check before pam_unix"
assert_eq "$([ "$rec" -gt "$unix" ] && [ "$unix" -gt 0 ] && echo after || echo "$rec/$unix")" \
	after "common-password: the record after pam_unix"
assert_contains "$(grep 'pam_idgov.so.*record_only' "$T/pamd/common-password")" use_authtok \
	"the record takes the password pam_unix set"
assert_contains "$(grep 'pam_unix.so' "$T/pamd/common-password")" use_authtok \
	"pam_unix takes the password pam_idgov checked"

assert_exit 0 "pam-auth-update --package --remove idgov idgov-password" \
	in_ns "DEBIAN_FRONTEND=noninteractive pam-auth-update --package --remove idgov idgov-password"
assert_eq "$(grep -l pam_idgov "$T"/pamd/common-* | wc -l)" 0 "no pam_idgov line is left"
finish
