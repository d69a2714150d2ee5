#!/usr/bin/env bash
# Only idgovd signs the audit chain. idgov-authd serves logins and denials
# with no audit key at all (the file is moved away) and spools its events;
# a break-glass use is spooled by pam_idgov.so itself; idgovd, started
# later, signs them all into the chain in the order they were made, each
# once. An ingest killed (SIGKILL) between its commit and the unlinks
# duplicates nothing; a malformed spool file is quarantined and audited,
# never dropped.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

MODULE=$BUILD/pam_module/pam_idgov.so
it_setup
sed -i 's/^\[admin\]$/[mfa]\nwindow = 10\nfail_delay_ms = 0\n[admin]/' "$T/etc/idgov.conf"
ig sync >/dev/null
mkdir -p "$T/pam.d" "$T/run"
syslog_sink
stack() {
	for s in auth account session; do
		echo "$s required $MODULE $PAM_ARGS $*"
	done >"$T/pam.d/idgov"
}
stack timeout=1
enroll alice 0
SPOOL=$T/state/spool
chain() { sql "SELECT count(*) FROM audit WHERE action = '$1' AND subject = '$2'"; }
spooled() { find "$SPOOL" -maxdepth 1 -name '*.ev' | wc -l; }

# The service holds no audit key: without the file it still decides.
mv "$T/keys/audit.key" "$T/keys/audit.key.away"
authd_start || exit 1
assert_exit 0 "no audit key: alice logs in" pam alice authenticate acct_mgmt <<<"$(code 1)"
assert_exit 1 "no audit key: a locked account is refused" pam grace acct_mgmt
assert_exit 1 "no audit key: an unenrolled user is refused" pam bob authenticate <<<"123456"
assert_eq "$(stat -c %a "$SPOOL")" 700 "the spool directory is 0700"
assert_eq "$(find "$SPOOL" -maxdepth 1 -name '*.ev' ! -perm 600 | wc -l)" 0 "each event file is 0600"
assert_eq "$(find "$SPOOL" -maxdepth 1 -name '.*' | wc -l)" 0 "no temporary file is left behind"
before=$(spooled)
assert_eq "$((before >= 1))" 1 "the denial is spooled ($before events)"
assert_eq "$(chain login.denied grace)" 0 "and not in the chain: the service does not sign"
if command -v strace >/dev/null; then
	mv "$T/keys/audit.key.away" "$T/keys/audit.key"
	authd_stop
	# LeakSanitizer cannot run under ptrace.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -e trace=%file -o "$T/authd.strace" "$AUTHD" -c "$T/etc/idgov.conf" -p "$T/run/authd.pid" 2>>"$T/authd.err" &
	tracer=$!
	wait_for 10 test -s "$T/run/authd.pid"
	assert_exit 1 "traced service: a locked account is refused" pam grace acct_mgmt
	authd_stop
	wait "$tracer"
	assert_eq "$(grep -c 'audit\.key' "$T/authd.strace")" 0 "the service never opens the audit key"
	assert_contains "$(cat "$T/authd.strace")" "$SPOOL/." "it writes to the spool"
	mv "$T/keys/audit.key" "$T/keys/audit.key.away"
else
	not_ok "strace is missing (scripts/install-deps.sh installs it)"
fi

# The service down: a break-glass code, spooled by the module.
authd_stop
assert_exit 0 "idgov breakglass codes erin" ig breakglass codes erin --file "$T/etc/breakglass"
mapfile -t bg < <(grep -E '^  [A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$' "$T/last.out" | tr -d ' ')
stack timeout=1 breakglass="$T/etc/breakglass"
assert_exit 0 "service down: erin comes in with a break-glass code" pam erin authenticate acct_mgmt <<<"${bg[0]}"
assert_eq "$(spooled)" "$((before + 2))" "the break-glass use is spooled by the module"
last=$(find "$SPOOL" -maxdepth 1 -name '*.ev' | sort | tail -1)
assert_contains "$(cat "$last")" '"action":"login.breakglass"' "as login.breakglass"

# idgovd, back with its key, signs them all, in order, once.
mv "$T/keys/audit.key.away" "$T/keys/audit.key"
head=$(sql "SELECT coalesce(max(seq), 0) FROM audit")
names=$(find "$SPOOL" -maxdepth 1 -name '*.ev' -printf '%f\n' | sort | tr '\n' ' ')
daemon_start || exit 1
wait_for 10 test "$(spooled)" = 0
assert_eq "$(spooled)" 0 "idgovd ingests the spool at start"
assert_eq "$(chain login.denied grace)" 2 "grace's two denials are in the chain"
assert_eq "$(chain login.breakglass erin)" 1 "erin's break-glass use is in the chain"
assert_eq "$(sql "SELECT json_extract(details, '\$.codes_left') FROM audit WHERE action = 'login.breakglass'")" 9 \
	"with the codes left"
assert_eq "$(sql "SELECT group_concat(json_extract(details, '\$.spool'), ' ') || ' ' FROM (SELECT details FROM audit WHERE seq > $head AND json_extract(details, '\$.spool') IS NOT NULL ORDER BY seq)")" \
	"$names" "in the order they were made"
assert_exit 0 "the chain verifies" ig audit verify

# Notified while running: a new denial reaches the chain without a restart.
stack timeout=1
authd_start || exit 1
assert_exit 1 "a locked account is refused again" pam grace acct_mgmt
wait_for 10 test "$(chain login.denied grace)" = 3
assert_eq "$(chain login.denied grace)" 3 "idgovd signs a new event while it runs"
daemon_stop

# Killed between the commit and the unlinks: nothing is appended twice.
assert_exit 1 "idgovd down: grace refused" pam grace acct_mgmt
assert_exit 1 "and again" pam grace acct_mgmt
assert_eq "$(spooled)" 2 "two events wait in the spool"
if command -v strace >/dev/null; then
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -o /dev/null -e trace=unlinkat -e inject=unlinkat:signal=SIGKILL:when=1 \
		"$IDGOV" -c "$T/etc/idgov.conf" audit ingest >/dev/null 2>&1
	assert_eq "$?" 137 "the ingest is killed (SIGKILL) at its first unlink, after its commit"
	assert_eq "$(spooled)" 2 "the files are still there"
	assert_eq "$(chain login.denied grace)" 5 "and the events are in the chain"
	assert_exit 0 "the next ingest" ig audit ingest
	assert_contains "$(cat "$T/last.out")" "0 event(s) signed into the chain, 2 already there" \
		"finds them in the chain"
	assert_eq "$(chain login.denied grace)" 5 "nothing is appended twice"
	assert_eq "$(spooled)" 0 "and the files are gone"
else
	not_ok "strace is missing (scripts/install-deps.sh installs it)"
fi

# A malformed event: moved aside, alerted and audited, never dropped.
printf '{"v":1,"time":1,"action":"x"}' >"$SPOOL/00000000000000ff-00000001-00000000.ev"
chmod 600 "$SPOOL/00000000000000ff-00000001-00000000.ev"
assert_exit 0 "a malformed file does not stop the ingest" ig audit ingest
assert_contains "$(cat "$T/last.out")" "1 malformed and quarantined" "it is reported"
assert_eq "$(stat -c %s "$SPOOL/quarantine/00000000000000ff-00000001-00000000.ev")" 29 \
	"and kept in the quarantine as it was"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'audit.spool_quarantined'")" 1 \
	"and its quarantine is audited"
assert_exit 0 "the chain still verifies" ig audit verify
finish
