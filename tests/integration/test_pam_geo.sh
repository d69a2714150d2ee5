#!/usr/bin/env bash
# Countries at login from PAM_RHOST through a MaxMind DB built by the test
# (libmaxmind-db-writer-perl), in both layouts idgov reads: allow lists,
# deny lists, IPv6 and IPv4-mapped addresses, and addresses the database
# does not know, which follow [geo] unknown (deny by default).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if ! perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null; then
	echo "skipped: needs libmaxmind-db-writer-perl to build the test database"
	exit 77
fi
MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
perl "$ROOT/tests/fixtures/make-mmdb.pl" "$T/geoip2.mmdb" geoip2
perl "$ROOT/tests/fixtures/make-mmdb.pl" "$T/ipdb.mmdb" ip-location-db
cat >> "$T/etc/idgov.conf" <<CONF
[geo]
database = $T/geoip2.mmdb
[rule finance-in-eu]
groups = finance
scope = remote
countries = FR, DE
[rule alice-not-us]
users = alice
deny_countries = US
CONF
ig sync >/dev/null
mkdir -p "$T/pam.d"
authd_start || exit 1
echo "account required $MODULE $PAM_ARGS" > "$T/pam.d/idgov"

assert_exit 0 "finance from France" pam -I rhost=192.0.2.10 erin acct_mgmt
assert_exit 0 "finance from Germany over IPv6" pam -I rhost=2001:db8::1 erin acct_mgmt
assert_exit 0 "an IPv4-mapped address is looked up as IPv4" pam -I rhost=::ffff:192.0.2.10 erin acct_mgmt
assert_exit 1 "finance from the US is refused" pam -I rhost=198.51.100.1 erin acct_mgmt
assert_contains "$(cat "$T/last.err" "$T/last.out")" "rule finance-in-eu" "the rule is named"
assert_exit 1 "an address the database does not know is refused" pam -I rhost=203.0.113.1 erin acct_mgmt
assert_exit 0 "a deny list lets other countries in" pam -I rhost=192.0.2.10 alice acct_mgmt
assert_exit 1 "a deny list refuses its countries" pam -I rhost=198.51.100.9 alice acct_mgmt
assert_exit 0 "rules on countries do not touch a console login" "$IDGOV" -c "$T/etc/idgov.conf" policy check erin --service login
assert_exit 1 "policy check explains the country" ig policy check erin --rhost 198.51.100.1
assert_contains "$(cat "$T/last.out")" "198.51.100.1 is in US, which is not allowed" "with the country found"

sed -i 's/^\[rule finance-in-eu\]$/[rule finance-in-eu]/; s/^\[geo\]$/[geo]\nunknown = allow/' "$T/etc/idgov.conf"
assert_exit 0 "with unknown = allow an unknown address passes" pam -I rhost=203.0.113.1 erin acct_mgmt

sed -i "s|^database = .*|database = $T/ipdb.mmdb\nlookup_path = country_code|" "$T/etc/idgov.conf"
assert_exit 0 "the ip-location-db layout (country_code)" pam -I rhost=2001:db8::7 erin acct_mgmt
assert_exit 1 "and its US entry" pam -I rhost=198.51.100.1 erin acct_mgmt

sed -i "s|^database = .*|database = $T/missing.mmdb|" "$T/etc/idgov.conf"
assert_exit 1 "a missing database fails closed for country rules" pam -I rhost=192.0.2.10 erin acct_mgmt
assert_contains "$(cat "$T/last.err" "$T/last.out")" "cannot tell the country" "and says why"
finish
