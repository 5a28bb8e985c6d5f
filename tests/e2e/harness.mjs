// Shared pieces of the dashboard's browser tests: skip rules, the browser, the fixture study,
// a `serve` process, and small assertions that report what was expected and what was seen.
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export const CHROMIUM = '/usr/bin/chromium';
export const SKIP = 77;

// Under CI (CI=true) a missing prerequisite is a failure, not a skip: CI installs them all.
export function skip(why) {
  if (process.env.CI === 'true') {
    console.log(`FAIL: ${why}, under CI, which must run this test (./setup.sh installs it)`);
    process.exit(1);
  }
  console.log(`skipped: ${why}`);
  process.exit(SKIP);
}

// playwright-core from the project's node_modules (never a downloaded browser).
export function loadPlaywright(root) {
  if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} not installed (Debian package chromium)`);
  const pkg = join(root, 'node_modules', 'playwright-core', 'package.json');
  if (!existsSync(pkg)) skip('node_modules/playwright-core missing (run `npm ci`)');
  return createRequire(pkg)('playwright-core');
}

export async function launch(playwright) {
  return playwright.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set (run through ctest)`);
  return v;
}

export function workdir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function makeFixture(path, ...args) {
  execFileSync(env('ECO_FIXTURE_TOOL'), [path, ...args], { stdio: 'inherit' });
}

export function report(dbs, out) {
  execFileSync(env('ECO_BINARY'), ['report', ...dbs.flatMap((d) => ['--db', d]), '-o', out], { stdio: 'inherit' });
}

// Starts `ecocompute serve` on a free loopback port; resolves to { url, stop }.
export function serve(dbs) {
  return new Promise((resolve, reject) => {
    const child = spawn(env('ECO_BINARY'), ['serve', ...dbs.flatMap((d) => ['--db', d]), '--port', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no address: ${out}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ url: `http://127.0.0.1:${m[1]}/`, stop: () => child.kill('SIGTERM'), child });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited (${code}): ${out}`)); });
  });
}

let failures = 0;
export function check(cond, what, seen) {
  if (cond) {
    console.log(`ok: ${what}`);
  } else {
    failures++;
    console.log(`FAIL: ${what}${seen === undefined ? '' : ` (seen: ${JSON.stringify(seen)})`}`);
  }
}
export function failed() {
  return failures;
}

export function artifacts() {
  const dir = env('ECO_ARTIFACTS');
  mkdirSync(dir, { recursive: true });
  return dir;
}

// A page that records console errors and uncaught exceptions.
export async function newPage(browser, errors) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return page;
}

export async function open(page, url, view) {
  await page.goto(url);
  await page.waitForSelector(`#app[data-ready="${view}"]`, { timeout: 20000 });
}
