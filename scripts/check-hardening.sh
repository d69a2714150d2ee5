#!/usr/bin/env bash
# Checks the hardening of every ELF program and pam_idgov.so in a build
# (the test hardening_check; the flags are set in CMakeLists.txt):
#   - every one: full RELRO (a GNU_RELRO segment and BIND_NOW), no
#     executable stack;
#   - programs: PIE (ELF type DYN with the PIE flag);
#   - idgov, idgovd, idgov-authd and pam_idgov.so: the stack protector (__stack_chk_fail)
#     and fortified libc calls (__*_chk);
#   - the others (tests, bench tools): the same two where the compiler had a
#     reason to emit them, which a small program may not have: reported,
#     not failed.
#
#   scripts/check-hardening.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: check-hardening.sh BUILD_DIR}
command -v readelf >/dev/null || { echo "readelf not found (binutils)" >&2; exit 1; }

fail=0
checked=0
bad() {
	echo "FAIL $1: $2"
	fail=1
}

check() {
	local f=$1 name=${1#"$build"/} dyn hdr syms must=0
	hdr=$(readelf -hW "$f")
	dyn=$(readelf -dW "$f")
	syms=$(readelf --dyn-syms -W "$f")
	case "$name" in
	idgov/idgov | idgov/idgovd | idgov/idgov-authd | pam_module/pam_idgov.so) must=1 ;;
	esac
	checked=$((checked + 1))
	readelf -lW "$f" | grep -q GNU_RELRO || bad "$name" "no GNU_RELRO segment (-Wl,-z,relro)"
	grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<<"$dyn" || bad "$name" "no BIND_NOW (-Wl,-z,now)"
	if readelf -lW "$f" | grep GNU_STACK | grep -q RWE; then
		bad "$name" "executable stack"
	fi
	if [[ $name != *.so ]]; then
		if ! grep -q 'Type:.*DYN' <<<"$hdr" || ! grep -Eq 'FLAGS_1.*PIE' <<<"$dyn"; then
			bad "$name" "not a PIE"
		fi
	fi
	if ! grep -q '__stack_chk_fail' <<<"$syms"; then
		if [ $must = 1 ]; then
			bad "$name" "no stack protector (__stack_chk_fail)"
		else
			echo "note $name: no __stack_chk_fail (nothing for the stack protector to guard)"
		fi
	fi
	if ! grep -Eq ' __[a-z_]+_chk(@|$)' <<<"$syms"; then
		if [ $must = 1 ]; then
			bad "$name" "no fortified calls (__*_chk, _FORTIFY_SOURCE)"
		else
			echo "note $name: no __*_chk (no call the compiler could fortify)"
		fi
	fi
}

while IFS= read -r -d '' f; do
	[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
	case "$(readelf -hW "$f" | awk '/Type:/ {print $2}')" in
	EXEC | DYN) check "$f" ;;
	esac
done < <(find "$build" -path '*/CMakeFiles' -prune -o -type f \( -perm -u+x -o -name 'pam_idgov.so' \) -print0)

for must in idgov/idgov idgov/idgovd idgov/idgov-authd pam_module/pam_idgov.so; do
	[ -f "$build/$must" ] || bad "$must" "not built"
done
echo "checked $checked ELF files"
exit $fail
