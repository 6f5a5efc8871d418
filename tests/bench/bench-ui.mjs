// The browser half of bench-ui.sh: for each project, RUNS fresh page loads
// of #/review/ID (signed in through sessionStorage before the page's own
// scripts run), timed from navigation start to the moment the page drew the
// listing's first rows (data-loaded) and every row (data-complete), as the
// page stamps them; and the renderer's main-thread busy time by then.
// Prints median, min and max, and the ratio of medians to the empty project.
import {createRequire} from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.UI_MODULES, 'x.js'));
const {chromium} = require('playwright-core');
const env = process.env;
const runs = Number(env.RUNS);
const projects = env.PROJECTS.trim().split(/\s+/).map((p) => p.split(':'));

const browser = await chromium.launch({executablePath: env.CHROMIUM, headless: true,
  args: process.getuid() === 0 ? ['--no-sandbox'] : []});
const results = [];
for (const [hosts, id] of projects) {
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const context = await browser.newContext({viewport: {width: 1280, height: 900}});
    await context.addInitScript((token) => sessionStorage.setItem('egress-admin-token', token), env.TOKEN);
    const page = await context.newPage();
    // The renderer's main-thread busy time (script, style, layout, paint) as
    // Chromium counts it: less swayed than wall time by other processes.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const busy = async () => {
      const m = (await cdp.send('Performance.getMetrics')).metrics;
      return 1000 * m.find((x) => x.name === 'TaskDuration').value;
    };
    await page.goto(`${env.BASE}/#/review/${id}`, {waitUntil: 'commit'});
    // The page marks the listing: data-loaded when the first rows are drawn,
    // data-complete when every row is in the document.
    // (Polled every 20 ms: playwright's waitForSelector re-runs its selector
    // engine on every change of the page and would cost more than the page.)
    const until = (attr) => page.waitForFunction((a) => document.getElementById('review-list')?.hasAttribute(a),
      attr, {polling: 20, timeout: 120000});
    await until('data-loaded');
    const firstBusy = await busy();
    await until('data-complete');
    // The page stamps both moments itself (performance.now(), ms since navigation start).
    const [first, all] = await page.evaluate(() => ['data-loaded', 'data-complete'].map((a) =>
      Number(document.getElementById('review-list').getAttribute(a))));
    const rows = await page.$$eval('#review-list .host', (r) => r.length);
    if (rows !== Number(hosts)) throw new Error(`${hosts} hosts expected, ${rows} rendered`);
    if (i > 0) times.push([first, all, firstBusy, await busy()]); // the first load warms the browser and the server
    await context.close();
  }
  const med = (k) => {
    const v = times.map((t) => t[k]).sort((a, b) => a - b);
    return {median: v[Math.floor(v.length / 2)], min: v[0], max: v[v.length - 1]};
  };
  results.push({hosts, first: med(0), all: med(1), firstBusy: med(2), allBusy: med(3)});
}
await browser.close();
const f = (x) => x.toFixed(0).padStart(6);
const line = (r, a, b) => `${f(r[a].median)} (${f(r[a].min)}-${f(r[a].max)}) ` +
  `${(r[a].median / results[0][a].median).toFixed(2).padStart(6)}x   ${f(r[b].median)} (${f(r[b].min)}-${f(r[b].max)})`;
console.log(`review view, ms from navigation start, median of ${runs} runs after one warm-up (min-max), x the empty project`);
console.log('hosts   wall: first rows shown            every row in the page');
for (const r of results) console.log(`${r.hosts.padStart(5)}   ${line(r, 'first', 'all')}`);
console.log('hosts   renderer main thread busy: first rows   every row');
for (const r of results) console.log(`${r.hosts.padStart(5)}   ${line(r, 'firstBusy', 'allBusy')}`);
