// Regenerates docs/screenshots/: one PNG per dashboard view, on the fixture study, from the
// report file opened in headless Chromium. Run: ninja -C build/<preset> dashboard_screenshots
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mkdirSync } from 'node:fs';
import * as h from './harness.mjs';

const root = resolve(new URL('../..', import.meta.url).pathname);
const out = process.argv[2] || join(root, 'docs', 'screenshots');
const playwright = h.loadPlaywright(root);
mkdirSync(out, { recursive: true });
const dir = h.workdir('eco-shots-');
const db = join(dir, 'fixture.db');
h.makeFixture(db);
const html = join(dir, 'report.html');
h.report([db], html);
const base = pathToFileURL(html).href;
const views = [
  ['leaderboard', '?view=leaderboard&sort=net'],
  ['formats', '?view=formats'],
  ['batch', '?view=batch'],
  ['timeline', '?view=timeline&config=0:4'],
  ['pareto', '?view=pareto'],
  ['provenance', '?view=provenance&config=0:1'],
  ['published', '?view=published'],
];
const browser = await h.launch(playwright);
const errors = [];
try {
  const page = await h.newPage(browser, errors);
  for (const [view, query] of views) {
    await h.open(page, base + query, view);
    if (view === 'timeline') await page.waitForSelector('#chart-timeline[data-marks]');
    await page.screenshot({ path: join(out, `${view}.png`), fullPage: view !== 'provenance' });
    console.log(`${join(out, view)}.png`);
  }
} finally {
  await browser.close();
}
if (errors.length) {
  console.error(`console errors: ${errors.join('\n')}`);
  process.exit(1);
}
