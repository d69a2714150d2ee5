#!/usr/bin/env bash
# Installs the Debian packages idgov builds, tests and demos with, if any
# are missing. Installing slapd must not configure or start a system
# instance: idgov's tests and demo run their own on 127.0.0.1.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config
	libldap-dev libsodium-dev libsqlite3-dev libinih-dev libjansson-dev libcmocka-dev
	liboath-dev libqrencode-dev libpam0g-dev libpam-wrapper pamtester oathtool
	libcrack2-dev cracklib-runtime libicu-dev libmaxminddb-dev libmaxmind-db-writer-perl
	openssh-server sshpass libnss-wrapper
	slapd ldap-utils sqlite3 jq util-linux openssl
	libmicrohttpd-dev libgnutls28-dev # idgov-web: HTTPS, and idgov init's certificate
	curl chromium nodejs # idgov-web's tests: curl, and a real browser (playwright-core from npm)
	strace systemd # test_authd: what a PAM process opens; systemd-socket-activate
	python3 # the review test parses the CSV report with its csv module
	# for the other builds and checks of scripts/test.sh (clang -Weverything
	# and scan-build; clang-format; the hardening check with readelf; mandoc
	# -Tlint; the shell lint; coverage with gcovr)
	clang clang-tools clang-format binutils mandoc shellcheck gcovr git
	clang libclang-rt-14-dev # tests/fuzz: -fsanitize=fuzzer (libFuzzer's runtime)
	# the Debian packages (debian/, dpkg-buildpackage) and their test
	debhelper devscripts lintian mmdebstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm for the browser tests: Debian's package, unless the nodejs installed
# already carries its own (NodeSource's does, and conflicts with Debian's).
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
	exit 1
fi

echo "installing: ${missing[*]}"
echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections
# Keep the package from starting a system slapd while it installs.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$policy"
	chmod 755 "$policy"
	created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
