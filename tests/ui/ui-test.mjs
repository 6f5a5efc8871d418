// The browser half of test-ui.sh: drives Debian's Chromium (headless,
// through playwright-core) over the review page of a real egress-api whose
// store the shell filled through squid. Prints "ok: NAME" / "FAIL: NAME
// (detail)" lines; exits 1 when a check failed, 99 on a harness error.
import {createRequire} from 'node:module';
import {execFileSync} from 'node:child_process';
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
// An HTTP request from a workspace address through squid: the status code.
// http://HOST/ is port 80, a web port (squid's way there is the origin);
// with a port, http://HOST:PORT/ is decided by the rules of that port.
function through(ip, host, port) {
  try {
    return execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10',
      '--interface', ip, '-x', `http://127.0.0.1:${env.SQUID_PORT}`,
      `http://${host}${port ? `:${port}` : ''}/`]).toString();
  } catch (e) {
    return `curl failed: ${e.message}`;
  }
}
async function apiGet(p) {
  const res = await fetch(BASE + p, {headers: {Authorization: `Bearer ${env.TOKEN}`}});
  return res.json();
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  headless: true,
  args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
});
const context = await browser.newContext({viewport: {width: 1280, height: 900}});
const page = await context.newPage();
page.setDefaultTimeout(15000);
const cspErrors = [];
const pageErrors = [];
page.on('console', (m) => {
  if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
});
page.on('pageerror', (e) => pageErrors.push(e.message));
const status = () => page.textContent('#status');
const rowSel = (host) => `#review-list .host[data-host="${host}"]`;
async function reviewLoaded(id) {
  await page.evaluate(() => document.getElementById('review-list')?.removeAttribute('data-complete'));
  await page.goto(`${BASE}/#/review/${id}`);
  await page.waitForSelector('#review-list[data-complete]', {timeout: 60000});
}

try {
  // ---- sign in ----
  await page.goto(`${BASE}/`);
  await page.waitForSelector('#token');
  expect('the sign-in field has a label', await page.$('label[for="token"]') !== null);
  // Keyboard only: the account form has the focus; Tab to the token field (the
  // account's name, password and button come first), type and press Enter.
  expectEq('the account name has the focus first', await page.evaluate(() => document.activeElement.id), 'signin-name');
  for (let i = 0; i < 3; i++) await page.keyboard.press('Tab');
  expectEq('three Tabs lead to the token field', await page.evaluate(() => document.activeElement.id), 'token');
  await page.keyboard.type('not-the-right-token-000');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#signin-error:not([hidden])');
  expect('a wrong token is refused and said so', /Wrong token/.test(await page.textContent('#signin-error')),
    await page.textContent('#signin-error'));
  expectEq('a refused token is not kept', await page.evaluate(() => sessionStorage.length), 0);
  await page.fill('#token', env.TOKEN);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#projects-summary:not(:empty)');
  ok('the right token signs in');
  expectEq('the token is kept for the tab only (sessionStorage, no cookie)',
    [await page.evaluate(() => sessionStorage.getItem('egress-admin-token')), (await context.cookies()).length],
    [env.TOKEN, 0]);

  // ---- projects ----
  const names = await page.$$eval('#projects-table .project-name', (els) => els.map((e) => e.textContent));
  for (const n of ['Teacher: Python course', 'Student 1', 'Switch me', 'Bulk (10000 hosts)']) {
    expect(`project "${n}" listed`, names.includes(n), names.join(' | '));
  }
  const xssName = '<img src=x onerror="window.pwned=1">';
  expect('a project named with HTML is shown as that text', names.includes(xssName), names.join(' | '));
  expectEq('... and runs nothing', await page.evaluate(() => window.pwned), undefined);
  expectEq('... and makes no element', await page.$$eval('main img', (els) => els.length), 0);
  expect('the protected project shows the lock',
    await page.$(`tr[data-project="${env.STUDENT_ID}"] [aria-label="password protected"]`) !== null);
  expectEq('the recorded host count is shown',
    (await page.textContent(`tr[data-project="${env.TEACHER_ID}"] td.num`)).trim(), '7');
  expectEq('the IP is shown', await page.textContent(`tr[data-project="${env.STUDENT_ID}"] td:nth-child(6)`),
    env.STUDENT_IP);
  // A failing call shows the API's own message; the control goes back.
  await fetch(`${BASE}/api/projects/${env.DOOMED_ID}`, {method: 'DELETE',
    headers: {Authorization: `Bearer ${env.TOKEN}`}});
  await page.selectOption(`select.mode[data-project="${env.DOOMED_ID}"]`, 'logging');
  await page.waitForSelector('#status .msg.error');
  expect('a failed call shows the API\'s message', /project not found/.test(await status()), await status());
  expectEq('... and the mode shown goes back',
    await page.inputValue(`select.mode[data-project="${env.DOOMED_ID}"]`), 'security');
  await page.fill('#project-filter', 'switch');
  await page.waitForFunction(() => document.querySelectorAll('#projects-table .project-name').length === 1);
  ok('the filter box narrows the table (through the API)');
  expectEq('a blocked host before the mode change', through(env.SWITCH_IP, 'tracker.example.net'), '403');
  await page.selectOption(`select.mode[data-project="${env.SWITCH_ID}"]`, 'logging');
  await page.waitForFunction(() => /mode is now logging/.test(document.getElementById('status').textContent));
  expectEq('mode switched in the page: the next request through squid is allowed',
    through(env.SWITCH_IP, 'tracker.example.net'), '200');
  await page.fill('#project-filter', '');

  // ---- review: the teacher's logging workspace ----
  await reviewLoaded(env.TEACHER_ID);
  const cats = await page.$$eval('#review-list section.category', (els) => Object.fromEntries(els.map((s) =>
    [s.dataset.category, [...s.querySelectorAll('.host')].map((r) => r.dataset.host).sort()])));
  expectEq('hosts grouped by category', cats, {
    'Package Managers': ['files.pythonhosted.org', 'pypi.org'],
    'Documentation': ['docs.python.org'],
    'Version Control': ['api.github.com', 'github.com'],
    'Other': ['cdn2.example.net', 'tracker.example.net'],
  });
  const groups = await page.$$eval('#review-list .group', (els) => els.map((g) =>
    [g.querySelector('.group-name').firstChild.textContent.trim(),
      [...g.querySelectorAll('.host')].map((r) => r.dataset.host).sort()]));
  expect('hosts grouped by registrable domain',
    JSON.stringify(groups.find((g) => g[0] === 'github.com')) === JSON.stringify(['github.com', ['api.github.com', 'github.com']]) &&
    JSON.stringify(groups.find((g) => g[0] === 'example.net')) === JSON.stringify(['example.net', ['cdn2.example.net', 'tracker.example.net']]) &&
    JSON.stringify(groups.find((g) => g[0] === 'pythonhosted.org')) === JSON.stringify(['pythonhosted.org', ['files.pythonhosted.org']]),
    JSON.stringify(groups));
  const counts = async (host) => [await page.textContent(`${rowSel(host)} > .allowed`),
    await page.textContent(`${rowSel(host)} > .denied-count`)];
  expectEq('pypi.org: 3 allowed, 0 denied', await counts('pypi.org'), ['3', '0']);
  expectEq('api.github.com: 2 allowed', await counts('api.github.com'), ['2', '0']);
  expectEq('first and last seen shown', await page.$$eval(`${rowSel('pypi.org')} > .time`,
    (t) => t.every((x) => /^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(x.textContent))), true);
  expectEq('nothing covered by course1 yet', await page.$$eval('#review-list .covered', (e) => e.length), 0);

  // Select two hosts and a group; promote as suffix into course1.
  await page.check(`${rowSel('pypi.org')} input[type=checkbox]`);
  await page.check(`${rowSel('docs.python.org')} input[type=checkbox]`);
  await page.check('#review-list .group:has(.host[data-host="github.com"]) .group-head input');
  expectEq('selection counted', await page.textContent('#selected-count'), '4 hosts selected');
  expect('the group box selected its hosts',
    await page.isChecked(`${rowSel('api.github.com')} input`) && await page.isChecked(`${rowSel('github.com')} input`));
  await page.check('input[name=form][value=suffix]');
  await page.fill('#promote-profile', 'course1');
  await page.check('input[name=how][value=add]');
  await page.click('#promote-button');
  await page.waitForSelector('#promote-result h4');
  const added = await page.$$eval('#promote-result ul.added li', (e) => e.map((x) => x.textContent));
  const coveredList = await page.$$eval('#promote-result ul.covered-list li', (e) => e.map((x) => x.textContent));
  expect('the result lists the added rules',
    ['.pypi.org', '.docs.python.org', '.github.com'].every((r) => added.includes(r)), added.join(', '));
  expect('api.github.com is added or reported covered by .github.com',
    added.includes('.api.github.com') || coveredList.some((c) => /api\.github\.com: by \.github\.com/.test(c)),
    `${added} / ${coveredList}`);
  await page.waitForFunction(() => document.querySelectorAll('#review-list .covered').length >= 4);
  const cover = await page.textContent(`${rowSel('api.github.com')} > .cover`);
  expect('covered hosts marked with the covering rule',
    /^covered by \.(api\.)?github\.com$/.test(cover) && (await page.textContent(`${rowSel('pypi.org')} > .cover`)) === 'covered by .pypi.org', cover);
  // The README's screenshot: the teacher's review with real data, just after a promotion.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({path: env.SCREENSHOT, fullPage: false});
  ok('screenshot written');
  await page.check('#review-notallowed');
  expectEq('"not yet allowed" hides covered hosts',
    (await page.$$eval('#review-list .host', (r) => r.map((x) => x.dataset.host))).sort(),
    ['cdn2.example.net', 'files.pythonhosted.org', 'tracker.example.net']);
  await page.uncheck('#review-notallowed');
  await page.fill('#review-filter', 'github');
  await page.waitForFunction(() => document.querySelectorAll('#review-list .host').length === 2);
  ok('the text filter narrows the hosts');
  await page.fill('#review-filter', '');
  await page.waitForFunction(() => document.querySelectorAll('#review-list .host').length === 7);
  await page.selectOption('#review-category', 'Package Managers');
  expectEq('the category filter', (await page.$$eval('#review-list .host', (r) => r.map((x) => x.dataset.host))).sort(),
    ['files.pythonhosted.org', 'pypi.org']);
  await page.selectOption('#review-category', '');

  // A student on course1 reaches what was promoted, and only that.
  for (const h of ['pypi.org', 'docs.python.org', 'github.com', 'api.github.com']) {
    expectEq(`student reaches promoted ${h} through squid`, through(env.STUDENT_IP, h), '200');
  }
  expectEq('student still denied tracker.example.net (not promoted)', through(env.STUDENT_IP, 'tracker.example.net'), '403');
  expectEq('student still denied files.pythonhosted.org', through(env.STUDENT_IP, 'files.pythonhosted.org'), '403');

  // The page polls: a new host appears and the selection stays.
  await page.check(`${rowSel('cdn2.example.net')} input`);
  expectEq('new.example.org reached by the teacher', through(env.TEACHER_IP, 'new.example.org'), '200');
  await page.waitForSelector(rowSel('new.example.org'), {timeout: 20000});
  ok('a host reached meanwhile appears without reloading');
  expect('the selection survived the refresh', await page.isChecked(`${rowSel('cdn2.example.net')} input`));
  await page.uncheck(`${rowSel('cdn2.example.net')} input`);

  // Replace asks first, shows what goes, and cancelling changes nothing.
  await page.check(`${rowSel('tracker.example.net')} input`);
  await page.check('input[name=how][value=replace]');
  await page.click('#promote-button');
  await page.waitForSelector('#replace-dialog[open]');
  const removed = await page.$$eval('#replace-removed li', (e) => e.map((x) => x.textContent).sort());
  expect('replace shows the rules it would remove',
    ['.docs.python.org', '.github.com', '.pypi.org'].every((r) => removed.includes(r)), removed.join(', '));
  expectEq('replace shows the rules the profile will hold, as the dry run answered',
    await page.$$eval('#replace-added li', (e) => e.map((x) => x.textContent)), ['.tracker.example.net']);
  await page.click('#replace-cancel');
  const wl = await apiGet('/api/whitelist?profile=course1');
  expect('cancelled: the whitelist is unchanged', wl.domains.includes('.pypi.org') && !wl.domains.includes('.tracker.example.net'),
    wl.domains.join(', '));
  await page.click('#promote-button');
  await page.waitForSelector('#replace-dialog[open]');
  await page.click('#replace-confirm');
  await page.waitForFunction(() => /replaced/.test(document.querySelector('#promote-result h4')?.textContent || ''));
  expectEq('confirmed: the profile holds exactly the promoted rule',
    (await apiGet('/api/whitelist?profile=course1')).domains, ['.tracker.example.net']);
  expectEq('... the student now reaches it', through(env.STUDENT_IP, 'tracker.example.net'), '200');
  expectEq('... and no longer a removed one', through(env.STUDENT_IP, 'pypi.org'), '403');

  // The student's review: denied hosts highlighted, "denied only".
  await reviewLoaded(env.STUDENT_ID);
  expect('denied hosts are highlighted', await page.$('#review-list .host.denied[data-host="pypi.org"]') !== null);
  await page.check('#review-denied');
  const deniedHosts = await page.$$eval('#review-list .host', (r) => r.map((x) => x.dataset.host));
  expect('"denied only" shows only hosts with denials', deniedHosts.length > 0 &&
    deniedHosts.every((h) => ['pypi.org', 'tracker.example.net', 'files.pythonhosted.org'].includes(h)), deniedHosts.join(', '));

  // ---- whitelists ----
  await page.goto(`${BASE}/#/whitelists/course1`);
  await page.waitForSelector('#wl-rules ul.rules');
  expectEq('the rules of the profile', await page.$$eval('#wl-rules code', (e) => e.map((x) => x.textContent)),
    ['.tracker.example.net']);
  expectEq('base domains shown read-only', await page.$$eval('#wl-base li', (e) => e.map((x) => [x.textContent, x.querySelectorAll('button').length])),
    [['deb.debian.org', 0]]);
  const htmlRule = '<svg/onload=window.pwned=1>';
  await page.fill('#wl-new-rule', htmlRule);
  await page.click('#wl-add button[type=submit]');
  await page.waitForSelector('#wl-add-error:not([hidden])');
  const msg = await page.textContent('#wl-add-error');
  expect('a bad rule shows the API\'s message, HTML in it as text', msg.includes(htmlRule), msg);
  expectEq('... and runs nothing', await page.evaluate(() => window.pwned), undefined);
  expectEq('... and makes no element', await page.$$eval('main svg, main img', (els) => els.length), 0);
  await page.fill('#wl-new-rule', '.pythonhosted.org');
  await page.click('#wl-add button[type=submit]');
  await page.waitForFunction(() => [...document.querySelectorAll('#wl-rules code')].some((c) => c.textContent === '.pythonhosted.org'));
  ok('a rule added in the page is listed');
  expectEq('... and the student reaches it through squid', through(env.STUDENT_IP, 'files.pythonhosted.org'), '200');
  await page.click('button[aria-label="Remove rule .pythonhosted.org"]');
  await page.waitForFunction(() => ![...document.querySelectorAll('#wl-rules code')].some((c) => c.textContent === '.pythonhosted.org'));
  expectEq('a removed rule: denied again', through(env.STUDENT_IP, 'files.pythonhosted.org'), '403');
  await page.selectOption('#check-project', env.STUDENT_ID);
  await page.fill('#check-host', 'www.tracker.example.net');
  await page.click('#check-form button');
  await page.waitForSelector('#check-result:not(:empty)');
  expect('the check box answers with the rule', /allowed \(rule, rule \.tracker\.example\.net/.test(await page.textContent('#check-result')),
    await page.textContent('#check-result'));
  await page.fill('#check-host', 'deb.debian.org');
  await page.click('#check-form button');
  await page.waitForFunction(() => /base-domain/.test(document.getElementById('check-result').textContent));
  ok('the check box names a base domain');

  // ---- ports: hosts reached on another port than 80 and 443 (fill_seen wrote them) ----
  await reviewLoaded(env.SWITCH_ID);
  const sshRow = rowSel('github.com:22');
  expectEq('a host reached on port 22 is listed as host:port, its port marked',
    await page.textContent(`${sshRow} .hostname .port-tag`), 'port 22');
  expectEq('... in the category and group of its host', await page.$eval(sshRow, (r) =>
    [r.closest('section.category').dataset.category,
      r.closest('.group').querySelector('.group-name').firstChild.textContent.trim()]),
  ['Version Control', 'github.com']);
  expect('... highlighted as denied', await page.$(`${sshRow}.denied`) !== null);
  expectEq('an IPv6 address with a port too', await page.textContent(
    `${rowSel('[2001:db8::5]:8080')} .hostname .port-tag`), 'port 8080');
  await page.check(`${sshRow} input[type=checkbox]`);
  await page.check('input[name=form][value=exact]');
  await page.fill('#promote-profile', 'course2');
  await page.check('input[name=how][value=add]');
  await page.click('#promote-button');
  await page.waitForSelector('#promote-result h4');
  expectEq('promoting host:port adds the rule of that port',
    await page.$$eval('#promote-result ul.added li', (e) => e.map((x) => x.textContent)), ['github.com:22']);
  await page.waitForFunction((sel) => document.querySelector(`${sel} > .cover`)?.textContent ===
    'covered by github.com:22', sshRow);
  ok('... and the host is then covered by it');
  // Through squid: the origin's own port is another port, denied in logging mode too.
  expectEq('the logging workspace reaches github.com on port 80', through(env.SWITCH_IP, 'github.com'), '200');
  expectEq('... but not on another port without a rule of it',
    through(env.SWITCH_IP, 'github.com', env.ORIGIN_PORT), '403');
  await page.goto(`${BASE}/#/whitelists/course2`);
  await page.waitForSelector('#wl-rules ul.rules');
  expect('the rule form says how to name a port', /:PORT/.test(await page.textContent('#wl-add-help')));
  await page.fill('#wl-new-rule', 'github.com:443');
  await page.click('#wl-add button[type=submit]');
  await page.waitForSelector('#wl-add-error:not([hidden])');
  expect('a rule of a web port is refused with the reason',
    /without a port already covers the web ports 80 and 443/.test(await page.textContent('#wl-add-error')),
    await page.textContent('#wl-add-error'));
  await page.fill('#wl-new-rule', `github.com:${env.ORIGIN_PORT}`);
  await page.click('#wl-add button[type=submit]');
  await page.waitForFunction((r) => [...document.querySelectorAll('#wl-rules code')].some((c) => c.textContent === r),
    `github.com:${env.ORIGIN_PORT}`);
  expectEq('the rules of the profile, ports included',
    (await page.$$eval('#wl-rules code', (e) => e.map((x) => x.textContent))).sort(),
    ['github.com:22', `github.com:${env.ORIGIN_PORT}`].sort());
  expectEq('a rule of the port added in the page opens it through squid',
    through(env.SWITCH_IP, 'github.com', env.ORIGIN_PORT), '200');
  await page.selectOption('#check-project', env.SWITCH_ID);
  await page.fill('#check-host', 'GitHub.com:22');
  await page.click('#check-form button');
  await page.waitForFunction(() => /^github\.com:22: allowed/.test(document.getElementById('check-result').textContent));
  expect('the check box takes host:port and names the rule of the port',
    /allowed \(rule, rule github\.com:22;.*mode logging/.test(await page.textContent('#check-result')),
    await page.textContent('#check-result'));
  await page.fill('#check-host', 'github.com:2222');
  await page.click('#check-form button');
  await page.waitForFunction(() => /^github\.com:2222: denied \(port-not-allowed/.test(
    document.getElementById('check-result').textContent));
  ok('... and says when no rule of the port allows it, in logging mode too');
  await page.click(`button[aria-label="Remove rule github.com:${env.ORIGIN_PORT}"]`);
  await page.waitForFunction((r) => ![...document.querySelectorAll('#wl-rules code')].some((c) => c.textContent === r),
    `github.com:${env.ORIGIN_PORT}`);
  expectEq('a removed rule of the port closes it again',
    through(env.SWITCH_IP, 'github.com', env.ORIGIN_PORT), '403');

  // ---- audit ----
  await page.goto(`${BASE}/#/audit`);
  await page.waitForSelector('main table');
  const actions = await page.$$eval('main tbody tr td:nth-child(2)', (e) => e.map((x) => x.textContent));
  expect('the audit view lists the promotions and the mode change',
    actions.includes('whitelist.promote') && actions.includes('project.proxy-mode'), actions.slice(0, 12).join(', '));

  // ---- 10,000 recorded hosts: rendered and scrollable ----
  await reviewLoaded(env.BULK_ID);
  expectEq('10,000 hosts rendered', await page.$$eval('#review-list .host', (r) => r.length), 10000);
  const last = page.locator('#review-list .host').last();
  await last.scrollIntoViewIfNeeded();
  expect('scrolled to the last host', await last.isVisible() && (await page.evaluate(() => window.scrollY)) > 10000);
  await page.evaluate(() => window.scrollTo(0, 0));

  // ---- LLM conversations (three stored by fill_conversations) ----
  await page.goto(`${BASE}/#/conversations`);
  await page.waitForSelector('#llm-hosts ul.rules');
  expect('the conversations view is in the navigation',
    await page.$('#nav a[href="#/conversations"]') !== null);
  const llmHosts = await page.$$eval('#llm-hosts code', (e) => e.map((x) => x.textContent));
  expect('the LLM host list is shown', llmHosts.includes('api.openai.com') &&
    llmHosts.includes('api.anthropic.com'), llmHosts.join(', '));
  await page.fill('#llm-new-host', 'llm.example.com:8443');
  await page.click('#llm-add button[type=submit]');
  await page.waitForSelector('#llm-add-error:not([hidden])');
  expect('a bad LLM host shows the API\'s message', /not a host name without port/.test(
    await page.textContent('#llm-add-error')), await page.textContent('#llm-add-error'));
  await page.fill('#llm-new-host', 'llm.example.com');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => [...document.querySelectorAll('#llm-hosts code')].some((c) => c.textContent === 'llm.example.com'));
  expect('an LLM host added in the page is listed ... and by the API',
    (await apiGet('/api/capture/hosts')).hosts.includes('llm.example.com'));
  await page.click('button[aria-label="Remove LLM host llm.example.com"]');
  await page.waitForSelector('#conv-dialog[open]');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#conv-dialog', {state: 'detached'});
  expect('removing a host asks first; Escape keeps it',
    (await apiGet('/api/capture/hosts')).hosts.includes('llm.example.com'));
  await page.click('button[aria-label="Remove LLM host llm.example.com"]');
  await page.click('#conv-confirm');
  await page.waitForFunction(() => ![...document.querySelectorAll('#llm-hosts code')].some((c) => c.textContent === 'llm.example.com'));
  expect('... confirmed, it is gone from the API\'s list',
    !(await apiGet('/api/capture/hosts')).hosts.includes('llm.example.com'));
  await page.fill('#conv-project-filter', 'Teacher');
  await page.waitForFunction(() => document.querySelectorAll('#conv-projects a').length === 1);
  await page.click(`#conv-projects a[data-project="${env.TEACHER_ID}"]`);
  await page.waitForSelector('#conv-list table');
  const convRows = await page.$$eval('#conv-list tbody tr', (rows) => rows.map((r) =>
    [...r.children].slice(0, 6).map((c) => (c.querySelector('a') || c).textContent.trim())
      .concat([r.querySelector('.marks')?.textContent || ''])));
  expectEq('three conversations listed, newest first: host, model, first message, tokens',
    convRows.map((r) => [r[1], r[2], r[3], r[4], r[6]]), [
      ['api.openai.com', 'gpt-4o-mini', 'Write a long story', '0 / 0', 'truncatedincomplete'],
      ['api.anthropic.com', 'claude-sonnet-4', '<img src=x onerror="window.pwned=1">', '12 / 5', ''],
      ['api.openai.com', 'gpt-4o', 'How do I read a file in Python?', '21 / 9', ''],
    ]);
  expect('times and sizes shown', convRows.every((r) => /^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(r[0])) &&
    convRows[0][5] === '200.1 kB', JSON.stringify(convRows.map((r) => [r[0], r[5]])));
  expectEq('a message with HTML in it runs nothing', await page.evaluate(() => window.pwned), undefined);
  expectEq('... and makes no element', await page.$$eval('main img, main script, main b', (e) => e.length), 0);
  const convIds = await page.$$eval('#conv-list tbody tr', (rows) => rows.map((r) => r.dataset.conversation));
  // Open the OpenAI one by keyboard: its link, Enter.
  await page.focus('#conv-list tbody tr:nth-child(3) th a');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#conv-messages');
  const msgs = await page.$$eval('#conv-messages > li', (li) => li.map((m) =>
    [m.querySelector('h4').textContent, m.querySelector('.content')?.textContent || '']));
  expectEq('opening one shows its messages in order, then the reply', msgs, [
    ['system', 'Be brief.'], ['user', 'How do I read a file in Python?'],
    ['assistant (the reply)', 'Use open() in a with block.']]);
  expectEq('... its tool call', await page.$$eval('#conv-messages .tool-call', (t) => t.map((x) =>
    [x.querySelector('code').textContent, x.querySelector('pre').textContent])),
  [['read_file', '{"path": "a.txt"}']]);
  const facts = await page.textContent('#conv-facts');
  expect('... and its usage and model', /21 in, 9 out/.test(facts) && /gpt-4o/.test(facts), facts);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#conv-export')]);
  const md = await (async () => {
    const chunks = [];
    for await (const chunk of await dl.createReadStream()) chunks.push(chunk);
    return Buffer.concat(chunks).toString();
  })();
  expect('export downloads the Markdown', /^## .*POST api\.openai\.com\/v1\/chat\/completions/m.test(md) &&
    /How do I read a file in Python\?/.test(md) && /\.md$/.test(dl.suggestedFilename()), md.slice(0, 200));
  // The HTML one, opened: text only.
  await page.goto(`${BASE}/#/conversations/${env.TEACHER_ID}/${convIds[1]}`);
  await page.waitForSelector('#conv-messages');
  expectEq('an opened message with HTML shows it as text', await page.$$eval('#conv-messages .content',
    (c) => c.map((x) => x.textContent)), ['<img src=x onerror="window.pwned=1">',
    '<script>window.pwned=2</script><b>bold?</b>']);
  expectEq('... and runs nothing', await page.evaluate(() => window.pwned), undefined);
  expectEq('... and makes no element', await page.$$eval('main img, main script, main b', (e) => e.length), 0);
  // The cut one: marked, its body as received.
  await page.goto(`${BASE}/#/conversations/${env.TEACHER_ID}/${convIds[0]}`);
  await page.waitForSelector('#conv-messages');
  const cutMarks = await page.textContent('#conv-marks');
  expect('a cut conversation is marked truncated and incomplete', /truncated/.test(cutMarks) &&
    /incomplete/.test(cutMarks), cutMarks);
  expect('... with its response as received', /"choi$/.test(await page.textContent('#conv-raw')));
  // Delete one (asks first; cancel keeps it), then all.
  await page.click('#conv-delete');
  await page.click('#conv-cancel');
  expectEq('cancelled: nothing deleted', (await apiGet(`/api/projects/${env.TEACHER_ID}/conversations`)).total, 3);
  await page.click('#conv-delete');
  await page.click('#conv-confirm');
  await page.waitForSelector('#conv-list table');
  expectEq('deleting one: the list and the API hold the other two',
    [await page.$$eval('#conv-list tbody tr', (r) => r.map((x) => x.dataset.conversation)),
      (await apiGet(`/api/projects/${env.TEACHER_ID}/conversations`)).conversations.map((c) => c.id).reverse()],
    [convIds.slice(1), convIds.slice(1)]);
  await page.click('#conv-delete-all');
  await page.waitForSelector('#conv-dialog[open]');
  expect('delete all names how many', /Delete all 2/.test(await page.textContent('#conv-confirm')));
  await page.click('#conv-confirm');
  await page.waitForFunction(() => /Nothing captured/.test(document.getElementById('conv-list').textContent));
  expectEq('deleting all empties the list and the store',
    (await apiGet(`/api/projects/${env.TEACHER_ID}/conversations`)).total, 0);
  expectEq('the conversations view: every control labelled', await page.$$eval('input, select, button',
    (els) => els.filter((e) => !e.labels?.length && !e.getAttribute('aria-label') &&
      !(e.tagName === 'BUTTON' && e.textContent.trim())).length), 0);

  // ---- keyboard only and narrow screens ----
  await reviewLoaded(env.TEACHER_ID);
  await page.focus('#review-filter');
  let reached = false;
  for (let i = 0; i < 20 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => !!document.activeElement?.dataset?.host);
  }
  expect('Tab reaches a host checkbox', reached);
  await page.keyboard.press('Space');
  expectEq('Space selects it', await page.textContent('#selected-count'), '1 host selected');
  const unlabelled = await page.$$eval('input, select, button', (els) => els.filter((e) =>
    !e.labels?.length && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim())).length);
  expectEq('every control has a label a screen reader reads', unlabelled, 0);
  await page.setViewportSize({width: 390, height: 844});
  await page.waitForTimeout(200);
  expect('390 px: the review page does not scroll sideways',
    await page.evaluate(() => document.documentElement.scrollWidth <= 390),
    String(await page.evaluate(() => document.documentElement.scrollWidth)));
  expect('390 px: the promote button is there', await page.isVisible('#promote-button'));
  // Narrow: the form is above the list on screen and first in Tab order.
  const firstInLayout = () => page.$eval('.review-layout', (l) => l.firstElementChild.tagName);
  expectEq('390 px: the promotion form comes first in the DOM', await firstInLayout(), 'ASIDE');
  await page.focus('#review-filter');
  await page.keyboard.press('Shift+Tab');
  const before = await page.evaluate(() => document.activeElement?.closest('.side') !== null);
  expect('390 px: Shift+Tab from the host filter goes back into the promotion form', before);
  const above = await page.evaluate(() => document.querySelector('.side').getBoundingClientRect().bottom <=
    document.getElementById('review-filter').getBoundingClientRect().top);
  expect('390 px: ... which is also above it on screen', above);
  // Back to a wide screen (or a zoom crossing the width): the list first
  // again, and the control that had the focus keeps it.
  await page.focus('#promote-profile');
  await page.setViewportSize({width: 1280, height: 900});
  await page.waitForFunction(() => document.querySelector('.review-layout').firstElementChild.tagName === 'SECTION');
  ok('1280 px again: the list comes first, the form beside it');
  expectEq('... and the control that had the focus keeps it', await page.evaluate(() => document.activeElement.id),
    'promote-profile');
  await page.setViewportSize({width: 390, height: 844});
  await page.goto(`${BASE}/#/projects`);
  await page.waitForSelector('#projects-table table');
  const wide = () => page.evaluate(() => [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap'))
    .map((e) => `${e.tagName}#${e.id}.${e.className}`).slice(0, 5).join(' '));
  expect('390 px: the projects page does not scroll sideways',
    await page.evaluate(() => document.documentElement.scrollWidth <= 390), await wide());
  await page.goto(`${BASE}/#/conversations`);
  await page.waitForSelector('#llm-hosts ul.rules');
  expect('390 px: the conversations view does not scroll sideways',
    await page.evaluate(() => document.documentElement.scrollWidth <= 390), await wide());
  expectEq('390 px: the navigation names its views whole',
    await page.$$eval('#nav a', (a) => a.filter((x) => x.getClientRects().length > 1).length), 0);
  await page.setViewportSize({width: 1280, height: 900});

  // ---- sign out ----
  await page.click('#signout');
  await page.waitForSelector('#token');
  expectEq('sign out forgets the token', await page.evaluate(() => sessionStorage.length), 0);
  await page.goto(`${BASE}/#/projects`);
  await page.waitForSelector('#token');
  ok('after signing out the views ask for the token again');

  expectEq('no CSP violation reported', cspErrors, []);
  expectEq('no script error', pageErrors, []);
} catch (e) {
  fail('the browser scenario ran to its end', e.message.split('\n')[0]);
  await page.screenshot({path: `${env.SCREENSHOT}.failed.png`}).catch(() => {});
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);
