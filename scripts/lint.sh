#!/usr/bin/env bash
# The tree's lints, each one a ctest test in the normal build (lint_*):
#   scripts/lint.sh format   clang-format --dry-run --Werror on every tracked *.c, *.h
#   scripts/lint.sh man      mandoc -Tlint on every man page in man/ (any finding fails)
#   scripts/lint.sh shell    shellcheck on every shell script (.shellcheckrc)
# The tools come from scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
	command -v "$1" >/dev/null || {
		echo "$1 not found: run scripts/install-deps.sh" >&2
		exit 1
	}
}

# Tracked files, or (outside a git checkout) the files on disk.
files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -- "$@"
	else
		find . -type f | sed 's|^\./||' | grep -E "$(printf '%s|' "$@" | sed 's/\./\\./g; s/\*/.*/g; s/|$//')"
	fi
}

case "${1:-}" in
format)
	need clang-format
	mapfile -t f < <(files '*.c' '*.h')
	clang-format --dry-run --Werror "${f[@]}"
	echo "clang-format: ${#f[@]} files formatted"
	;;
man)
	need mandoc
	mapfile -t f < <(files 'man/*.[1-8]')
	mandoc -Tlint -W style "${f[@]}"
	echo "mandoc -Tlint: ${#f[@]} man pages clean"
	;;
shell)
	need shellcheck
	# *.sh, .ci/run, the packages' maintainer scripts, and the bench
	# scripts, which have no extension.
	mapfile -t f < <(
		files '*.sh' '.ci/run' 'debian/*.postinst' 'debian/*.prerm' 'debian/*.postrm'
		for b in $(files 'bench/*'); do
			head -n1 "$b" | grep -q '^#!.*sh' && echo "$b"
		done
	)
	shellcheck -x "${f[@]}"
	echo "shellcheck: ${#f[@]} scripts clean"
	;;
*)
	echo "usage: lint.sh format|man|shell" >&2
	exit 2
	;;
esac
