#!/usr/bin/env bash
# TLS to the directory: StartTLS and ldaps:// with the configured CA file
# work; a server certificate from another CA is refused, never accepted.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if ! command -v openssl >/dev/null; then
	echo "skipped: needs openssl to make test certificates"
	exit 77
fi
pki=$T/pki
mkdir -p "$pki"
(
	cd "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=idgov test CA" \
		-keyout ca.key -out ca.pem
	openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
	printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile san.ext -out server.pem
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=some other CA" \
		-keyout other.key -out other.pem
) >/dev/null 2>&1 || { not_ok "making test certificates"; finish; exit 1; }
export SLAPD_TLS_DIR=$pki
it_setup

set_tls() { # MODE URI CA
	sed -i -e "s|^uri = .*|uri = $2|" -e '/^tls = /d' -e '/^ca_file = /d' \
		-e "s|^\[directory\]$|[directory]\ntls = $1\nca_file = $3|" "$T/etc/idgov.conf"
}

set_tls starttls "$(cat "$T/slapd/uri")" "$pki/ca.pem"
assert_exit 0 "sync over StartTLS with the right CA" ig sync
assert_eq "$(sql "SELECT count(*) FROM users")" 8 "users mirrored over StartTLS"

set_tls starttls "$(cat "$T/slapd/uri")" "$pki/other.pem"
assert_exit 1 "StartTLS with a certificate from another CA is refused" ig sync --full
assert_contains "$(cat "$T/last.err")" "StartTLS" "the error says StartTLS failed"

set_tls ldaps "$(cat "$T/slapd/ldaps_uri")" "$pki/ca.pem"
assert_exit 0 "sync over ldaps:// with the right CA" ig sync --full

set_tls ldaps "$(cat "$T/slapd/ldaps_uri")" "$pki/other.pem"
assert_exit 1 "ldaps:// with a certificate from another CA is refused" ig sync --full
finish
