#!/usr/bin/env bash
# Break-glass acknowledgements on idgov-web's Approvals page, over HTTPS
# with curl against the real programs: daemon (uid 1, in the [breakglass]
# group) breaks the glass with the CLI; alice, an idgov admin, signed in
# through the forms, sees the use on the Approvals page and acknowledges it
# with a comment, recorded in the store and audited as hers with her
# address. Refused, and nothing changed: no CSRF token (403), no comment
# (400), an id that is no number (400), no such grant (404), twice (409),
# and the page for someone who is no admin (403). A reason with markup
# shows as text.
# Needs root (setpriv).
# shellcheck source=grants_lib.sh
. "$(dirname "$0")/grants_lib.sh"
# shellcheck source=web_lib.sh
. "$(dirname "$0")/web_lib.sh"

if ! command -v curl >/dev/null; then
	echo "skipped: needs curl"
	exit 77
fi
grants_setup
web_setup
slapd_modify "$T/slapd" <<LDIF
dn: uid=alice,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Alice password 1')

dn: uid=carol,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Carol password 1')
LDIF
ig sync >/dev/null
assert_exit 0 "idgovd starts" daemon_start
enroll alice -1
assert_exit 0 "idgov-web starts as nobody" web_start

assert_exit 0 "daemon breaks the glass" \
	as 1 grant breakglass --group dba --for 10m --reason 'db down <b>INC-7</b>'
id=$(sql "SELECT id FROM grants WHERE breakglass")
assert_eq "$(sql "SELECT acknowledged_by IS NULL FROM grants WHERE id = $id")" 1 "not acknowledged yet"

jar=$T/web/jar
assert_eq "$(web_password alice 'Alice password 1' "$jar")" "303 $WEB/signin/code" "alice's password"
assert_eq "$(web_code "$(code 1)" "$jar")" "303 $WEB/reviews" "and her code"
page() { wcurl -b "$jar" -o "$T/web/approvals.html" -w '%{http_code}' "$WEB/approvals$1"; }
assert_eq "$(page '')" 200 "alice sees the Approvals page"
assert_contains "$(cat "$T/web/approvals.html")" "id=\"breakglass-$id\"" "with the break-glass use"
assert_contains "$(cat "$T/web/approvals.html")" "daemon → dba" "who broke the glass, to what"
assert_contains "$(cat "$T/web/approvals.html")" "db down &lt;b&gt;INC-7&lt;/b&gt;" "the reason, as text"
csrf=$(csrf_of "$T/web/approvals.html")
ack() { wcurl -b "$jar" -o "$T/web/ack.html" -w '%{http_code} %{redirect_url}' "$@" "$WEB/approvals/acknowledge"; }

# Refused, and nothing changes.
assert_eq "$(ack --data "ack=$id&a$id=checked")" "403 " "no CSRF token: 403"
assert_eq "$(ack --data-urlencode "csrf=$csrf" --data "ack=$id")" "400 " "no comment: 400"
assert_contains "$(cat "$T/web/ack.html")" "acknowledged with a comment" "the page says a comment is needed"
assert_eq "$(ack --data-urlencode "csrf=$csrf" --data "ack=$id&a$id=+++")" "400 " "a comment of blanks: 400"
assert_eq "$(ack --data-urlencode "csrf=$csrf" --data "ack=1x&a1x=checked")" "400 " "an id that is no number: 400"
assert_eq "$(ack --data-urlencode "csrf=$csrf" --data "ack=&a=checked")" "400 " "no id: 400"
assert_eq "$(ack --data-urlencode "csrf=$csrf" --data "ack=999&a999=checked")" "404 " "no such grant: 404"
assert_eq "$(sql "SELECT count(*) FROM grants WHERE acknowledged_by IS NOT NULL")" 0 "nothing acknowledged"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'grant.acknowledge'")" 0 "nor audited as done"

assert_eq "$(ack --data-urlencode "csrf=$csrf" --data "ack=$id" --data-urlencode "a$id=called daemon: INC-7, <ok>")" \
	"303 $WEB/approvals?acknowledged=$id" "alice acknowledges it with a comment"
assert_eq "$(sql "SELECT acknowledged_by FROM grants WHERE id = $id")" alice "recorded as alice's"
assert_contains "$(sql "SELECT details FROM audit WHERE action = 'grant.acknowledge' AND actor = 'alice'")" \
	'"comment":"called daemon: INC-7, <ok>"' "audited as alice's, with the comment"
assert_contains "$(sql "SELECT details FROM audit WHERE action = 'control.grant.acknowledge' AND actor = 'alice'")" \
	'"addr":"127.0.0.1"' "and the request with her address"
assert_eq "$(page "?acknowledged=$id")" 200 "the page after"
assert_contains "$(cat "$T/web/approvals.html")" "Break-glass grant #$id acknowledged." "says so"
assert_exit 1 "and no longer lists it" grep -q "id=\"breakglass-$id\"" "$T/web/approvals.html"
assert_contains "$(cat "$T/web/approvals.html")" "No break-glass use is waiting for review." "nothing is left"
assert_eq "$(ack --data-urlencode "csrf=$csrf" --data "ack=$id&a$id=again")" "409 " "twice: 409"
assert_contains "$(cat "$T/web/ack.html")" "acknowledged already" "and says why"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'grant.acknowledge'")" 1 "one acknowledgement in the chain"

# Someone who is no admin gets neither the page nor the action.
enroll carol -1
jar2=$T/web/jar2
assert_eq "$(web_password carol 'Carol password 1' "$jar2")" "303 $WEB/signin/code" "carol signs in"
assert_eq "$(web_code "$(code 1)" "$jar2")" "303 $WEB/reviews" "with her code"
wcurl -b "$jar2" -o "$T/web/c.html" "$WEB/reviews"
assert_eq "$(wcurl -b "$jar2" -o /dev/null -w '%{http_code}' "$WEB/approvals")" 403 "carol, no admin: no Approvals page"
assert_eq "$(wcurl -b "$jar2" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$(csrf_of "$T/web/c.html")" \
	--data "ack=$id&a$id=x" "$WEB/approvals/acknowledge")" 403 "and no acknowledgement"

web_stop
daemon_stop
finish
