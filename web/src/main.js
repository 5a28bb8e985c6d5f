// The dashboard: one page, views chosen by the URL (?view=...&filter=...), data either inlined
// by `ecocompute report` or fetched from `ecocompute serve`'s /api/.
import { el, clear, download, csv } from './util.js';
import { Study } from './data.js';
import { disposeCharts, initCharts } from './charts.js';
import leaderboard from './views/leaderboard.js';
import formats from './views/formats.js';
import batch from './views/batch.js';
import timeline from './views/timeline.js';
import pareto from './views/pareto.js';
import provenance from './views/provenance.js';
import published from './views/published.js';
import './style.css';

const VIEWS = [leaderboard, formats, batch, timeline, pareto, provenance, published];

const app = {
  study: null,
  live: false,
  generation: null,
  params: new URLSearchParams(location.search),
  shown: null, // what the current view shows, for the downloads
};

function param(name, fallback = '') {
  const v = app.params.get(name);
  return v === null ? fallback : v;
}

// Changes URL parameters (null removes one) and re-renders: every view state is a URL.
function setParams(changes) {
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') app.params.delete(k);
    else app.params.set(k, String(v));
  }
  const query = app.params.toString();
  history.replaceState(null, '', query ? `?${query}` : location.pathname);
  scheduleRender();
}

// Renders once after the current event: an input losing focus while the page is rebuilt fires
// `change`, which must not start a second rebuild inside the first.
let scheduled = false;
function scheduleRender() {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    render();
  });
}

function currentView() {
  const id = param('view', 'leaderboard');
  return VIEWS.find((v) => v.id === id) || VIEWS[0];
}

function nav(active) {
  return el('nav', { class: 'views', 'aria-label': 'Views' }, VIEWS.map((v) =>
    el('a', {
      href: `?view=${v.id}`, 'data-view': v.id, 'aria-current': v === active ? 'page' : null,
      onclick: (e) => { e.preventDefault(); setParams({ view: v.id, page: null }); },
    }, v.title)));
}

function downloads(view) {
  const save = (kind) => {
    const shown = app.shown ? app.shown() : { columns: [], rows: [] };
    if (kind === 'csv') download(`ecocompute-${view.id}.csv`, 'text/csv', csv(shown.columns, shown.rows));
    else download(`ecocompute-${view.id}.json`, 'application/json', JSON.stringify(
      shown.rows.map((r) => Object.fromEntries(shown.columns.map((c, i) => [c, r[i]]))), null, 1));
  };
  return el('div', { class: 'downloads' }, 'Download what is shown: ',
    el('button', { type: 'button', id: 'download-csv', onclick: () => save('csv') }, 'CSV'), ' ',
    el('button', { type: 'button', id: 'download-json', onclick: () => save('json') }, 'JSON'));
}

function header() {
  const doc = app.study.doc;
  const dbs = (doc.databases || []).map((d) => d.path).join(', ');
  return el('header', {},
    el('h1', {}, 'ecocompute dashboard'),
    el('p', { class: 'meta' },
      `${app.study.configs.length} configurations, ${app.study.runCount} runs from ${dbs || 'no database'}`,
      ` · ecocompute ${doc.generator ? doc.generator.version + ' (' + doc.generator.commit + ')' : ''}`,
      app.live ? ' · live: re-read when the database changes' : ` · generated ${doc.generated_at || ''}`));
}

function render() {
  disposeCharts();
  const root = clear(document.getElementById('app'));
  const view = currentView();
  app.shown = null;
  root.appendChild(header());
  root.appendChild(nav(view));
  const body = el('main', { id: `view-${view.id}`, class: 'view' });
  root.appendChild(body);
  try {
    const ctx = {
      study: app.study, live: app.live, param, set: setParams, body,
      show: (fn) => { app.shown = fn; },
      rerender: render,
    };
    view.render(ctx);
  } catch (err) {
    body.appendChild(el('p', { class: 'error' }, `This view failed: ${err && err.message}`));
    console.error(err);
  }
  root.appendChild(downloads(view));
  performance.mark('eco-view-built');
  initCharts(root);
  performance.mark('eco-charts-drawn');
  document.title = `ecocompute · ${view.title}`;
  root.setAttribute('data-ready', view.id);
}

async function fetchJson(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

async function poll() {
  try {
    const s = await fetchJson('api/status');
    if (s.generation !== app.generation) {
      app.generation = s.generation;
      app.study = new Study(await fetchJson('api/study'));
      render();
    }
  } catch (err) {
    console.warn('ecocompute: cannot reach the server', err);
  }
  setTimeout(poll, 2000);
}

async function start() {
  performance.mark('eco-start');
  const node = document.getElementById('eco-data');
  const doc = node ? JSON.parse(node.textContent) : { live: true };
  performance.mark('eco-parsed');
  window.ecoDashboard = app;
  if (doc.live) {
    app.live = true;
    const s = await fetchJson('api/status');
    app.generation = s.generation;
    app.study = new Study(await fetchJson('api/study'));
    render();
    setTimeout(poll, 2000);
  } else {
    app.study = new Study(doc);
    performance.mark('eco-indexed');
    render();
  }
}

start().catch((err) => {
  const root = document.getElementById('app');
  root.appendChild(el('p', { class: 'error' }, `The dashboard could not load its data: ${err.message}`));
  root.setAttribute('data-ready', 'error');
  console.error(err);
});
