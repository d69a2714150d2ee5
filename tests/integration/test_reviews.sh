#!/usr/bin/env bash
# An access review over a small organisation, end to end through idgovd:
# items and reviewers (managers; the fallback for the head, for a departed
# manager and instead of a self-review), departed users pre-decided,
# decisions by two reviewers under their own uids (each only their own
# items; a cross-decision refused and audited, or counted), bulk decisions from a file
# (all or nothing), delegation, close, remediation in the directory with
# verification, a nested membership reported, kill -9 mid-remediation, and
# the evidence report checked against the store and the audit chain.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "skipped: needs root and setpriv to run the CLI under other uids"
	exit 77
fi
it_setup "$ROOT/tests/fixtures/reviews.ldif"
cat >> "$T/etc/idgov.conf" <<CONF
[reviews]
fallback_reviewer = sync, daemon
[campaign q]
scope = groups
groups = admins, ops, dev, finance
schedule = none
duration = 1h
CONF
chmod 755 "$T/etc" "$T/slapd"
chmod 644 "$T/etc/idgov.conf"
as() {
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid="$uid" --clear-groups "$IDGOV" -c "$T/etc/idgov.conf" "$@"
}
members() {
	ldapsearch -LLL -x -o ldif-wrap=no -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" \
		-y "$T/slapd/rootpw" -b "cn=$1,ou=Groups,dc=example,dc=com" -s base member memberUid |
		sed -n 's/^\(member\|memberUid\): //p' | sort | tr '\n' ' '
}
item() { sql "SELECT id FROM review_items WHERE campaign_id = ${3:-1} AND user_uid = '$1' AND group_cn = '$2'"; }

ig sync >/dev/null
ldapdelete -x -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" \
	uid=dave,ou=People,dc=example,dc=com uid=frank,ou=People,dc=example,dc=com
ig sync >/dev/null
assert_eq "$(sql "SELECT group_concat(uid) FROM (SELECT uid FROM users WHERE status = 'departed' ORDER BY uid)")" \
	"dave,frank" "dave and frank have left"
assert_exit 0 "idgovd starts" daemon_start

# --- opening: items, reviewers, context ---
assert_exit 1 "a non-admin may not start a campaign" as 2 review start q
assert_exit 1 "an unknown campaign name is refused" ig review start nope
assert_contains "$(cat "$T/last.err")" "no [campaign nope]" "and named"
assert_exit 0 "root starts campaign q" ig review start q
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE campaign_id = 1")" 14 "one item per (user, group): 14"
reviewer() { sql "SELECT reviewer || ' / ' || reviewer_why FROM review_items WHERE campaign_id = 1 AND user_uid = '$1' AND group_cn = '$2'"; }
assert_eq "$(reviewer alice dev)" "bin / manager" "alice is reviewed by her manager bin"
assert_eq "$(reviewer carol dev)" "sys / manager" "carol by sys"
assert_eq "$(reviewer sync admins)" "daemon / fallback: no manager in the directory" \
	"the head (no manager) goes to the fallback, and not to themself (sync)"
assert_eq "$(reviewer erin finance)" "sync / fallback: the manager frank is departed" \
	"a departed manager's report goes to the fallback"
assert_eq "$(reviewer games dev)" "sync / fallback: no self-review" "a self-managed user goes to the fallback"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE reviewer = user_uid")" 0 "no self-review anywhere"
assert_eq "$(sql "SELECT decision || ' ' || decision_source || ' ' || recommendation FROM review_items WHERE user_uid = 'dave'")" \
	"revoke pre-decided revoke" "the departed user's item is pre-decided revoke"
assert_eq "$(sql "SELECT held_as || ' ' || via FROM review_items WHERE user_uid = 'carol' AND group_cn = 'admins'")" \
	"nested ops" "carol holds admins through ops, and the item says so"

# --- decisions by reviewers under their own uids ---
assert_eq "$(as 2 --json review pending | jq -r '[.[].user] | unique | join(",")')" "alice,bob" \
	"bin sees only alice's and bob's items"
assert_eq "$(as 3 --json review pending | jq -r '[.[].user] | unique | join(",")')" "carol,dave" \
	"sys sees only carol's and dave's items"
assert_exit 0 "bin approves alice in dev" as 2 review decide "$(item alice dev)" approve
assert_exit 1 "bin may not decide carol's item" as 2 review decide "$(item carol dev)" approve
assert_contains "$(cat "$T/last.err")" "is for sys to review, not bin" "the refusal says whose it is"
assert_exit 2 "revoking a privileged access needs a comment" as 2 review decide "$(item alice admins)" revoke
assert_exit 0 "with a comment it is recorded" as 2 review decide "$(item alice admins)" revoke --comment "left the team"
assert_exit 0 "bin revokes bob in dev" as 2 review decide "$(item bob dev)" revoke --comment "no longer codes"
assert_exit 0 "a decision can be changed while open" as 2 review decide "$(item alice dev)" revoke --comment "moved"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'review.decide' AND details LIKE '%\"user\":\"alice\",\"group\":\"dev\"%'")" \
	2 "both decisions on alice/dev are audited"
assert_exit 1 "an unknown item id" as 2 review decide 999 approve
assert_exit 2 "a malformed decision" as 2 review decide "$(item bob dev)" maybe

# --- bulk decisions: all or nothing ---
printf 'item,decision,comment\n%s,approve,ok\nnot-a-number,revoke\n' "$(item carol dev)" > "$T/bad.csv"
assert_exit 2 "a malformed decision file is refused" as 3 review decide --file "$T/bad.csv"
assert_contains "$(cat "$T/last.err")" "line 3: expected item,decision[,comment]" "naming the line"
printf '%s,approve,ok\n999,revoke,x\n' "$(item carol dev)" > "$T/unknown.csv"
assert_exit 1 "a file with an unknown item id is refused" as 3 review decide --file "$T/unknown.csv"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE reviewer = 'sys' AND decision_source = 'reviewer'")" 0 \
	"and nothing of either file was recorded"
printf '[{"item": %s, "decision": "approve", "comment": "still on call"}]\n' "$(item carol dev)" > "$T/ok.json"
assert_exit 0 "a JSON decision file" as 3 review decide --file "$T/ok.json"
assert_eq "$(sql "SELECT decision FROM review_items WHERE id = $(item carol dev)")" approve "recorded"
# A file larger than one request ([control] max_request, 64 KiB here) goes in
# chunks and is committed whole: 400 lines with 500-character comments.
note=$(head -c 500 /dev/zero | tr '\0' n)
{
	for _ in $(seq 399); do printf '%s,approve,%s\n' "$(item carol dev)" "$note"; done
	printf '%s,revoke,last line wins\n' "$(item carol dev)"
} > "$T/big.csv"
assert_exit 0 "a 200 KB decision file is sent in chunks" as 3 review decide --file "$T/big.csv"
assert_contains "$(cat "$T/last.out")" "400" "and all 400 decisions are recorded"
assert_eq "$(sql "SELECT decision || ' ' || comment FROM review_items WHERE id = $(item carol dev)")" \
	"revoke last line wins" "in file order"
{
	for _ in $(seq 399); do printf '%s,approve,%s\n' "$(item carol dev)" "$note"; done
	printf '%s,approve,not sys to decide\n' "$(item alice dev)"
} > "$T/big-bad.csv"
assert_exit 1 "a chunked file with one decision sys may not make is refused" \
	as 3 review decide --file "$T/big-bad.csv"
assert_eq "$(sql "SELECT decision FROM review_items WHERE id = $(item carol dev)")" revoke \
	"and none of its 400 decisions is recorded"
assert_eq "$(sql "SELECT count(*) FROM review_batches")" 0 "no batch is left behind"
assert_exit 0 "sys approves carol in dev again" as 3 review decide "$(item carol dev)" approve
assert_exit 0 "sys revokes carol's nested admins access" \
	as 3 review decide "$(item carol admins)" revoke --comment "no admin work"

# --- delegation ---
assert_exit 1 "bin may not delegate sys's item" as 2 review delegate "$(item carol ops)" bin
assert_exit 1 "nobody can be delegated their own access" as 3 review delegate "$(item carol ops)" carol
assert_exit 0 "sys delegates carol's ops item to bin" as 3 review delegate "$(item carol ops)" bin
assert_eq "$(sql "SELECT reviewer || ' / ' || reviewer_why FROM review_items WHERE id = $(item carol ops)")" \
	"bin / delegated by sys (was sys)" "the reviewer of record and who delegated"
assert_exit 0 "bin approves it" as 2 review decide "$(item carol ops)" approve

# --- close: the default for what is left, final, remediated, verified ---
assert_exit 1 "a reviewer may not close" as 2 review close 1
assert_exit 0 "root closes the campaign" ig review close 1
assert_exit 1 "decisions are final once closed" as 2 review decide "$(item bob dev)" approve
assert_contains "$(cat "$T/last.err")" "closed; its decisions are final" "and the refusal says so"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE campaign_id = 1 AND decision_source = 'default (closed early)' AND decision = 'revoke'")" \
	"$(sql "SELECT count(*) FROM review_items WHERE campaign_id = 1 AND decided_by = 'idgovd' AND decision_source != 'pre-decided'")" \
	"undecided items took the default (revoke)"
wait_for 10 sql_is "SELECT count(*) FROM review_items WHERE campaign_id = 1 AND remediation IN ('pending', 'remediated')" 0
assert_eq "$(members dev)" "carol " "dev keeps only the approved carol"
assert_eq "$(members admins)" "cn=ops,ou=Groups,dc=example,dc=com " "alice and sync removed from admins; ops stays"
assert_eq "$(sql "SELECT remediation FROM review_items WHERE id = $(item bob dev)")" verified "bob's removal verified"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE campaign_id = 1 AND decision = 'revoke' AND remediation = 'verified' AND verified_at IS NOT NULL")" \
	"$(sql "SELECT count(*) FROM review_items WHERE campaign_id = 1 AND decision = 'revoke' AND held_as != 'nested'")" \
	"every direct revocation verified in the directory"
assert_contains "$(sql "SELECT remediation || ': ' || remediation_why FROM review_items WHERE id = $(item carol admins)")" \
	"failed: held through the nested group ops" "the nested membership is reported, not hidden"

# --- kill -9 in the middle of remediation ---
daemon_stop
# bin was refused "review start" first: the cross-decision in the same
# minute was counted, and the count written at the latest when idgovd stopped.
assert_eq "$(sql "SELECT count(*) > 0 FROM audit WHERE actor = 'bin' AND ((action = 'control.review.decide' AND details LIKE '%refused%') OR (action = 'control.refused' AND json_extract(details, '\$.actions.\"control.review.decide\"') >= 1))")" \
	1 "the cross-decision is audited (a record, or in bin's count of refusals)"
IDGOV_FAULT=before-directory-write daemon_start
ig review start --adhoc --scope groups --groups audit --duration 2s --default revoke >/dev/null
wait_for 10 sh -c "! kill -0 $(cat "$T/run/idgovd.pid") 2>/dev/null"
assert_eq "$(sql "SELECT count(*) FROM dir_journal WHERE item_id IN (SELECT id FROM review_items WHERE campaign_id = 2) AND state = 'pending'")" \
	4 "killed after journaling the 4 revocations, before writing"
assert_eq "$(members audit | wc -w)" 5 "the directory is untouched"
rm -f "$T/run/idgovd.pid" "$T/run/idgov.sock"
assert_exit 0 "idgovd restarts" daemon_start
wait_for 10 sql_is "SELECT count(*) FROM review_items WHERE campaign_id = 2 AND remediation = 'verified'" 4
assert_eq "$(members audit)" "cn=placeholder,dc=example,dc=com " "the restart completed the removals"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE action = 'directory.write' AND details LIKE '%\"item\":%' AND json_extract(details, '\$.item') IN (SELECT id FROM review_items WHERE campaign_id = 2)")" \
	4 "each applied exactly once"

# --- evidence ---
assert_exit 0 "CSV report" ig review report 1 --format csv -o "$T/r.csv"
assert_eq "$(stat -c %a "$T/r.csv")" 600 "the report file is created private (0600)"
assert_eq "$(python3 -c "import csv,sys; print(len(list(csv.DictReader(open(sys.argv[1])))))" "$T/r.csv")" 14 \
	"the CSV parses, one row per item"
assert_eq "$(python3 -c "import csv,sys; r=[x for x in csv.DictReader(open(sys.argv[1])) if x['user']=='bob' and x['group']=='dev'][0]; print(r['reviewer'], r['decided_by'], r['decision'], r['comment'], r['remediation'])" "$T/r.csv")" \
	"bin bin revoke no longer codes verified" "with reviewer of record, decider, decision, comment, remediation"
assert_exit 0 "JSON report" ig review report 1 --format json -o "$T/r.json"
assert_eq "$(jq -r '.summary.revoked' "$T/r.json")" "$(sql "SELECT count(*) FROM review_items WHERE campaign_id = 1 AND decision = 'revoke'")" \
	"JSON counts match the store"
assert_eq "$(jq -r '.evidence.last_seq <= .evidence.signed_seq' "$T/r.json")" true \
	"the report names a signature covering the campaign's last audit record"
assert_exit 0 "HTML report" ig review report 1 --format html -o "$T/r.html"
assert_contains "$(head -c 300 "$T/r.html")" "<!DOCTYPE html>" "a self-contained HTML page"
assert_exit 2 "an unknown format" ig review report 1 --format pdf
assert_exit 0 "the chain verifies" ig audit verify
sql "UPDATE audit SET details = replace(details, 'no longer codes', 'never coded') WHERE action = 'review.decide'"
assert_exit 1 "a tampered review record is caught by audit verify" ig audit verify
finish
