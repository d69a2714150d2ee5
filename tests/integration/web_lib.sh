# shellcheck shell=bash
# Helpers for the idgov-web tests (sourced after lib.sh and it_setup):
# idgov-web as "nobody" on a free loopback port with a certificate for
# 127.0.0.1, curl against it with that certificate as the only CA, and a
# sign-in through the pages' own forms.

IDGOV_WEB=$BUILD/idgov/idgov-web
WEB_UID=65534

# web_setup [EXTRA_WEB_KEYS]: the [web] section, a key and certificate that
# idgov init makes, and the permissions the frontend's uid needs.
web_setup() {
	WEB_PORT=$(slapd_free_port)
	mkdir -p "$T/web"
	cat >>"$T/etc/idgov.conf" <<CONF
[web]
user = nobody
listen = 127.0.0.1
port = $WEB_PORT
certificate = $T/web/web.crt
private_key = $T/web/web.key
url = https://127.0.0.1:$WEB_PORT
${1:-}
CONF
	chmod 755 "$T/etc" "$T/slapd"
	chmod 644 "$T/etc/idgov.conf"
	"$IDGOV" -c "$T/etc/idgov.conf" init >/dev/null || return 1
	chown "$WEB_UID" "$T/web/web.key"
	WEB="https://127.0.0.1:$WEB_PORT"
}

# web_start: idgov-web as nobody; if the port was taken meanwhile (another
# test picked it too), again on another one.
web_start() {
	local try
	for try in 1 2 3; do
		setpriv --reuid=$WEB_UID --regid=$WEB_UID --clear-groups "$IDGOV_WEB" \
			-c "$T/etc/idgov.conf" 2>"$T/web/stderr" &
		WEB_PID=$!
		trap 'kill "$WEB_PID" 2>/dev/null; cleanup' EXIT
		if wait_for 10 curl -s --cacert "$T/web/web.crt" -o /dev/null "$WEB/signin"; then
			return 0
		fi
		kill "$WEB_PID" 2>/dev/null
		wait "$WEB_PID" 2>/dev/null
		grep -q "cannot serve HTTPS" "$T/web/stderr" || return 1
		echo "# idgov-web could not take port $WEB_PORT (try $try): another port" >&2
		WEB_PORT=$(slapd_free_port)
		sed -i "s/^port = .*/port = $WEB_PORT/; s|^url = https://127.0.0.1:.*|url = https://127.0.0.1:$WEB_PORT|" \
			"$T/etc/idgov.conf"
		WEB="https://127.0.0.1:$WEB_PORT"
	done
	return 1
}

web_stop() {
	kill "$WEB_PID" 2>/dev/null
	wait "$WEB_PID" 2>/dev/null
}

# wcurl ARGS...: curl against idgov-web, trusting only its certificate.
wcurl() {
	curl -s --cacert "$T/web/web.crt" "$@"
}

# csrf_of FILE: the CSRF token of the first form in a saved page.
csrf_of() {
	sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$1" | head -1
}

# web_signin USER PASSWORD JAR: password step through the form; leaves the
# code page in $T/web/page.html. Prints the HTTP status of the POST.
web_password() {
	local user=$1 password=$2 jar=$3
	rm -f "$jar"
	wcurl -c "$jar" -b "$jar" -o "$T/web/page.html" "$WEB/signin"
	wcurl -c "$jar" -b "$jar" -o "$T/web/post.html" -w '%{http_code} %{redirect_url}' \
		--data-urlencode "csrf=$(csrf_of "$T/web/page.html")" \
		--data-urlencode "name=$user" --data-urlencode "password=$password" "$WEB/signin"
}

# web_code CODE JAR: the code step; prints the status and where it leads.
web_code() {
	local code=$1 jar=$2
	wcurl -c "$jar" -b "$jar" -o "$T/web/page.html" "$WEB/signin/code"
	wcurl -c "$jar" -b "$jar" -o "$T/web/post.html" -w '%{http_code} %{redirect_url}' \
		--data-urlencode "csrf=$(csrf_of "$T/web/page.html")" \
		--data-urlencode "code=$code" "$WEB/signin/code"
}
