#!/usr/bin/env bash
# The Debian packages as an admin gets them: builds the .debs with
# dpkg-buildpackage (debian/), checks them with lintian, installs them into
# a clean Debian 12 root made by mmdebstrap (cached in the build folder,
# made again when the list of packages below changes), and there runs
# in-root.sh: pam-auth-update --enable idgov, idgovd started from the
# unit's command line against a private slapd on 127.0.0.1, an MFA
# enrolment and a login through the installed module and the common-*
# files pam-auth-update wrote, then a purge that must leave nothing.
#
#   tests/package/run.sh [BUILD_DIR]    default: build-pkgtest
#
# Needs root (chroot, mount namespace), network to the Debian archive for
# the first root, and debhelper, devscripts, lintian and mmdebstrap
# (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
B=${1:-build-pkgtest}
mkdir -p "$B"
B=$(cd "$B" && pwd)
started=$SECONDS

step() {
	echo "-- $* (at $((SECONDS - started))s)"
}

# What in-root.sh runs besides the .debs and what they depend on (the
# libraries are listed so that dpkg -i needs no network in the root).
INCLUDE=pamtester,oathtool,slapd,ldap-utils,jq,sqlite3,passwd,libpam-runtime,libsodium23,libinih1,libjansson4,liboath0,libqrencode4,libcrack2,libicu72,libmaxminddb0,libldap-2.5-0,libsqlite3-0,libmicrohttpd12,libgnutls30,curl

step "build the .debs (dpkg-buildpackage)"
rm -rf "$B/src" "$B/root"
find "$B" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.changes' -o -name '*.buildinfo' \) -delete
mkdir "$B/src"
# The tree as git sees it (tracked, and new files not ignored), without builds.
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$B/src"
if ! (cd "$B/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b -j"$(nproc)") \
	>"$B/dpkg-buildpackage.log" 2>&1; then
	tail -40 "$B/dpkg-buildpackage.log" >&2
	exit 1
fi

step "lintian"
# lintian warns when run as root; only its findings count.
lintian --pedantic -I --fail-on error,warning "$B"/idgov_*.changes 2>&1 |
	grep -v 'running with root privileges' || true
lintian --pedantic --fail-on error,warning "$B"/idgov_*.changes >/dev/null 2>&1 || {
	echo "lintian: findings above" >&2
	exit 1
}

step "Debian 12 root (mmdebstrap, cached in $B/root.tar)"
if [ ! -s "$B/root.tar" ] || [ "$(cat "$B/root.include" 2>/dev/null)" != "$INCLUDE" ]; then
	rm -f "$B/root.tar"
	mmdebstrap --quiet --variant=apt --include="$INCLUDE" bookworm "$B/root.tar"
	echo "$INCLUDE" >"$B/root.include"
fi
mkdir "$B/root"
tar -xf "$B/root.tar" -C "$B/root"
t="$B/root/srv/idgov-test"
mkdir -p "$t/tests/lib" "$t/tests/fixtures" "$t/tests/package" "$t/schema" "$B/root/srv/debs"
cp tests/lib/slapd.sh "$t/tests/lib/"
cp tests/fixtures/org.ldif "$t/tests/fixtures/"
cp tests/package/in-root.sh "$t/tests/package/"
# slapd.sh loads the schema beside it: let it be the installed one.
ln -s /usr/share/idgov/schema "$t/schema/ldap"
cp "$B"/idgov_*.deb "$B"/libpam-idgov_*.deb "$B"/idgov-web_*.deb "$B/root/srv/debs/"

step "install, enable, log in, purge (in-root.sh)"
# A private mount namespace: /dev and /proc are mounted for the root only
# and go with the namespace, whatever happens.
# shellcheck disable=SC2016 # $1 is the inner shell's
unshare --mount --pid --fork /bin/sh -c \
	'mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" &&
	 exec chroot "$1" /bin/bash /srv/idgov-test/tests/package/in-root.sh' _ "$B/root"
rm -rf "$B/root" "$B/src"
step "package test passed in $((SECONDS - started)) s (source: $SRC)"
