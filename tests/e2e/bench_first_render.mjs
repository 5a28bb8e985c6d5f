// Benchmark (not a test): time from opening a report of a 10k-run study (1000 configurations x
// 10 runs, 9 measured with 10 power samples each; quality scores and published figures) to the
// first rendered view, in headless Chromium, for each view, five loads each. Target: under 2 s
// for every view. Prints one line per view; run with: ninja -C build/<preset> dashboard_bench
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { statSync } from 'node:fs';
import * as h from './harness.mjs';

const root = resolve(new URL('../..', import.meta.url).pathname);
const playwright = h.loadPlaywright(root);
const dir = h.workdir('eco-bench-');
const db = join(dir, 'large.db');
h.makeFixture(db, '--configs', '1000', '--runs', '9', '--tables', 'yes');
const html = join(dir, 'report.html');
let t = process.hrtime.bigint();
h.report([db], html);
const reportMs = Number(process.hrtime.bigint() - t) / 1e6;
console.log(`ecocompute report: ${reportMs.toFixed(0)} ms, ${(statSync(html).size / 1048576).toFixed(1)} MiB`);
const browser = await h.launch(playwright);
const errors = [];
try {
  const page = await h.newPage(browser, errors);
  for (const view of ['leaderboard', 'formats', 'batch', 'timeline', 'pareto', 'provenance', 'published']) {
    const times = [];
    let marks = {};
    for (let i = 0; i < 5; i++) {
      t = process.hrtime.bigint();
      await h.open(page, `${pathToFileURL(html).href}?view=${view}`, view);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      // The page's own marks (ms from navigation start): script start, data parsed, view drawn.
      marks = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('mark')
        .map((e) => [e.name.replace('eco-', ''), Math.round(e.startTime)])));
    }
    times.sort((a, b) => a - b);
    console.log(`first render, ${view}: median ${times[2].toFixed(0)} ms (of ${times.map((x) => x.toFixed(0)).join(', ')}); last load: ${JSON.stringify(marks)}`);
  }
} finally {
  await browser.close();
}
if (errors.length) console.error(`console errors: ${errors.join('\n')}`);
