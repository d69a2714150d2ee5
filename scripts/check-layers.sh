#!/usr/bin/env bash
# Checks the layer arrows of doc/ARCHITECTURE.md on the built objects, not
# on the sources: every symbol a layer's library uses from idgov must be
# defined by that layer or a layer it may use, nothing may use the programs
# (idgovd, idgov), and pam_idgov.so must contain nothing that speaks LDAP,
# writes to the directory, sends notifications or serves the control
# protocol, and that pam_idgov.so is a thin client (libpam, libc).
#
#   scripts/check-layers.sh BUILD_DIR
#
# Exit 0 when every arrow is allowed, 1 with each forbidden use named.
set -euo pipefail

build=${1:?usage: check-layers.sh BUILD_DIR}
cd "$build"

# layer -> static library (relative to the build directory)
declare -A lib=(
	[core]=idgov/core/libidgov_core.a
	[policy]=idgov/policy/libidgov_policy.a
	[directory]=idgov/directory/libidgov_directory.a
	[notify]=idgov/notify/libidgov_notify.a
	[governance]=idgov/governance/libidgov_governance.a
	[control_ops]=idgov/control/libidgov_control_ops.a
	[control]=idgov/control/libidgov_control.a
	[reviews]=reviews/libidgov_reviews.a
	[scheduler]=idgov/scheduler/libidgov_scheduler.a
	[client]=idgov/client/libidgov_client.a
	[authproto]=idgov/authproto/libidgov_authproto.a
	[bgcodes]=idgov/bgcodes/libidgov_bgcodes.a
)
# layer -> the layers it may use (besides itself)
declare -A may=(
	[core]=""
	[policy]="core"
	[directory]="core"
	[notify]="core"
	[governance]="core directory notify"
	[control_ops]="core"
	[control]="core policy directory governance control_ops"
	[reviews]="core directory notify control_ops"
	[scheduler]="core directory governance reviews"
	[client]="core"
	[authproto]=""
	[bgcodes]=""
)
# The programs, idgovd's own admission library included: nothing may use what they define.
programs="idgov/daemon/CMakeFiles/idgovd.dir idgov/daemon/CMakeFiles/idgovd_admission.dir idgov/cli/CMakeFiles/idgov_cli.dir idgov/web/CMakeFiles/idgov_web.dir idgov/web/CMakeFiles/idgov_webkit.dir idgov/authd/CMakeFiles/idgov-authd.dir"

fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

defined() { nm --defined-only -g "$@" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u; }

for layer in "${!lib[@]}"; do
	[ -f "${lib[$layer]}" ] || { echo "check-layers: ${lib[$layer]} is not built" >&2; exit 2; }
	defined "${lib[$layer]}" >"$tmp/def.$layer"
done
for dir in $programs; do
	find "$dir" -name '*.o' -print0 | xargs -0 nm --defined-only -g 2>/dev/null |
		awk 'NF == 3 { print $3 }' | grep -v '^main$' | sort -u >>"$tmp/def.programs"
done
sort -u -o "$tmp/def.programs" "$tmp/def.programs"

for layer in "${!lib[@]}"; do
	nm --undefined-only -g "${lib[$layer]}" 2>/dev/null | awk '{ print $NF }' | sort -u |
		comm -23 - "$tmp/def.$layer" >"$tmp/undef.$layer"
	for other in "${!lib[@]}" programs; do
		[ "$other" = "$layer" ] && continue
		case " ${may[$layer]} " in *" $other "*) continue ;; esac
		used=$(comm -12 "$tmp/undef.$layer" "$tmp/def.$other" | head -5 | tr '\n' ' ')
		if [ -n "$used" ]; then
			echo "check-layers: $layer uses $other, which it may not: $used" >&2
			fail=1
		fi
	done
done

# The login path: pam_idgov.so and what it may reach.
pam=pam_module/pam_idgov.so
forbidden='^(ldap_|ber_|dir_|dirw_|sync_|mirror_|journal_|notify_|control_|grant|review|governance_)'
# libc's names that the prefixes above catch by accident (sync_ is the LDAP sync's).
libc_names='^(sync_file_range)$'
if [ -f "$pam" ]; then
	# Defined and undefined alike: a call into libldap is as bad as a copy of it.
	bad=$(nm "$pam" 2>/dev/null | awk '{ print $NF }' | grep -E "$forbidden" | grep -Ev "$libc_names" |
		head -5 | tr '\n' ' ' || true)
	if [ -n "$bad" ]; then
		echo "check-layers: pam_idgov.so contains $bad" >&2
		fail=1
	fi
	bad=$(nm -D --defined-only "$pam" | awk 'NF == 3 { print $3 }' | grep -v '^pam_sm_' | tr '\n' ' ' || true)
	if [ -n "$bad" ]; then
		echo "check-layers: pam_idgov.so exports more than pam_sm_*: $bad" >&2
		fail=1
	fi
	# A thin client of idgov-authd: libpam and libc (and the sanitizer
	# runtimes in those builds), never a store, a key or LDAP; libcrypt
	# is loaded only while a break-glass code is checked.
	bad=$(readelf -d "$pam" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
		grep -Ev '^(libpam\.so\.0|libc\.so\.6|libasan\.so\.[0-9]+|libubsan\.so\.[0-9]+)$' |
		tr '\n' ' ' || true)
	if [ -n "$bad" ]; then
		echo "check-layers: pam_idgov.so links more than libpam and libc: $bad" >&2
		fail=1
	fi
	bad=$(nm "$pam" 2>/dev/null | awk '{ print $NF }' |
		grep -E '^(store_|secret_|audit_|mfa_|account_|policy_|cfg_|sqlite3_|sodium_|crypto_)' |
		head -5 | tr '\n' ' ' || true)
	if [ -n "$bad" ]; then
		echo "check-layers: pam_idgov.so contains idgov beyond the auth protocol: $bad" >&2
		fail=1
	fi
else
	echo "check-layers: $pam is not built" >&2
	exit 2
fi
for layer in core policy; do
	bad=$(cat "$tmp/undef.$layer" "$tmp/def.$layer" | grep -E "$forbidden" | grep -Ev "$libc_names" |
		head -5 | tr '\n' ' ' || true)
	if [ -n "$bad" ]; then
		echo "check-layers: the $layer library reaches $bad" >&2
		fail=1
	fi
done

# idgov-web holds its TLS key and nothing else: no store, no keys, no directory.
web=idgov/idgov-web
if [ -f "$web" ]; then
	bad=$(nm "$web" 2>/dev/null | awk '{ print $NF }' |
		grep -E '^(store_|keys_|secret_|audit_|mfa_|sqlite3_|ldap_|ber_|dir_|journal_)' |
		head -5 | tr '\n' ' ' || true)
	if [ -n "$bad" ]; then
		echo "check-layers: idgov-web contains $bad" >&2
		fail=1
	fi
	if ldd "$web" | grep -E 'lib(ldap|lber|sqlite3|oath)' >&2; then
		echo "check-layers: idgov-web links a library it must not hold" >&2
		fail=1
	fi
fi

[ "$fail" = 0 ] && echo "check-layers: every arrow is allowed (${#lib[@]} libraries, pam_idgov.so)"
exit "$fail"
