#!/usr/bin/env bash
# The audit chain's head is anchored outside the store: a root-only anchor
# file beside the keys and a syslog line at every signing. Cutting the
# tail of the chain in the store (records and their signatures) is then
# found by `idgov audit verify`, which names the missing range; the anchor
# is moved back only by an explicit, audited reset.
. "$(dirname "$0")/lib.sh"

it_setup
mkdir -p "$T/run"
syslog_sink

anchor=$T/keys/audit.anchor
assert_eq "$(stat -c %a "$anchor" 2>/dev/null)" 600 "idgov init created the anchor 0600"

assert_exit 0 "sync succeeds" ig sync
ig mfa reset alice >/dev/null 2>&1 # refused (not enrolled), but audited
assert_exit 0 "a second sync succeeds" ig sync --full
assert_exit 0 "the intact chain verifies" ig audit verify

head=$(sql "SELECT max(seq) FROM audit")
cut=$(sql "SELECT min(seq) FROM audit_signatures")
assert_contains "$(cat "$anchor")" "seq=$head " "the anchor holds the newest signed head"
wait_for 5 grep -q "audit head seq=$head hash=" "$T/syslog.txt"
assert_logged "$T/syslog.txt" "audit head seq=$head hash=" \
	"the signed head went to syslog"
line=$(grep "audit head seq=$head " "$T/syslog.txt" | head -n 1)
assert_contains "$line" "<85>" "at LOG_AUTHPRIV|LOG_NOTICE"
assert_contains "$line" " sig=" "with its signature"

# Cut the tail after the first signed head, signatures included: every
# record left is still chained and signed, so only the anchor tells.
sql "DELETE FROM audit WHERE seq > $cut; DELETE FROM audit_signatures WHERE seq > $cut"
assert_exit 1 "verify fails on the cut chain" ig audit verify
assert_contains "$(cat "$T/last.out")" \
	"records $((cut + 1))..$head are missing (anchor file says head $head, the store ends at $cut)" \
	"and names the missing range"
# (each verify is a request, audited: the store has grown by one since)
assert_eq "$(ig --json audit verify | jq -c '[.ok, .anchor, .first_bad - .records]')" \
	"[false,$head,1]" "JSON: not ok, the anchor's head, the first missing record"

# New records do not move the anchor back, nor over the gap.
ig mfa reset alice >/dev/null 2>&1
assert_contains "$(cat "$anchor")" "seq=$head " "the anchor never goes backwards"
wait_for 5 grep -q "is below the anchor" "$T/syslog.txt"
assert_logged "$T/syslog.txt" "is below the anchor" "signing over a cut chain alerts"
assert_exit 1 "verify still fails" ig audit verify

# Re-anchoring is explicit: the seq to confirm must be the store's head.
now=$(sql "SELECT max(seq) FROM audit_signatures")
assert_exit 2 "anchor --reset needs --confirm" ig audit anchor --reset
assert_exit 1 "a wrong --confirm is refused" ig audit anchor --reset --confirm $((now + 7))
assert_contains "$(cat "$T/last.err")" "the store's head is $now" "and says the head"
now=$(sql "SELECT max(seq) FROM audit_signatures") # the refusal was audited
assert_exit 0 "anchor --reset --confirm HEAD succeeds" ig audit anchor --reset --confirm "$now"
assert_contains "$(cat "$T/last.out")" "re-anchored at record $((now + 1))" \
	"at the reset's own record"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action='audit.anchor_reset'")" 1 \
	"the reset is audited"
assert_exit 0 "the chain verifies against the new anchor" ig audit verify

# A loose anchor file is refused, not trusted.
chmod 0622 "$anchor"
assert_exit 1 "a world-writable anchor fails verify" ig audit verify
assert_contains "$(cat "$T/last.out") $(cat "$T/last.err")" "writable by group or others" \
	"and says why"
chmod 0600 "$anchor"

finish
