#!/usr/bin/env bash
# idgov-web in a real browser (Debian's chromium, driven by playwright-core
# from npm, installed by this script under the build directory; no browser
# download): sign-in with password and code, a wrong code refused, a
# manager's decisions (one, privileged with and without a comment, many,
# all recommended) checked in the store and the audit chain, another
# reviewer's item refused when the form is edited, a form without its CSRF
# token refused with 403, the idle timeout, a displayName holding <script>
# shown as text, and enrolment from the web. Screenshots of each page are
# kept in BUILD/web-screenshots. Needs root (setpriv), chromium, node, npm.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=web_lib.sh
. "$(dirname "$0")/web_lib.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null || ! command -v node >/dev/null ||
	! command -v npm >/dev/null || [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
	echo "skipped: needs root, setpriv, node, npm and chromium"
	exit 77
fi

# playwright-core, as the committed lock file says, once per build directory.
NODE_DIR=$BUILD/tests/browser-node
if ! cmp -s "$ROOT/tests/browser/package-lock.json" "$NODE_DIR/package-lock.json" ||
	[ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
	mkdir -p "$NODE_DIR"
	cp "$ROOT/tests/browser/package.json" "$ROOT/tests/browser/package-lock.json" "$NODE_DIR/"
	if ! (cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund >/dev/null 2>&1); then
		echo "skipped: npm could not install playwright-core (no registry?)"
		exit 77
	fi
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
[breakglass]
group = finance
max_duration = 30m
CONF
IDLE=30
web_setup "session_idle = ${IDLE}s"
slapd_modify "$T/slapd" <<LDIF
dn: uid=bin,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Bin password 1')

dn: uid=sys,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Sys password 2')

dn: uid=sync,ou=People,dc=example,dc=com
changetype: modify
replace: userPassword
userPassword: $(slappasswd -s 'Sync password 3')

dn: uid=alice,ou=People,dc=example,dc=com
changetype: modify
replace: displayName
displayName: <script>window.__pwned=1</script>
LDIF
# More reports for bin, so there is something to select: four in dev, one also in admins.
n=20100
for u in ursula victor wendy xavier; do
	n=$((n + 1))
	slapd_modify "$T/slapd" <<LDIF
dn: uid=$u,ou=People,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: posixAccount
uid: $u
cn: ${u^}
sn: ${u^}
displayName: ${u^} Example
manager: uid=bin,ou=People,dc=example,dc=com
uidNumber: $n
gidNumber: 20000
homeDirectory: /home/$u

dn: cn=dev,ou=Groups,dc=example,dc=com
changetype: modify
add: memberUid
memberUid: $u
LDIF
done
slapd_modify "$T/slapd" <<LDIF
dn: cn=admins,ou=Groups,dc=example,dc=com
changetype: modify
add: member
member: uid=victor,ou=People,dc=example,dc=com
LDIF
# 230 reports for sync (pg001..pg230 in dev), so sync's list has three pages to walk.
PG_ITEMS=230
{
	for i in $(seq -w 1 "$PG_ITEMS"); do
		printf 'dn: uid=pg%s,ou=People,dc=example,dc=com\nchangetype: add\nobjectClass: inetOrgPerson\n' "$i"
		printf 'objectClass: posixAccount\nuid: pg%s\ncn: Pager %s\nsn: %s\ndisplayName: Pager %s\n' "$i" "$i" "$i" "$i"
		printf 'manager: uid=sync,ou=People,dc=example,dc=com\nuidNumber: %d\ngidNumber: 20000\n' $((30000 + 10#$i))
		printf 'homeDirectory: /home/pg%s\n\n' "$i"
	done
	printf 'dn: cn=dev,ou=Groups,dc=example,dc=com\nchangetype: modify\nadd: memberUid\n'
	for i in $(seq -w 1 "$PG_ITEMS"); do printf 'memberUid: pg%s\n' "$i"; done
} | ldif
# sync is an idgov admin through the directory, and approves on the web.
slapd_modify "$T/slapd" <<LDIF
dn: cn=idgov-admins,ou=Groups,dc=example,dc=com
changetype: add
objectClass: groupOfNames
cn: idgov-admins
member: uid=sync,ou=People,dc=example,dc=com
LDIF
ig sync >/dev/null
assert_exit 0 "idgovd starts" daemon_start
assert_exit 0 "campaign q starts" ig review start q
enroll bin -1
BIN_SECRET=$SECRET
enroll sync -1
SYNC_SECRET=$SECRET

assert_exit 0 "idgov-web starts" web_start

items() { sql "SELECT group_concat(id) FROM (SELECT id FROM review_items WHERE $1 ORDER BY id)"; }
bin_plain=$(items "reviewer = 'bin' AND NOT privileged")
APPROVE_ITEM=${bin_plain%%,*}
MANY_ITEMS=$(printf '%s' "$bin_plain" | cut -d, -f2,3)
PRIV_ITEM=$(items "reviewer = 'bin' AND privileged" | cut -d, -f1)
OTHER_ITEM=$(items "reviewer = 'sys'" | cut -d, -f1)
DELEGATE_ITEM=$(printf '%s' "$bin_plain" | cut -d, -f4)
assert_exit 0 "the fixture gives bin plain and privileged items, and sys some" \
	test -n "$APPROVE_ITEM" -a -n "$MANY_ITEMS" -a -n "$PRIV_ITEM" -a -n "$OTHER_ITEM" -a -n "$DELEGATE_ITEM"
DELEGATE_ABOUT=$(sql "SELECT user_uid FROM review_items WHERE id = $DELEGATE_ITEM")
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE reviewer = 'sync' AND user_uid LIKE 'pg%'")" "$PG_ITEMS" \
	"sync reviews the $PG_ITEMS pager reports"
# daemon (uid 1, in finance, the [breakglass] group) breaks the glass; sync acknowledges it on the web.
assert_exit 0 "daemon breaks the glass" setpriv --reuid=1 --regid=1 --clear-groups "$IDGOV" -c "$T/etc/idgov.conf" \
	grant breakglass --group audit --for 10m --reason "restore after INC-9"
BG_GRANT=$(sql "SELECT id FROM grants WHERE breakglass AND grantee = 'daemon'")

SHOTS=$BUILD/web-screenshots
rm -rf "$SHOTS"
WEB=$WEB SHOTS=$SHOTS IDLE_SECONDS=$IDLE BIN_PASSWORD='Bin password 1' SYS_PASSWORD='Sys password 2' \
	BIN_SECRET=$BIN_SECRET SYNC_PASSWORD='Sync password 3' SYNC_SECRET=$SYNC_SECRET \
	BIN_ITEMS=$(sql "SELECT count(*) FROM review_items WHERE reviewer = 'bin'") \
	APPROVE_ITEM=$APPROVE_ITEM PRIV_ITEM=$PRIV_ITEM MANY_ITEMS=$MANY_ITEMS OTHER_ITEM=$OTHER_ITEM \
	DELEGATE_ITEM=$DELEGATE_ITEM DELEGATE_ABOUT=$DELEGATE_ABOUT PG_ITEMS=$PG_ITEMS BG_GRANT=$BG_GRANT \
	NODE_PATH=$NODE_DIR/node_modules timeout 300 node "$ROOT/tests/browser/web.test.cjs" >"$T/browser.txt" 2>&1
while IFS= read -r line; do
	case "$line" in
	"ok - "*) ok "browser: ${line#ok - }" ;;
	"not ok - "*) not_ok "browser: ${line#not ok - }" ;;
	esac
done <"$T/browser.txt"
assert_contains "$(cat "$T/browser.txt")" "browser: 0 failed" "the browser run completed"

# What the browser did, as the store and the audit chain have it.
assert_eq "$(sql "SELECT decision || ' ' || decided_by FROM review_items WHERE id = $APPROVE_ITEM")" "approve bin" \
	"the item approved on the page is approved by bin"
assert_eq "$(sql "SELECT decision || ' ' || comment FROM review_items WHERE id = $PRIV_ITEM")" \
	"revoke left the team in March" "the privileged revoke is recorded with its comment"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE id IN ($MANY_ITEMS) AND decision = 'approve' AND decided_by = 'bin'")" 2 \
	"the selected items are approved"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE reviewer = 'bin' AND privileged AND decision = 'approve'")" 0 \
	"no privileged item was approved in bulk"
assert_eq "$(sql "SELECT count(*) FROM review_items WHERE reviewer = 'bin' AND privileged AND decision IS NULL")" 1 \
	"victor's privileged item is still undecided after approve all recommended"
assert_eq "$(sql "SELECT coalesce(decision, 'none') FROM review_items WHERE id = $OTHER_ITEM")" none \
	"sys's item, tampered into bin's form, is undecided"
assert_contains "$(sql "SELECT details FROM audit WHERE actor = 'bin' AND action = 'control.review.decide_many' AND details LIKE '%\"outcome\":\"ok\"%' LIMIT 1")" \
	'"via":"web"' "decisions are in the audit chain as bin's, through the web"
assert_exit 0 "the audit chain verifies" ig audit verify
assert_eq "$(sql "SELECT count(*) FROM mfa m JOIN users u ON u.uuid = m.user_uuid WHERE u.uid = 'sys' AND m.confirmed = 1")" 1 \
	"sys enrolled from the web"
# bin asked for ops on the Requests page; sync approved it on the Approvals page.
GRANT=$(sql "SELECT id FROM grants WHERE grantee = 'bin' AND group_cn = 'ops'")
assert_eq "$(sql "SELECT requester || ' ' || state FROM grants WHERE id = $GRANT")" "bin active" \
	"bin's request from the web is active after sync's approval"
assert_contains "$(sql "SELECT reason FROM grants WHERE id = $GRANT")" "[CHG-1234]" "with its ticket reference"
assert_eq "$(sql "SELECT actor || ' ' || decision FROM grant_decisions WHERE grant_id = $GRANT")" "sync approve" \
	"approved by sync"
assert_contains "$(sql "SELECT details FROM audit WHERE actor = 'sync' AND action = 'control.grant.approve' LIMIT 1")" \
	'"via":"web"' "through the web, in the audit chain"
in_ops() {
	ldapsearch -LLL -x -o ldif-wrap=no -H "$(cat "$T/slapd/uri")" -D "$SLAPD_ROOTDN" -y "$T/slapd/rootpw" \
		-b cn=ops,ou=Groups,dc=example,dc=com -s base member memberUid | grep -Eqi '^(member: uid=bin,|memberUid: bin$)'
}
assert_exit 0 "and bin appears in ops in the directory" wait_for 10 in_ops
# bin delegated an item to sync on the page; sync acknowledged the break-glass use.
assert_eq "$(sql "SELECT reviewer FROM review_items WHERE id = $DELEGATE_ITEM")" sync "the delegated item is sync's"
assert_contains "$(sql "SELECT details FROM audit WHERE actor = 'bin' AND action = 'review.delegate' ORDER BY seq DESC LIMIT 1")" \
	'"to":"sync"' "the delegation is audited as bin's"
assert_eq "$(sql "SELECT acknowledged_by FROM grants WHERE id = $BG_GRANT")" sync "the break-glass use is acknowledged by sync"
assert_contains "$(sql "SELECT details FROM audit WHERE actor = 'sync' AND action = 'grant.acknowledge'")" \
	'"comment":"called daemon, restore confirmed"' "with the comment typed on the page"
assert_eq "$(sql "SELECT count(*) FROM audit WHERE actor = 'sync' AND action = 'review.report'")" 1 \
	"the evidence download is audited as sync's"
n=$(find "$SHOTS" -name '*.png' | wc -l)
assert_exit 0 "screenshots kept in $SHOTS ($n)" test "$n" -ge 12

web_stop
daemon_stop
finish
