#!/usr/bin/env bash
# Web sign-in through idgovd, against a real slapd: the web frontend's uid
# ([web] user = nobody here) signs alice in with her directory password
# (a bind as her, found by an escaped search) and then her TOTP code, and
# acts on her behalf with the session idgovd issued. Wrong passwords,
# filter tricks in the name, a token from another uid, and a token after
# sign-out are refused; every step is audited with alice and the address.
# Needs root (setpriv, to speak as the frontend's uid).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "skipped: needs root and setpriv to speak as the web frontend's uid"
	exit 77
fi
it_setup
cat >>"$T/etc/idgov.conf" <<CONF
[web]
user = nobody
signin_max_failures = 3
CONF
chmod 755 "$T/etc" "$T/slapd"
chmod 644 "$T/etc/idgov.conf"
slapd_modify "$T/slapd" <<LDIF
dn: uid=alice,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Correct horse 42')

dn: uid=carol,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Carols own 77')
LDIF
assert_exit 0 "idgovd starts" daemon_start
ig sync >/dev/null
enroll alice -1

# as_web JSON: one request to the socket as the frontend's uid; prints the reply.
as_web() {
	printf '%s\n' "$1" | setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$BUILD/tests/sockclient" "$T/run/idgov.sock"
}
signin() {
	as_web "$(jq -cn --arg n "$1" --arg p "$2" \
		'{v:1, op:"web.signin", args:{name:$n, password:$p, addr:"192.0.2.7"}}')"
}
on_behalf() { # TOKEN OP ARGS
	as_web "$(jq -cn --arg s "$1" --arg o "$2" --argjson a "$3" \
		'{v:1, op:$o, args:$a, session:$s, addr:"192.0.2.7"}')"
}

reply=$(signin alice 'wrong password')
assert_contains "$reply" '"code":"denied"' "a wrong password is refused"
assert_contains "$reply" "wrong user name or password" "and says only that"
assert_eq "$(sql "SELECT count(*) FROM web_signin_failures WHERE user='alice' AND addr='192.0.2.7'")" 1 \
	"and is counted for alice and the address"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='web.signin' AND actor='alice' AND details LIKE '%192.0.2.7%refused%'")" 1 \
	"and is audited as alice's, with the address"

for name in '*' 'alice)(uid=*' 'al*' 'alice)(|(uid=*'; do
	reply=$(signin "$name" 'Correct horse 42')
	assert_contains "$reply" "wrong user name or password" "a filter in the name ($name) finds nobody"
done
reply=$(signin nosuchuser 'Correct horse 42')
assert_contains "$reply" "wrong user name or password" "an unknown user is refused like a wrong password"
reply=$(signin bob '')
assert_contains "$reply" '"code":"bad_request"' "an empty password is never sent as a bind"

reply=$(signin alice 'Correct horse 42')
assert_contains "$reply" '"step":"code"' "the right password leads to the code step"
partial=$(printf '%s' "$reply" | jq -r .result.session)
assert_eq "${#partial}" 43 "with a 43-character token"
reply=$(on_behalf "$partial" user.show '{"name":"alice"}')
assert_contains "$reply" "finish signing in first" "the token does nothing else before the code"

reply=$(on_behalf "$partial" web.verify "{\"code\":\"$(code 1)\"}")
assert_contains "$reply" '"step":"full"' "the code completes the sign-in"
full=$(printf '%s' "$reply" | jq -r .result.session)
reply=$(on_behalf "$partial" web.session '{}')
assert_contains "$reply" '"code":"signed_out"' "the token from before the code is over"
assert_eq "$(sql "SELECT count(*) FROM web_signin_failures WHERE user='alice'")" 0 \
	"a completed sign-in forgets alice's failures"

reply=$(on_behalf "$full" user.show '{"name":"alice"}')
assert_contains "$reply" '"ok":true' "the frontend acts for alice with her session"
assert_eq "$(sql "SELECT actor FROM audit WHERE action='control.user.show' ORDER BY seq DESC LIMIT 1")" alice \
	"audited as alice"
assert_contains "$(sql "SELECT details FROM audit WHERE action='control.user.show' ORDER BY seq DESC LIMIT 1")" \
	'"addr":"192.0.2.7"' "with the client's address"
reply=$(on_behalf "$full" web.session '{}')
assert_contains "$reply" '"admin":true' "alice is an admin through the directory's idgov-admins"

# The same token from any other uid is refused.
reply=$(printf '%s\n' "$(jq -cn --arg s "$full" '{v:1, op:"web.session", session:$s}')" |
	setpriv --reuid=1 --regid=1 --clear-groups "$BUILD/tests/sockclient" "$T/run/idgov.sock")
assert_contains "$reply" "only the web frontend" "a token is worth nothing outside the frontend's uid"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE details LIKE '%$full%' OR details LIKE '%Correct horse%'")" 0 \
	"neither the token nor the password is in the audit chain"
assert_eq "$(sql "SELECT count(*) FROM web_sessions WHERE hex(token_hash) LIKE '%' || hex('$full') || '%'")" 0 \
	"the store holds only the token's hash"

reply=$(on_behalf "$full" web.signout '{}')
assert_contains "$reply" '"ok":true' "sign-out"
reply=$(on_behalf "$full" web.session '{}')
assert_contains "$reply" '"code":"signed_out"' "after sign-out the token is refused"

# Throttling: three wrong passwords, then even the right one is refused without a bind.
for _ in 1 2 3; do signin alice 'wrong again' >/dev/null; done
reply=$(signin alice 'Correct horse 42')
assert_contains "$reply" "too many failed sign-ins" "after three failures alice is throttled"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='web.signin' AND actor='alice' AND details LIKE '%throttled%'")" 1 \
	"the throttled attempt is audited"

# carol, who is no admin, acts with her own rights only.
enroll carol -1
reply=$(signin carol 'Carols own 77')
partial=$(printf '%s' "$reply" | jq -r .result.session)
reply=$(on_behalf "$partial" web.verify "{\"code\":\"$(code 1)\"}")
full=$(printf '%s' "$reply" | jq -r .result.session)
assert_contains "$(on_behalf "$full" user.show '{"name":"carol"}')" '"ok":true' "carol signs in and sees herself"
assert_contains "$(on_behalf "$full" user.show '{"name":"bob"}')" '"code":"denied"' \
	"but not bob: the session has carol's rights, not the frontend's choice"
assert_contains "$(on_behalf "$full" user.list '{}')" "for admins only" "and no admin operation"

daemon_stop
finish
