#!/usr/bin/env bash
# idgov-web at the HTTP level, with curl and openssl against the real
# program over TLS: idgov init's self-signed certificate; TLS 1.2 and 1.3
# accepted, 1.1 refused; the security headers on every response; the
# session cookie's flags; sign-in through the forms (password, then code)
# with the id replaced at each step; a POST without its CSRF token is 403
# and changes nothing; size limits (413), wrong methods and content types;
# the per-address connection limit; idle sessions; a reviewer's items;
# the Server-Timing header on a signed-in person's pages only,
# bench/web_load against the real pages, and a request answered while
# another connection's waits for a stopped idgovd.
# Needs root (setpriv: the frontend runs as nobody).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=web_lib.sh
. "$(dirname "$0")/web_lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null || ! command -v curl >/dev/null; then
	echo "skipped: needs root, setpriv and curl"
	exit 77
fi
it_setup "$ROOT/tests/fixtures/reviews.ldif"
cat >>"$T/etc/idgov.conf" <<CONF
[reviews]
fallback_reviewer = sync, daemon
[campaign q]
scope = groups
groups = admins, ops, dev, finance
schedule = none
duration = 1h
CONF
web_setup "max_connections_per_addr = 4
max_request = 65536
session_idle = 2m"
assert_eq "$(stat -c %a "$T/web/web.key")" 600 "idgov init made the key, 0600"
assert_contains "$(openssl x509 -in "$T/web/web.crt" -noout -ext subjectAltName 2>&1)" "IP Address:127.0.0.1" \
	"and a certificate naming 127.0.0.1"
slapd_modify "$T/slapd" <<LDIF
dn: uid=bin,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Bin password 1')

dn: uid=alice,ou=People,dc=example,dc=com
changetype: modify
add: title
title: Engineer <b>lead</b>
-
add: departmentNumber
departmentNumber: R&D

dn: uid=bob,ou=People,dc=example,dc=com
changetype: modify
add: title
title: $(printf 'x%.0s' $(seq 1 1100))
-
add: ou
ou: Finance

dn: cn=dev,ou=Groups,dc=example,dc=com
changetype: modify
add: description
description: Builds <script>alert(1)</script> & ships
LDIF
ig sync >/dev/null
assert_exit 0 "idgovd starts" daemon_start
assert_exit 0 "campaign q starts" ig review start q
enroll bin -1
assert_exit 0 "idgov-web starts as nobody" web_start

assert_exit 1 "idgov-web refuses to run as root" "$IDGOV_WEB" -c "$T/etc/idgov.conf"

# --- TLS ---
tls() { openssl s_client -connect "127.0.0.1:$WEB_PORT" -CAfile "$T/web/web.crt" "$@" </dev/null 2>&1; }
assert_contains "$(tls -tls1_3)" "New, TLSv1.3, Cipher is" "TLS 1.3 is served"
assert_contains "$(tls -tls1_2)" "New, TLSv1.2, Cipher is" "TLS 1.2 is accepted"
assert_contains "$(tls)" "New, TLSv1.3, Cipher is" "a client that offers both gets TLS 1.3"
# OpenSSL's own floor is lifted (SECLEVEL=0), so only the server can refuse.
out=$(tls -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
assert_contains "$out" "New, (NONE), Cipher is (NONE)" "TLS 1.1 is refused"
out=$(tls -tls1 -cipher 'DEFAULT:@SECLEVEL=0')
assert_contains "$out" "New, (NONE), Cipher is (NONE)" "TLS 1.0 is refused"
assert_exit 0 "a client limited to TLS 1.1 gets no page" sh -c "! curl -s -m 5 --cacert $T/web/web.crt --tls-max 1.1 -o /dev/null $WEB/signin"
assert_exit 7 "plain HTTP gets nothing" sh -c "curl -s -m 5 -o /dev/null http://127.0.0.1:$WEB_PORT/signin; r=\$?; [ \$r -ne 0 ] && exit 7"

# --- headers and cookie ---
wcurl -D "$T/web/h.txt" -o /dev/null "$WEB/signin"
h=$(tr -d '\r' <"$T/web/h.txt")
assert_contains "$h" "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'" "strict CSP, no inline script"
assert_contains "$h" "Strict-Transport-Security: max-age=31536000" "HSTS"
assert_contains "$h" "X-Frame-Options: DENY" "X-Frame-Options DENY"
assert_contains "$h" "X-Content-Type-Options: nosniff" "nosniff"
assert_contains "$h" "Cache-Control: no-store" "pages are not cached"
assert_contains "$h" "Set-Cookie: __Host-idgov=" "a session cookie"
assert_contains "$h" "; Path=/; Secure; HttpOnly; SameSite=Strict" "Secure; HttpOnly; SameSite=Strict"
assert_eq "$(grep -ci '^Server-Timing:' <<<"$h")" 0 "a sign-in page does not say its server time"
wcurl -D "$T/web/h2.txt" -o /dev/null "$WEB/static/app.js"
assert_contains "$(tr -d '\r' <"$T/web/h2.txt")" "X-Frame-Options: DENY" "headers on assets too"
assert_eq "$(grep -ci '^Server-Timing:' "$T/web/h2.txt")" 0 "nor a static asset"
assert_eq "$(wcurl -D "$T/web/h3.txt" -o /dev/null -w '%{http_code}' "$WEB/reviews")" 303 "a page needs a session"
assert_eq "$(grep -ci '^Server-Timing:' "$T/web/h3.txt")" 0 "nor a redirect to sign in"
wcurl -D "$T/web/h4.txt" -o /dev/null -X DELETE "$WEB/signin"
assert_eq "$(grep -ci '^Server-Timing:' "$T/web/h4.txt")" 0 "nor a refusal (405)"

# --- CSRF, methods, limits ---
jar=$T/web/jar
wcurl -c "$jar" -o /dev/null "$WEB/signin"
assert_eq "$(wcurl -b "$jar" -o /dev/null -w '%{http_code}' --data 'name=bin&password=Bin+password+1' "$WEB/signin")" 403 \
	"sign-in without its CSRF token: 403"
assert_eq "$(wcurl -b "$jar" -o /dev/null -w '%{http_code}' --data 'csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&name=bin&password=x' "$WEB/signin")" 403 \
	"sign-in with a wrong CSRF token: 403"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'web.signin'")" 0 "idgovd was never asked"
assert_eq "$(wcurl -o /dev/null -w '%{http_code}' -X DELETE "$WEB/signin")" 405 "DELETE: 405"
assert_eq "$(wcurl -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data '{}' "$WEB/signin")" 415 "a JSON body: 415"
head -c 70000 /dev/zero | tr '\0' 'a' >"$T/web/big"
assert_eq "$(wcurl -o /dev/null -w '%{http_code}' --data-binary @"$T/web/big" "$WEB/signin")" 413 "a body over max_request: 413"
assert_eq "$(wcurl -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @"$T/web/big" "$WEB/signin")" 413 \
	"the same, chunked (no Content-Length): 413"
assert_eq "$(wcurl -b "$jar" -o /dev/null -w '%{http_code}' --data 'csrf=%zz' "$WEB/signin")" 400 "a malformed form: 400"

# --- per-address connection limit (4 here) ---
python3 - "$WEB_PORT" >"$T/web/conns.txt" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
time.sleep(0.5)
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(3)
try:
    print("closed" if extra.recv(1) == b"" else "open")
except (ConnectionResetError, BrokenPipeError):
    print("closed")
except socket.timeout:
    print("open")
PY
assert_eq "$(cat "$T/web/conns.txt")" closed "a fifth connection from one address is closed at once"
assert_eq "$(wcurl -o /dev/null -w '%{http_code}' "$WEB/signin")" 200 "and the server serves again after"

# --- sign-in through the forms ---
res=$(web_password bin 'wrong' "$jar")
assert_eq "${res%% *}" 401 "a wrong password: 401"
assert_contains "$(cat "$T/web/post.html")" "wrong user name or password" "and the page says so"
res=$(web_password bin 'Bin password 1' "$jar")
assert_eq "$res" "303 $WEB/signin/code" "the right password leads to the code"
first=$(awk '$6 == "__Host-idgov" { print $7 }' "$jar")
res=$(web_code 000000 "$jar")
assert_eq "${res%% *}" 401 "a wrong code: 401"
res=$(web_code "$(code 1)" "$jar")
assert_eq "$res" "303 $WEB/reviews" "the code leads to the reviews"
second=$(awk '$6 == "__Host-idgov" { print $7 }' "$jar")
assert_exit 1 "the cookie changed at the code step" test "$first" = "$second"
assert_eq "$(wcurl -b "__Host-idgov=$first" -o /dev/null -w '%{http_code}' "$WEB/reviews")" 303 \
	"the id from before the code is worth nothing"
wcurl -b "$jar" -o "$T/web/reviews.html" -w '%{http_code}' "$WEB/reviews" >"$T/web/code.txt"
assert_eq "$(cat "$T/web/code.txt")" 200 "bin sees the review page"
# A signed-in person's page says its server time: one header, a duration with three
# decimals and nothing else (no name, path or address).
wcurl -b "$jar" -D "$T/web/h5.txt" -o /dev/null "$WEB/reviews"
assert_eq "$(grep -ci '^Server-Timing:' "$T/web/h5.txt")" 1 "a signed-in page has one Server-Timing header"
assert_exit 0 "app;dur=MS with three decimals, nothing more" grep -qE '^Server-Timing: app;dur=[0-9]+\.[0-9]{3}.$' "$T/web/h5.txt"
# bench/web_load, the benchmark's client, against the real pages: bin's cookie gets pages
# and their server time; the cookie from before the code gets a 303, an error.
awk '$6 == "__Host-idgov" { print $7 }' "$jar" >"$T/web/cookies.txt"
out=$("$BUILD/bench/web_load" -p "$WEB_PORT" -a "$T/web/web.crt" -k "$T/web/cookies.txt" -n 3 /reviews 2>&1)
assert_eq "$?" 0 "web_load: 3 pages on one connection"
assert_contains "$out" "3 ok, 0 errors" "web_load counts them"
assert_exit 0 "with the server's time" grep -qE 'server time p50 [0-9.]+ ms, p99 [0-9.]+ ms' <<<"$out"
echo "$first" >"$T/web/old-cookie.txt"
out=$("$BUILD/bench/web_load" -p "$WEB_PORT" -a "$T/web/web.crt" -k "$T/web/old-cookie.txt" -n 2 /reviews 2>&1)
assert_eq "$?" 1 "web_load exits 1 on a page refused"
assert_contains "$out" "connection 1: HTTP status 303" "and says why"
assert_exit 1 "without printing the cookie" grep -qF "$first" <<<"$out"
n=$(sql "SELECT count(*) FROM review_items WHERE reviewer = 'bin'")
assert_contains "$(cat "$T/web/reviews.html")" "of $n decided" "with bin's $n items"
assert_eq "$(grep -c 'name="item"' "$T/web/reviews.html")" "$n" "one row per item"
# Title, department (ou when there is no departmentNumber) and the group's description,
# mirrored from the directory, escaped; a title over the value limit is cut, with a warning.
assert_contains "$(cat "$T/web/reviews.html")" "Engineer &lt;b&gt;lead&lt;/b&gt; · R&amp;D" \
	"alice's title and department, escaped"
assert_contains "$(cat "$T/web/reviews.html")" "x · Finance" "bob's department is his ou"
assert_contains "$(cat "$T/web/reviews.html")" "Builds &lt;script&gt;alert(1)&lt;/script&gt; &amp; ships" \
	"dev's description, escaped"
assert_eq "$(sql "SELECT length(title) FROM users WHERE uid = 'bob'")" 1024 "a 1,100-byte title is stored cut at 1,024"
assert_eq "$(sql "SELECT count(*) FROM entry_warnings w JOIN users u ON u.uuid = w.uuid WHERE u.uid = 'bob' AND w.attribute = 'title'")" 1 \
	"with a warning"

# A decision without the CSRF token is 403 and changes nothing.
item=$(sql "SELECT id FROM review_items WHERE reviewer = 'bin' AND NOT privileged LIMIT 1")
assert_eq "$(wcurl -b "$jar" -o /dev/null -w '%{http_code}' --data "one=$item:approve" "$WEB/reviews/decide")" 403 \
	"a decision without its CSRF token: 403"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE decision IS NOT NULL AND decided_by = 'bin'")" 0 "nothing decided"
csrf=$(csrf_of "$T/web/reviews.html")
assert_eq "$(wcurl -b "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" --data "one=$item:approve" "$WEB/reviews/decide")" 303 \
	"with it, the decision is recorded"
assert_eq "$(sql "SELECT decision || ' ' || decided_by FROM review_items WHERE id = $item")" "approve bin" "in the store, by bin"
assert_contains "$(sql "SELECT details FROM audit WHERE actor = 'bin' AND action = 'control.review.decide_many' ORDER BY seq DESC LIMIT 1")" \
	'"addr":"127.0.0.1"' "audited as bin's, with the address"

# The list is paged by idgovd: the filters narrow the rows, never the progress; a page
# past the end is empty; its links keep the filters, percent-encoded; a page number
# that is not one is a clear 400.
pg() { wcurl -b "$jar" -o "$T/web/page.html" -w '%{http_code}' "$WEB/reviews$1"; }
assert_eq "$(pg '?privileged=1')" 200 "the privileged filter"
assert_eq "$(grep -c 'name="item"' "$T/web/page.html")" \
	"$(sql "SELECT count(*) FROM review_items WHERE reviewer = 'bin' AND privileged")" "shows bin's privileged items only"
assert_contains "$(cat "$T/web/page.html")" "of $n decided" "and the progress counts them all"
assert_eq "$(pg '?person=%25')" 200 "a person filter of '%'"
assert_eq "$(grep -c 'name="item"' "$T/web/page.html")" 0 "matches nobody: '%' is a character, not a pattern"
assert_eq "$(pg '?person=%3Cscript%3E&page=2')" 200 "a page past the end"
assert_eq "$(grep -c 'name="item"' "$T/web/page.html")" 0 "holds no rows"
assert_contains "$(cat "$T/web/page.html")" 'href="/reviews?person=%3Cscript%3E&amp;page=1"' \
	"and links back to the first page with the filter percent-encoded"
assert_exit 1 "the filter is never markup" grep -q '<script>' "$T/web/page.html"
assert_eq "$(pg '?page=x')" 400 "a page number that is not one"
assert_contains "$(cat "$T/web/page.html")" "That page number could not be read." "says so"
# Cursors (the pager's previous and next links): only u or d and digits reach idgovd.
for bad in 'after=x1' 'after=u' 'after=u012' 'before=d-1' 'after=u1%0A' 'after=u12345678901234567890' 'after=u1&before=u2'; do
	assert_eq "$(pg "?$bad&page=2")" 400 "a cursor that is not one ($bad): 400"
done
assert_contains "$(cat "$T/web/page.html")" "That page number could not be read." "says so, and shows the first page"
assert_eq "$(pg '?after=u1&page=2')" 200 "a well-formed cursor is a page"

# Delegation from the page, through the operation `idgov review delegate` uses.
csrf=$(csrf_of "$T/web/reviews.html")
item=$(sql "SELECT id FROM review_items WHERE reviewer = 'bin' AND decision IS NULL AND user_uid <> 'sys' ORDER BY id LIMIT 1")
about=$(sql "SELECT user_uid FROM review_items WHERE id = $item")
dl() { wcurl -b "$jar" -o "$T/web/dl.html" -w '%{http_code} %{redirect_url}' --data-urlencode "csrf=$csrf" --data "delegate=1&item=$item" "$@" "$WEB/reviews/decide"; }
assert_eq "$(dl --data "to=nosuch")" "404 " "delegating to nobody the directory knows: 404"
assert_contains "$(cat "$T/web/dl.html")" "0 of 1 delegated" "and the page says nothing was"
assert_eq "$(dl --data "to=$about")" "403 " "delegating an item to the person it is about: 403"
assert_eq "$(dl)" "400 " "delegating to no one: 400"
assert_eq "$(sql "SELECT reviewer FROM review_items WHERE id = $item")" bin "the item is still bin's"
assert_eq "$(dl --data "to=sys")" "303 $WEB/reviews?delegated=1" "bin delegates an item to sys"
assert_eq "$(sql "SELECT reviewer FROM review_items WHERE id = $item")" sys "it is sys's in the store"
assert_contains "$(sql "SELECT details FROM audit WHERE actor = 'bin' AND action = 'review.delegate' ORDER BY seq DESC LIMIT 1")" \
	'"to":"sys"' "audited as bin's delegation"
assert_eq "$(wcurl -b "$jar" -o "$T/web/page.html" -w '%{http_code}' "$WEB/reviews?delegated=1")" 200 "the list after"
assert_exit 1 "no longer shows the item" grep -q "id=\"item-$item\"" "$T/web/page.html"

# Sign-out ends the session here and in idgovd.
csrf=$(csrf_of "$T/web/reviews.html")
assert_eq "$(wcurl -b "$jar" -c "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" "$WEB/signout")" 303 "sign-out"
assert_eq "$(wcurl -b "__Host-idgov=$second" -o /dev/null -w '%{http_code}' "$WEB/reviews")" 303 "the old cookie is refused after"
assert_eq "$(sql "SELECT count(*) FROM web_sessions WHERE user = 'bin' AND ended IS NULL")" 0 "and idgovd's session is ended"

# A page waiting for idgovd holds one page thread, never the connections of others:
# with one page thread ([web] threads = 1) and idgovd stopped, a sign-in waits for
# idgovd, and meanwhile another connection's static asset is answered. (Before, the
# libmicrohttpd thread that read a request made its page, and with threads = 1 the one
# thread waited for idgovd with every other connection.)
web_stop
sed -i 's/^\[web\]$/[web]\nthreads = 1/' "$T/etc/idgov.conf"
assert_exit 0 "idgov-web starts with one page thread" web_start
jar=$T/web/jar-blocked
wcurl -c "$jar" -b "$jar" -o "$T/web/page.html" "$WEB/signin"
# Connections waiting in idgovd's accept queue (a listening socket's Recv-Q).
queued() { [ "$(ss -xlnH | awk -v s="$T/run/idgov.sock" '$5 == s { print $3 }')" -ge 1 ]; }
kill -STOP "$(cat "$T/run/idgovd.pid")"
wcurl -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$(csrf_of "$T/web/page.html")" \
	--data-urlencode name=bin --data-urlencode 'password=Bin password 1' "$WEB/signin" >"$T/web/blocked.txt" &
blocked=$!
# The sign-in's connection to idgovd waits in idgovd's accept queue while it is stopped.
assert_exit 0 "the sign-in waits for the stopped idgovd" wait_for 10 queued
assert_eq "$(wcurl -m 20 -o /dev/null -w '%{http_code}' "$WEB/static/style.css")" 200 \
	"another connection's request is answered meanwhile"
assert_exit 0 "while the sign-in still waits" kill -0 "$blocked"
kill -CONT "$(cat "$T/run/idgovd.pid")"
wait "$blocked"
assert_eq "$(cat "$T/web/blocked.txt")" 303 "the sign-in goes on once idgovd answers"
# A page gives up on an idgovd that does not answer ([web] idgovd_timeout) and
# its thread serves the next request: with the one page thread, a second
# sign-in is answered too, each after the timeout, while idgovd stays stopped.
# The log says why the person was told "unavailable".
web_stop
syslog_sink
chmod 666 "$T/run/log.sock" # idgov-web logs as nobody
sed -i 's/^threads = 1$/threads = 1\nidgovd_timeout = 2s/' "$T/etc/idgov.conf"
assert_exit 0 "idgov-web starts with a 2 s idgovd_timeout" web_start
kill -STOP "$(cat "$T/run/idgovd.pid")"
# A sign-in, its form fetched first (a refused step's form has a new token).
signin_stopped() {
	wcurl -m 20 -c "$jar" -b "$jar" -o "$T/web/page.html" "$WEB/signin"
	wcurl -m 20 -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' \
		--data-urlencode "csrf=$(csrf_of "$T/web/page.html")" --data-urlencode name=bin \
		--data-urlencode 'password=Bin password 1' "$WEB/signin"
}
assert_eq "$(signin_stopped)" 503 "a sign-in while idgovd is stopped is unavailable after the timeout"
assert_eq "$(signin_stopped)" 503 "and the page thread serves the next one"
assert_logged "$T/syslog.txt" "idgovd did not answer within 2000 ms" "the log says idgovd did not answer in time"
kill -CONT "$(cat "$T/run/idgovd.pid")"
assert_eq "$(signin_stopped)" 303 "once idgovd answers, the sign-in goes on"
sed -i '/^idgovd_timeout = 2s$/d' "$T/etc/idgov.conf"
# More page threads than idgovd lets the web user connect: said at start.
web_stop
sed -i 's/^threads = 1$/threads = 9/' "$T/etc/idgov.conf"
assert_exit 0 "idgov-web starts with 9 page threads" web_start
assert_exit 0 "and warns that idgovd allows the web user 8 connections" \
	wait_for 10 grep -q 'threads = 9 is more than \[control\] max_clients_per_uid = 8' "$T/syslog.txt"
kill "$SINK_PID" # web_start's exit trap replaced syslog_sink's

web_stop
daemon_stop
finish
