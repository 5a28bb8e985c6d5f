// Browser test of the dashboard on the fixture study (tests/e2e/fixture_db.h), in headless
// Chromium: `node dashboard.test.mjs file` opens `ecocompute report`'s file from disk,
// `node dashboard.test.mjs serve` uses `ecocompute serve` on a loopback port. Every view must
// render the fixture's rows and marks, filters and sorting must change what is shown, a view's
// URL must reproduce it, markup in a model name must stay text, and the console must stay clean.
// Screenshots of each view go to $ECO_ARTIFACTS.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as h from './harness.mjs';

const mode = process.argv[2] === 'serve' ? 'serve' : 'file';
const root = resolve(new URL('../..', import.meta.url).pathname);
const playwright = h.loadPlaywright(root);
const out = h.artifacts();
const dir = h.workdir('eco-e2e-');
const db = join(dir, 'fixture.db');
h.makeFixture(db);

const rows = (page, cls) => page.$$eval(`table.${cls} tbody tr`, (trs) => trs.length);
const marks = (page, id) => page.$eval(`#chart-${id}`, (e) => Number(e.getAttribute('data-marks')));
const texts = (page, sel) => page.$$eval(sel, (els) => els.map((e) => e.textContent));
const shot = (page, name) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
const param = (page, name) => new URL(page.url()).searchParams.get(name);

async function leaderboard(page, base) {
  await h.open(page, `${base}?view=leaderboard`, 'leaderboard');
  h.check(await rows(page, 'leaderboard') === 11, 'leaderboard: one row per configuration (11)', await rows(page, 'leaderboard'));
  const models = await texts(page, 'table.leaderboard tbody tr td:first-child');
  h.check(models.some((m) => m.includes('<script>window.__xss=1</script>')), 'markup in a model name is shown as text', models);
  h.check(await page.evaluate(() => window.__xss) === undefined, 'markup in a model name does not run');
  h.check(await page.$$eval('#app img, #app b', (e) => e.length) === 0, 'no element created from database text');
  const kld = await texts(page, 'table.leaderboard tbody tr td:nth-child(14)');
  h.check(kld.filter((t) => t === 'not measured').length === 1, 'KLD filled only where measured (10 of 11)', kld);
  await shot(page, 'leaderboard');

  // Carbon follows the grid region chosen (bundled table), and the URL keeps the choice.
  const co2 = () => texts(page, 'table.leaderboard tbody tr:first-child td:nth-child(16)');
  const world = Number((await co2())[0]);
  await page.selectOption('#region', 'FR');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('region') === 'FR');
  const france = Number((await co2())[0]);
  h.check(world > 0 && Math.abs(france / world - 56 / 481) < 0.01, 'gCO2e/1k tokens scales with the grid chosen (France 56 vs world 481 g/kWh)', { world, france });

  // Filter typed in: the URL carries it, and opening that URL shows the same rows.
  await page.fill('#filter', 'format:int8');
  await page.dispatchEvent('#filter', 'change');
  await page.waitForFunction(() => document.querySelectorAll('table.leaderboard tbody tr').length === 3);
  h.check(param(page, 'filter') === 'format:int8', 'filter goes into the URL', page.url());
  const url = page.url();
  await h.open(page, url, 'leaderboard');
  h.check(await rows(page, 'leaderboard') === 3, 'the filtered URL reproduces the view (3 int8 rows)', await rows(page, 'leaderboard'));
  const download = page.waitForEvent('download');
  await page.click('#download-csv');
  const csv = readFileSync(await (await download).path(), 'utf8').trim().split('\n');
  h.check(csv.length === 4 && csv[0].startsWith('config,model,format'), 'CSV download holds what is shown (header + 3 rows)', csv);

  // Sorting by net J/token, both directions, and by URL.
  await h.open(page, `${base}?view=leaderboard&filter=batch:1`, 'leaderboard');
  await page.click('th[data-col="net"]');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('sort') === 'net');
  const asc = await texts(page, 'table.leaderboard tbody tr td:nth-child(2)');
  await page.click('th[data-col="net"]');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('dir') === 'desc');
  const desc = await texts(page, 'table.leaderboard tbody tr td:nth-child(2)');
  h.check(asc[asc.length - 1] === 'int8-pure' && desc[desc.length - 1] === 'int8-pure', 'rows without energy sort last', { asc, desc });
  h.check(asc[0] === 'fp16' && desc[0] === 'int8', 'sorting by J/token net orders fp16 first, int8 last', { asc, desc });
  const sortedUrl = page.url();
  await h.open(page, sortedUrl, 'leaderboard');
  h.check(JSON.stringify(await texts(page, 'table.leaderboard tbody tr td:nth-child(2)')) === JSON.stringify(desc), 'the sorted URL reproduces the order');
}

async function formats(page, base) {
  await h.open(page, `${base}?view=formats`, 'formats');
  // Group tiny batch 1: fp16, int8, nf4 measured, int8-pure failed: 4 bars + 3 CI whiskers.
  h.check(await rows(page, 'formats') === 4, 'formats: 4 formats in the batch-1 group', await rows(page, 'formats'));
  h.check(await marks(page, 'formats-ci') === 7, 'formats: 4 bars and 3 CI whiskers', await marks(page, 'formats-ci'));
  const int8 = await page.$$eval('table.formats tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const row = int8.find((r) => r[0] === 'int8') || [];
  h.check(/^\+\d+\.\d %$/.test(row[3] || '') && Number(row[3].slice(1, -2)) > 70, 'int8 delta vs fp16 shown (+80 % in the fixture)', row);
  h.check(row[5] === '< 0.0001', 'int8 vs fp16 p-value shown', row);
  h.check(await marks(page, 'formats-split') === 6, 'time x power split: 3 ratios x 2 formats', await marks(page, 'formats-split'));
  await shot(page, 'formats');
  await page.selectOption('#group', { index: 1 });
  await page.waitForFunction(() => new URL(location.href).searchParams.get('group') !== null);
  h.check(await rows(page, 'formats') === 3, 'choosing another group changes the rows (3 formats)', await rows(page, 'formats'));
  const chosen = await page.$eval('#group', (s) => s.value);
  await page.selectOption('#metric', 'decode_tok_s');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('metric') === 'decode_tok_s');
  await h.open(page, page.url(), 'formats');
  h.check(await page.$eval('#group', (s) => s.value) === chosen && await page.$eval('#metric', (s) => s.value) === 'decode_tok_s'
    && await rows(page, 'formats') === 3, 'the formats URL reproduces the group and metric chosen');
}

async function batch(page, base) {
  await h.open(page, `${base}?view=batch`, 'batch');
  const fits = await page.$$eval('table.fits tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  h.check(fits.length === 4, 'batch: one fit row per format', fits);
  const fp16 = fits.find((r) => r[0] === 'fp16') || [];
  const b = parseFloat(fp16[2]);
  h.check(b > -0.85 && b < -0.75, 'fitted exponent recovers the fixture law (b = -0.8)', fp16);
  // 3 formats x 3 batch sizes as points, 3 fitted lines of 17 points each.
  h.check(await marks(page, 'batch-energy') === 9 + 3 * 17, 'batch: 9 points and 3 fitted lines', await marks(page, 'batch-energy'));
  await shot(page, 'batch');
}

async function timeline(page, base) {
  await h.open(page, `${base}?view=timeline&config=0:1`, 'timeline');
  await page.waitForSelector('#chart-timeline[data-marks]');
  h.check(await marks(page, 'timeline') === 40, 'timeline: the run\'s 40 power samples', await marks(page, 'timeline'));
  const shaded = await page.$eval('#chart-timeline', (e) => {
    const s = e.eco.getOption().series[0];
    return { areas: s.markArea.data.length, idle: s.markLine.data[0].yAxis };
  });
  h.check(shaded.areas === 2 && shaded.idle === 75, 'prefill and decode shaded, idle level at 75 W', shaded);
  await shot(page, 'timeline');
  await page.selectOption('#run', { index: 3 });
  await page.waitForFunction(() => new URL(location.href).searchParams.get('run') !== null);
  const runUrl = page.url();
  await h.open(page, runUrl, 'timeline');
  h.check(await page.$eval('#run', (s) => s.selectedIndex) === 3, 'a run\'s URL reopens that run');
  await h.open(page, `${base}?view=timeline&run=${encodeURIComponent(param(page, 'run'))}`, 'timeline');
  h.check(await page.$eval('#run', (s) => s.selectedIndex) === 3 && await page.$eval('#config', (s) => s.value) === '0:1',
    'a URL naming only the run finds its configuration');
  await h.open(page, `${base}?view=timeline&config=0:11`, 'timeline');
  h.check(await page.$('#no-runs') !== null, 'timeline: a configuration without runs says so');
}

async function pareto(page, base) {
  await h.open(page, `${base}?view=pareto`, 'pareto');
  const option = await page.$eval('#chart-pareto', (e) => e.eco.getOption().series.map((s) => s.data.length));
  h.check(option[0] === 10 && option[1] === 1, 'pareto: 10 configurations with quality, 1 on the front', option);
  await shot(page, 'pareto');
  await h.open(page, `${base}?view=pareto&filter=format:int8-pure`, 'pareto');
  h.check(await page.$('#no-pairs') !== null, 'pareto: a selection without energy and quality says so');
}

async function provenance(page, base) {
  await h.open(page, `${base}?view=provenance&config=0:10`, 'provenance');
  const hash = await page.$eval('#model-hash', (e) => e.textContent);
  h.check(hash.includes('model.safetensors: ab12'), 'provenance: the weight file hash', hash);
  const cfg = await page.$eval('#model-config', (e) => e.textContent);
  h.check(cfg.includes('</script><b>x</b>'), 'provenance: markup in config.json shown as text', cfg);
  h.check(await rows(page, 'runs') === 6, 'provenance: all 6 runs (1 warm-up + 5 measured)', await rows(page, 'runs'));
  h.check((await page.textContent('#view-provenance')).includes('NVIDIA H200'), 'provenance: the GPU');
  h.check((await page.textContent('#view-provenance')).includes('fixture text'), 'provenance: the quality score\'s text');
  await shot(page, 'provenance');
  await h.open(page, `${base}?view=provenance&config=0:11`, 'provenance');
  h.check(await rows(page, 'failures') === 1, 'provenance: the failed configuration\'s failure', await rows(page, 'failures'));
  h.check(await page.$('#no-quality') !== null, 'provenance: a configuration never scored says so');
}

async function published(page, base) {
  await h.open(page, `${base}?view=published`, 'published');
  h.check(await rows(page, 'published') === 3, 'published: 3 rows', await rows(page, 'published'));
  h.check(await page.$$eval('table.published tr.flagged', (e) => e.length) === 1, 'published: the inconsistent row flagged');
  h.check(await page.$$eval('table.claims tr.flagged', (e) => e.length) === 1, 'published: the claim the table contradicts flagged');
  const matched = await page.$$eval('table.published tbody tr', (trs) => trs.map((tr) => tr.children[8].textContent));
  h.check(matched[0] === '0:1' && matched[2] === '', 'published: matched to the measured configuration', matched);
  await shot(page, 'published');
}

// A study larger than a page of rows: tables show 100 rows at a time, the page is in the URL,
// and downloads hold every row the filter selects. Its model's name is a spreadsheet formula,
// which the CSV download writes as text.
const FORMULA_MODEL = '=HYPERLINK("http://example.invalid","click")';
async function longTables(page, dir) {
  const db = join(dir, 'long.db');
  h.makeFixture(db, '--configs', '250', '--runs', '2', '--model', FORMULA_MODEL);
  const html = join(dir, 'long.html');
  h.report([db], html);
  const base = pathToFileURL(html).href;
  await h.open(page, `${base}?view=leaderboard`, 'leaderboard');
  h.check(await rows(page, 'leaderboard') === 100, 'a long leaderboard shows one page of 100 rows', await rows(page, 'leaderboard'));
  h.check((await page.textContent('#pager')).includes('Rows 1–100 of 250'), 'the pager says which rows are shown', await page.textContent('#pager'));
  await page.click('#page-next');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('page') === '2');
  const second = await texts(page, 'table.leaderboard tbody tr td:nth-child(3)');
  h.check(second.length === 100 && second[0] === '34', 'the next page shows rows 101-200 (batch 34 first)', second.slice(0, 3));
  await h.open(page, page.url(), 'leaderboard');
  h.check(JSON.stringify(await texts(page, 'table.leaderboard tbody tr td:nth-child(3)')) === JSON.stringify(second), 'a page\'s URL reproduces it');
  const download = page.waitForEvent('download');
  await page.click('#download-csv');
  const csv = readFileSync(await (await download).path(), 'utf8').trim().split('\n');
  h.check(csv.length === 251, 'the CSV download holds every selected row, not only the page (header + 250)', csv.length);
  const cells = csv[1].match(/^[^,]*,("(?:[^"]|"")*"),[^,]*,(\d+),/) || [];
  h.check(cells[1] === `"'${FORMULA_MODEL.replace(/"/g, '""')}"`, 'a model named =HYPERLINK(...) is text in the CSV (apostrophe)', csv[1]);
  h.check(cells[2] === '1' && /,0\.\d+,0\.\d+,/.test(csv[1]), 'numbers in the same CSV stay numbers', csv[1]);
  h.check((await texts(page, 'table.leaderboard tbody tr td:first-child'))[0] === FORMULA_MODEL, 'the page shows the name as it is');
  await page.click('#page-all');
  await page.waitForFunction(() => document.querySelectorAll('table.leaderboard tbody tr').length === 250);
  h.check(param(page, 'page') === 'all', 'all rows on request, and in the URL', page.url());
  await h.open(page, `${base}?view=leaderboard&page=9`, 'leaderboard');
  h.check(await rows(page, 'leaderboard') === 50, 'a page past the end shows the last page (50 rows)', await rows(page, 'leaderboard'));
  await h.open(page, `${base}?view=batch`, 'batch');
  h.check(await marks(page, 'batch-energy') > 250, 'batch: every configuration of a long study drawn', await marks(page, 'batch-energy'));
}

async function serveOnly(page, server) {
  const status = await (await fetch(`${server.url}api/status`)).json();
  h.check(status.generation >= 1, 'api/status answers', status);
  const bad = await fetch(`${server.url}api/timeline?run=nope`);
  h.check(bad.status === 400, 'api/timeline rejects a malformed run key', bad.status);
  const post = await fetch(`${server.url}api/study`, { method: 'POST' });
  h.check(post.status === 405, 'the server is read-only (POST refused)', post.status);
  // The database changes under the server: the open page shows the new contents.
  await h.open(page, `${server.url}?view=leaderboard`, 'leaderboard');
  h.makeFixture(db, '--configs', '6');
  await page.waitForFunction(() => document.querySelectorAll('table.leaderboard tbody tr').length === 6, null, { timeout: 15000 });
  h.check(true, 'a changed database is re-read and shown');
}

const browser = await h.launch(playwright);
const errors = [];
let server = null;
try {
  const page = await h.newPage(browser, errors);
  let base;
  if (mode === 'file') {
    const html = join(dir, 'report.html');
    h.report([db], html);
    base = pathToFileURL(html).href;
  } else {
    server = await h.serve([db]);
    base = server.url;
  }
  const digest = createHash('sha256').update(readFileSync(db)).digest('hex');
  for (const view of [leaderboard, formats, batch, timeline, pareto, provenance, published]) await view(page, base);
  h.check(createHash('sha256').update(readFileSync(db)).digest('hex') === digest, 'the database is unchanged');
  if (server) await serveOnly(page, server);
  if (!server) await longTables(page, dir);
  if (!server) {
    // A study with no configurations: every view opens and says there is nothing to show.
    const empty = join(dir, 'empty.db');
    h.makeFixture(empty, '--empty');
    const html = join(dir, 'empty.html');
    h.report([empty], html);
    for (const view of ['leaderboard', 'formats', 'batch', 'timeline', 'pareto', 'provenance', 'published']) {
      await h.open(page, `${pathToFileURL(html).href}?view=${view}`, view);
      const text = await page.textContent(`#view-${view}`);
      h.check(view === 'leaderboard' ? text.includes('0 of 0 configurations') : await page.$(`#view-${view} .empty`) !== null,
        `empty study: ${view} says there is nothing to show`, text.slice(0, 200));
    }
  }
  h.check(errors.length === 0, 'no console errors', errors);
} finally {
  await browser.close();
  if (server) server.stop();
}
console.log(`screenshots in ${out}`);
process.exit(h.failed() ? 1 : 0);
