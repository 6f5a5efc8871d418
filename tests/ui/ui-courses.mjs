// The browser half of test-ui-courses.sh: three browser contexts (alice,
// teacher of course A; bob, teacher of course B; head, the admin) on the
// review page. Prints "ok: NAME" / "FAIL: NAME (detail)" lines; exits 1
// when a check failed, 99 on a harness error.
import {createRequire} from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.UI_MODULES, 'x.js'));
const {chromium} = require('playwright-core');
const env = process.env;
const BASE = env.BASE;
let failures = 0;

function ok(name) { console.log(`ok: ${name}`); }
function fail(name, detail) { failures++; console.log(`FAIL: ${name}${detail ? ` (${detail})` : ''}`); }
function expect(name, cond, detail) { if (cond) ok(name); else fail(name, detail); }
function expectEq(name, got, want) {
  if (JSON.stringify(got) === JSON.stringify(want)) ok(name);
  else fail(name, `got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  headless: true,
  args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
});

async function signedIn(name, password) {
  const context = await browser.newContext({viewport: {width: 1280, height: 900}});
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  await page.goto(`${BASE}/`);
  await page.waitForSelector('#signin-name');
  await page.fill('#signin-name', name);
  await page.fill('#signin-password', password);
  await page.click('#signin-account button[type=submit]');
  await page.waitForSelector('#projects-table tbody tr[data-project]');
  return {context, page};
}
const projectsShown = (page) =>
  page.$$eval('#projects-table tbody tr[data-project]', (r) => r.map((x) => x.dataset.project).sort());
// A request from the page itself, with its cookie (what a script on the page could do).
const fromPage = (page, p) => page.evaluate(async (u) => (await fetch(u)).status, p);

try {
  // ---- a wrong password says so ----
  {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${BASE}/`);
    await page.fill('#signin-name', 'alice');
    await page.fill('#signin-password', 'not-her-password');
    await page.click('#signin-account button[type=submit]');
    await page.waitForSelector('#signin-error:not([hidden])');
    expect('a wrong password is refused and said so',
      /Wrong name or password/.test(await page.textContent('#signin-error')));
    await context.close();
  }

  const alice = await signedIn('alice', env.A_PASS);
  const bob = await signedIn('bob', env.B_PASS);
  const head = await signedIn('head', env.ADMIN_PASS);

  // ---- the cookie ----
  const cookie = (await alice.context.cookies()).find((c) => c.name === 'egress_session');
  expect('the session cookie is HttpOnly and SameSite=Strict',
    cookie && cookie.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
  expectEq('the page cannot read the cookie', await alice.page.evaluate(() => document.cookie), '');

  // ---- who sees what ----
  expectEq('alice is shown as herself', (await alice.page.textContent('#account')).trim(), 'alice · teacher');
  expectEq('alice sees only her course\'s project', await projectsShown(alice.page), [env.A_ID]);
  expectEq('bob sees only his course\'s project', await projectsShown(bob.page), [env.B_ID]);
  expectEq('the admin sees both', await projectsShown(head.page), [env.A_ID, env.B_ID].sort());
  expectEq('head is shown as admin', (await head.page.textContent('#account')).trim(), 'head · admin');

  // ---- alice promotes pypi.org into course A ----
  await alice.page.goto(`${BASE}/#/review/${env.A_ID}`);
  await alice.page.waitForSelector('#review-list[data-complete]', {timeout: 60000});
  await alice.page.check('#review-list .host[data-host="pypi.org"] input[type=checkbox]');
  await alice.page.check('input[name=form][value=suffix]');
  await alice.page.fill('#promote-profile', 'course-a');
  await alice.page.check('input[name=how][value=add]');
  await alice.page.click('#promote-button');
  await alice.page.waitForSelector('#promote-result h4');
  expectEq('alice\'s promotion added .pypi.org',
    await alice.page.$$eval('#promote-result ul.added li', (e) => e.map((x) => x.textContent)), ['.pypi.org']);

  // ---- invisible to bob ----
  await bob.page.goto(`${BASE}/#/whitelists`);
  await bob.page.waitForSelector('#wl-rules');
  expectEq('bob\'s whitelist page offers only his course',
    await bob.page.$$eval('#wl-profile option', (o) => o.map((x) => x.value)), ['course-b']);
  expect('bob\'s rules do not hold alice\'s promotion',
    !(await bob.page.textContent('#wl-rules')).includes('pypi'), await bob.page.textContent('#wl-rules'));
  await bob.page.goto(`${BASE}/#/audit`);
  await bob.page.waitForSelector('main h2');
  await bob.page.waitForFunction(() => !document.querySelector('main .loading'));
  const bobAudit = await bob.page.textContent('main');
  expect('bob\'s audit does not show alice\'s promotion or project',
    !bobAudit.includes('whitelist.promote') && !bobAudit.includes(env.A_ID), bobAudit.slice(0, 400));
  expectEq('course A\'s whitelist is 404 to bob', await fromPage(bob.page, '/api/whitelist?profile=course-a'), 404);
  expectEq('course A\'s project is 404 to bob', await fromPage(bob.page, `/api/projects/${env.A_ID}`), 404);
  expectEq('course A\'s recorded hosts are 404 to bob',
    await fromPage(bob.page, `/api/projects/${env.A_ID}/recorded-domains`), 404);

  // ---- visible to the admin ----
  await head.page.goto(`${BASE}/#/whitelists/course-a`);
  await head.page.waitForSelector('#wl-rules code');
  expect('the admin sees the promoted rule in course A',
    (await head.page.$$eval('#wl-rules code', (c) => c.map((x) => x.textContent))).includes('.pypi.org'));
  await head.page.goto(`${BASE}/#/audit`);
  await head.page.waitForSelector('main table');
  const rows = await head.page.$$eval('main tbody tr', (r) => r.map((x) => x.textContent));
  expect('the admin\'s audit names alice for the promotion',
    rows.some((r) => r.includes('whitelist.promote') && r.includes('alice')), rows.slice(0, 5).join(' | '));

  // ---- a write needs the CSRF token: the page's own fetch without it is refused ----
  expectEq('a write with the cookie alone is refused',
    await alice.page.evaluate(async (id) => (await fetch(`/api/projects/${id}/proxy-mode`, {method: 'PUT',
      headers: {'Content-Type': 'application/json'}, body: '{"proxyMode":"none"}'})).status, env.A_ID), 403);

  // ---- sign-out ends the session on the server ----
  await alice.page.click('#signout');
  await alice.page.waitForSelector('#signin-name');
  expectEq('after sign-out the session is gone', await fromPage(alice.page, '/api/session'), 401);
  await alice.page.goto(`${BASE}/#/projects`);
  await alice.page.waitForSelector('#signin-name');
  ok('after sign-out the views ask to sign in again');
} catch (e) {
  fail('the browser script ran to its end', e.message);
}
await browser.close();
process.exit(failures ? 1 : 0);
