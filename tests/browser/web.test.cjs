// idgov-web in a real browser: Debian's chromium, driven by playwright-core
// (no browser download). Run by tests/integration/test_web_browser.sh, which
// sets up slapd, idgovd, a campaign and idgov-web, and checks the store and
// the audit chain after; this file drives the pages and says what it saw as
// "ok - ..." / "not ok - ..." lines. Screenshots go to $SHOTS, one per page.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const WEB = process.env.WEB;
const SHOTS = process.env.SHOTS;
const IDLE = Number(process.env.IDLE_SECONDS || 0);
let failed = 0;
let current = null; // the page in use, for a screenshot when the run fails

function ok(cond, what, detail) {
  if (cond) console.log(`ok - ${what}`);
  else {
    failed++;
    console.log(`not ok - ${what}${detail ? ': ' + detail : ''}`);
  }
}

// RFC 6238 with SHA-1, 30 s, 6 digits: the default [mfa] settings.
function totp(base32, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', key).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

async function signIn(page, user, password) {
  await page.goto(`${WEB}/signin`);
  await page.fill('#name', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
}

// Waits, if fewer than `seconds` are left in the current 30 s step, for the next one.
async function untilStepHasLeft(page, seconds) {
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < seconds) await page.waitForTimeout(left * 1000 + 300);
}

async function giveCode(page, code) {
  await page.fill('#code', code);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
}

(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
    headless: true,
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  current = page;
  const scriptErrors = [];
  page.on('pageerror', (e) => scriptErrors.push(String(e)));
  const cspViolations = [];
  page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) cspViolations.push(m.text()); });

  // --- sign in: password, then a wrong code, then the right one ---
  await page.goto(`${WEB}/`);
  ok(page.url().endsWith('/signin'), 'the home page sends a stranger to sign in', page.url());
  await shot(page, '01-signin');
  await signIn(page, 'bin', 'not the password');
  ok((await page.textContent('.flash')).includes('wrong user name or password'), 'a wrong password is refused on the page');
  await shot(page, '02-signin-wrong-password');
  await signIn(page, 'bin', process.env.BIN_PASSWORD);
  ok(page.url().endsWith('/signin/code'), 'the right password leads to the code', page.url());
  await shot(page, '03-code');
  await giveCode(page, '000000');
  ok(page.url().endsWith('/signin/code') && (await page.textContent('.flash')).includes('not valid'),
     'a wrong code is refused', await page.textContent('main'));
  await shot(page, '04-code-wrong');
  await giveCode(page, totp(process.env.BIN_SECRET, 1));
  ok(page.url().endsWith('/reviews'), 'the right code leads to My reviews', page.url());
  const cookies = await context.cookies();
  const c = cookies.find((x) => x.name === '__Host-idgov');
  ok(c && c.secure && c.httpOnly && c.sameSite === 'Strict', 'the session cookie is Secure, HttpOnly, SameSite=Strict', JSON.stringify(c));
  await shot(page, '05-reviews');

  // --- the page ---
  const rows = await page.locator('tr[id^=item-]').count();
  ok(rows === Number(process.env.BIN_ITEMS), `bin sees exactly bin's ${process.env.BIN_ITEMS} items`, String(rows));
  const body = await page.textContent('main');
  ok(!/\bcarol\b/.test(body), "no item of sys's reports (carol) is on bin's page");
  ok(await page.locator('progress').count() === 1, 'a progress bar');

  // displayName "<script>…" is text, not markup, and ran nothing.
  ok(body.includes('<script>window.__pwned=1</script>'), 'a displayName with <script> shows as text');
  ok(await page.evaluate(() => window.__pwned === undefined), 'and runs nothing');

  // --- decide one item (approve), with its own button ---
  const approveId = process.env.APPROVE_ITEM;
  await Promise.all([page.waitForNavigation(), page.click(`#item-${approveId} button.approve`)]);
  ok(page.url().includes('/reviews?decided=1'), 'approving one item records one decision', page.url());
  ok((await page.textContent(`#item-${approveId}`)).includes('approve'), 'the row shows the decision');
  await shot(page, '06-decided-one');

  // --- privileged revoke without comment: refused, nothing recorded ---
  const privId = process.env.PRIV_ITEM;
  await Promise.all([page.waitForNavigation(), page.click(`#item-${privId} button.revoke`)]);
  const flash = await page.textContent('.flash');
  ok(flash.includes('Nothing was recorded') && /comment/.test(flash), 'a privileged revoke without a comment is refused', flash);
  await shot(page, '07-privileged-revoke-refused');
  // ... and with a comment it is recorded.
  await page.fill(`#item-${privId} input[type=text]`, 'left the team in March');
  await Promise.all([page.waitForNavigation(), page.click(`#item-${privId} button.revoke`)]);
  ok(page.url().includes('decided=1'), 'with a comment the privileged revoke is recorded', page.url());

  // --- select many and decide ---
  const many = process.env.MANY_ITEMS.split(',');
  for (const id of many) await page.check(`#item-${id} input[name=item]`);
  await page.selectOption('select[name=decision]', 'approve');
  await Promise.all([page.waitForNavigation(), page.click('button[name=bulk]')]);
  ok(page.url().includes(`decided=${many.length}`), `selecting ${many.length} items decides them together`, page.url());

  // --- delegate: bin hands one item to sync, and no longer sees it (sync does, below) ---
  const delegateId = process.env.DELEGATE_ITEM;
  await page.check(`#item-${delegateId} input[name=item]`);
  await page.fill('input[name=to]', 'sync');
  await Promise.all([page.waitForNavigation(), page.click('button[name=delegate]')]);
  ok(page.url().includes('delegated=1'), 'bin delegates a ticked item to sync', page.url());
  ok(await page.locator(`#item-${delegateId}`).count() === 0, 'and it leaves bin\'s list');
  await shot(page, '09a-delegated');

  // --- URL tampering: another reviewer's item ---
  await page.goto(`${WEB}/reviews?undecided=1`);
  const otherId = process.env.OTHER_ITEM;
  const tampered = await page.evaluate((id) => {
    const b = document.querySelector('button.approve');
    if (!b) return false;
    b.value = `${id}:approve`;
    return true;
  }, otherId);
  if (tampered) {
    const [resp] = await Promise.all([page.waitForNavigation(), page.click('button.approve')]);
    ok(resp.status() === 403 || resp.status() === 404, "deciding another reviewer's item by editing the form is refused", String(resp.status()));
    await shot(page, '10-tampered-refused');
  } else {
    ok(false, 'an undecided item to tamper with');
  }

  // --- CSRF token missing: 403 ---
  await page.goto(`${WEB}/reviews?undecided=1`);
  await page.evaluate(() => document.querySelector('#decide input[name=csrf]').remove());
  const [r403] = await Promise.all([page.waitForNavigation(), page.click('button[name=recommended]')]);
  ok(r403.status() === 403, 'a form without its CSRF token is refused with 403', String(r403.status()));
  await shot(page, '11-csrf-403');

  // --- approve all recommended: never privileged ---
  await page.goto(`${WEB}/reviews`);
  await Promise.all([page.waitForNavigation(), page.click('button[name=recommended]')]);
  ok(/decided=\d+/.test(page.url()) || (await page.textContent('.flash')).includes('No undecided'), 'approve all recommended', page.url());
  await shot(page, '08-after-recommended');

  // --- filters ---
  await page.goto(`${WEB}/reviews?privileged=1`);
  const privRows = await page.locator('tr[id^=item-]').count();
  const badges = await page.locator('tr[id^=item-] .badge').count();
  ok(privRows > 0 && privRows === badges, 'the privileged filter shows privileged items only', `${privRows} rows, ${badges} badges`);
  await shot(page, '09-filter-privileged');

  ok(scriptErrors.length === 0, 'no script errors', scriptErrors.join('; '));
  ok(cspViolations.length === 0, 'no CSP violations (no inline script or style)', cspViolations.join('; '));

  // --- idle timeout ---
  if (IDLE > 0) {
    await page.goto(`${WEB}/reviews`);
    await page.waitForTimeout((IDLE + 2) * 1000);
    await page.goto(`${WEB}/reviews`);
    ok(page.url().includes('/signin'), `after ${IDLE + 2} s idle the session is over`, page.url());
    await shot(page, '12-idle-timeout');
  }

  // --- enrol from the web (sys has no authenticator yet) ---
  const p2 = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } })).newPage();
  current = p2;
  await signIn(p2, 'sys', process.env.SYS_PASSWORD);
  ok(p2.url().endsWith('/enrol'), 'a person without an authenticator is sent to enrol', p2.url());
  ok(await p2.locator('.qr svg').count() === 1, 'with a QR code (SVG)');
  await shot(p2, '13-enrol');
  const key = (await p2.textContent('.key code')).trim();
  // The previous step's code (within the window) confirms, so the current one is still unused.
  // It is one step from the edge of the window: computed late in a step and checked early in
  // the next it would be two, so it is computed only with time left in the step.
  await untilStepHasLeft(p2, 10);
  await giveCode(p2, totp(key, -1));
  const codes = await p2.locator('.codes li').count();
  ok(codes === 10, 'enrolment shows 10 recovery codes once', String(codes));
  await shot(p2, '14-recovery-codes');
  // A later code than the one just used finishes signing in (a code is accepted once).
  await giveCode(p2, totp(key, 0));
  ok(p2.url().endsWith('/reviews'), 'and the next code signs sys in', p2.url());
  await shot(p2, '15-sys-reviews');

  // --- requests: bin asks for access; approvals: bin may not, sync approves a grant ---
  // A fresh step for bin's code (the last one may be spent), waited for
  // before the password: the half-signed-in session would otherwise idle
  // for up to 30 s, as long as IDLE, and end before the code came.
  await page.waitForTimeout(Math.max(0, (30 - (Math.floor(Date.now() / 1000) % 30)) * 1000 + 300));
  await signIn(page, 'bin', process.env.BIN_PASSWORD);
  await giveCode(page, totp(process.env.BIN_SECRET, 0));
  await page.goto(`${WEB}/requests`);
  await page.fill('#group', 'ops');
  await page.fill('#for', '2h');
  await page.fill('#ticket', 'CHG-1234');
  await page.fill('#reason', 'database failover drill');
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  ok(page.url().includes('/requests?requested='), 'bin requests access on the Requests page', page.url());
  const grant = new URL(page.url()).searchParams.get('requested');
  ok((await page.textContent('main')).includes('[CHG-1234] database failover drill'), 'and sees it with its ticket');
  await shot(page, '16-requests');
  const r = await page.goto(`${WEB}/approvals`);
  ok(r.status() === 403, 'the Approvals page is refused to bin, who is no admin', String(r.status()));

  const p3 = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } })).newPage();
  current = p3;
  await signIn(p3, 'sync', process.env.SYNC_PASSWORD);
  await giveCode(p3, totp(process.env.SYNC_SECRET, 1));
  ok(p3.url().endsWith('/reviews'), 'sync signs in', p3.url());
  await p3.goto(`${WEB}/approvals`);
  ok(await p3.locator(`#grant-${grant}`).count() === 1, "sync sees bin's pending request");
  await shot(p3, '17-approvals');
  await p3.fill(`#grant-${grant} input[type=text]`, 'ok for the quarter close');
  await Promise.all([p3.waitForNavigation(), p3.click(`#grant-${grant} button.approve`)]);
  ok(p3.url().includes(`/approvals?decided=${grant}`), 'sync approves it', p3.url());
  await shot(p3, '18-approved');

  // --- break-glass: daemon broke the glass; sync acknowledges it, a comment first ---
  const bg = process.env.BG_GRANT;
  await p3.goto(`${WEB}/approvals`);
  ok(await p3.locator(`#breakglass-${bg}`).count() === 1, 'sync sees the break-glass use on Approvals');
  ok((await p3.textContent(`#breakglass-${bg}`)).includes('restore after INC-9'), 'with its reason');
  const [noComment] = await Promise.all([p3.waitForNavigation(), p3.click(`#breakglass-${bg} button`)]);
  ok(noComment.status() === 400 && (await p3.textContent('.flash')).includes('comment'),
     'acknowledging without a comment is refused', String(noComment.status()));
  await p3.fill(`#breakglass-${bg} input[type=text]`, 'called daemon, restore confirmed');
  await Promise.all([p3.waitForNavigation(), p3.click(`#breakglass-${bg} button`)]);
  ok(p3.url().includes(`/approvals?acknowledged=${bg}`), 'with a comment it is acknowledged', p3.url());
  ok(await p3.locator(`#breakglass-${bg}`).count() === 0, 'and leaves the list');
  await shot(p3, '18a-breakglass-acknowledged');

  // --- the delegate sees the item bin handed over ---
  await p3.goto(`${WEB}/reviews?person=${encodeURIComponent(process.env.DELEGATE_ABOUT)}`);
  ok(await p3.locator(`#item-${delegateId}`).count() === 1, 'sync, the delegate, sees the delegated item');

  // --- the pager: next, previous, last, with the filters kept on every page ---
  const pg = Number(process.env.PG_ITEMS);
  const pages = Math.ceil(pg / 100);
  await p3.goto(`${WEB}/reviews?person=pg&undecided=1`);
  ok((await p3.textContent('nav.pager')).includes(`Page 1 of ${pages}`), `the person filter "pg" gives ${pages} pages`,
     await p3.textContent('nav.pager'));
  const firstOnPage1 = await p3.locator('tr[id^=item-]').first().getAttribute('id');
  ok(await p3.locator('tr[id^=item-]').count() === 100, '100 items on the first page');
  await Promise.all([p3.waitForNavigation(), p3.locator('a.page-next').first().click()]);
  const u2 = new URL(p3.url());
  ok(u2.searchParams.get('page') === '2' && u2.searchParams.get('person') === 'pg' && u2.searchParams.get('undecided') === '1',
     'Next goes to page 2 and keeps the filters', p3.url());
  ok(/^u[1-9][0-9]*$/.test(u2.searchParams.get('after') || ''), "Next carries the cursor of page 1's last item", p3.url());
  ok(await p3.inputValue('input[name=person]') === 'pg' && await p3.isChecked('input[name=undecided]'),
     'the filter form still shows them');
  const rows2 = await p3.locator('tr[id^=item-]').allTextContents();
  ok(rows2.length === 100 && rows2.every((t) => t.includes('Pager')), 'page 2 holds 100 other items, each matching the filter',
     String(rows2.length));
  ok(await p3.locator(`#${firstOnPage1}`).count() === 0, 'none of them from page 1');
  const firstOnPage2 = await p3.locator('tr[id^=item-]').first().getAttribute('id');
  await shot(p3, '20-pager-page-2');
  await Promise.all([p3.waitForNavigation(), p3.locator('a.page-prev').first().click()]);
  ok(new URL(p3.url()).searchParams.get('page') === '1' &&
     /^u[1-9][0-9]*$/.test(new URL(p3.url()).searchParams.get('before') || '') &&
     await p3.locator('tr[id^=item-]').first().getAttribute('id') === firstOnPage1,
     'Previous (before the cursor of page 2\'s first item) goes back to the same first page', p3.url());
  await p3.goto(`${WEB}/reviews?person=pg&undecided=1&page=2`);
  ok(await p3.locator('tr[id^=item-]').first().getAttribute('id') === firstOnPage2,
     'page 2 by number holds what page 2 by cursor held');
  await p3.goto(`${WEB}/reviews?person=pg&undecided=1`);
  await Promise.all([p3.waitForNavigation(), p3.locator('a.page-last').first().click()]);
  ok(await p3.locator('tr[id^=item-]').count() === pg - 100 * (pages - 1) &&
     new URL(p3.url()).searchParams.get('person') === 'pg',
     `Last shows the last ${pg - 100 * (pages - 1)} items, still filtered`, p3.url());
  ok(await p3.locator('nav.pager .off').first().textContent() !== null &&
     (await p3.textContent('nav.pager')).includes(`Page ${pages} of ${pages}`), 'and says it is the last page');
  await shot(p3, '21-pager-last');

  // --- campaigns: progress per reviewer, and the evidence as a download ---
  await p3.goto(`${WEB}/campaigns`);
  ok(await p3.locator('tr[id^=campaign-]').count() === 1, 'sync sees the campaign');
  await Promise.all([p3.waitForNavigation(), p3.click('tr[id^=campaign-] a')]);
  const reviewers = await p3.textContent('#reviewers');
  ok(reviewers.includes('bin') && reviewers.includes('sys'), 'with the progress of each reviewer', reviewers);
  await shot(p3, '19-campaigns');
  const [dl] = await Promise.all([p3.waitForEvent('download'), p3.click('tr[id^=campaign-] a[href*="format=csv"]')]);
  const csv = fs.readFileSync(await dl.path(), 'utf8');
  ok(dl.suggestedFilename().endsWith('.csv') && csv.split('\n').length > 8, 'the evidence downloads as CSV', dl.suggestedFilename());
  const denied = await page.goto(`${WEB}/campaigns`);
  ok(denied.status() === 403, 'the Campaigns page is refused to bin, who is no admin', String(denied.status()));

  await browser.close();
  console.log(`browser: ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})().catch(async (e) => {
  console.log(`not ok - the browser run failed: ${e.stack || e}`);
  if (current) {
    try {
      console.log(`at ${current.url()}: ${(await current.textContent('body')).replace(/\s+/g, ' ')}`);
      await shot(current, 'zz-failure');
    } catch (ignored) { /* the page is gone */ }
  }
  process.exit(1);
});
