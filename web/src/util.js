// DOM and number helpers. Every string from a database reaches the page through textContent or
// an attribute set with setAttribute, never through innerHTML: a model named "<script>" is text.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (name === 'value') {
      node.value = value;
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

// Significant digits without trailing noise; "-" is never used for a missing value (see
// notMeasured), so a blank cannot be mistaken for zero.
export function fmt(v, digits = 4) {
  if (!isNum(v)) return '';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

export function fmtP(p) {
  if (!isNum(p)) return '';
  if (p < 1e-4) return '< 0.0001';
  return p.toFixed(4);
}

export function fmtPct(v) {
  if (!isNum(v)) return '';
  return `${v > 0 ? '+' : ''}${v.toFixed(1)} %`;
}

export const NOT_MEASURED = 'not measured';

// "mean [ci_low, ci_high]" of a metric summary, or the reason it is absent.
export function fmtCI(s, digits = 4) {
  if (!s || !isNum(s.mean)) return NOT_MEASURED;
  if (s.n >= 2 && isNum(s.ci_low)) return `${fmt(s.mean, digits)} [${fmt(s.ci_low, 3)}, ${fmt(s.ci_high, 3)}]`;
  return fmt(s.mean, digits);
}

// A text that a spreadsheet reads as a number (-1.5, 2e-3) rather than as a formula.
const PLAIN_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// One CSV field (RFC 4180 quoting). Text a spreadsheet would run as a formula (it starts with
// = + - @, a tab or a carriage return: a model named "=HYPERLINK(...)") gets a leading
// apostrophe, which spreadsheets take as "this is text"; numbers are written as numbers.
export function csvField(v) {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(s) && !PLAIN_NUMBER.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csv(columns, rows) {
  return [columns.map(csvField).join(','), ...rows.map((r) => r.map(csvField).join(','))].join('\n') + '\n';
}

export function download(name, type, text) {
  const blob = new Blob([text], { type });
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}

export function table(columns, rows, opts = {}) {
  const head = el('tr', {}, columns.map((c, i) => {
    const label = typeof c === 'string' ? c : c.label;
    const th = el('th', { scope: 'col', 'data-col': typeof c === 'string' ? null : c.id, title: c.title || null }, label);
    if (opts.onSort && typeof c !== 'string' && c.sortable !== false) {
      th.classList.add('sortable');
      if (opts.sort === c.id) th.setAttribute('aria-sort', opts.dir === 'desc' ? 'descending' : 'ascending');
      th.addEventListener('click', () => opts.onSort(c.id));
    }
    return th;
  }));
  const body = el('tbody');
  rows.forEach((r, i) => {
    const tr = el('tr', { 'data-row': opts.rowKey ? opts.rowKey(i) : i });
    for (const cell of r) tr.appendChild(cell instanceof Node ? el('td', {}, cell) : el('td', {}, cell));
    body.appendChild(tr);
  });
  return el('table', { class: opts.cls || 'data' }, el('thead', {}, head), body);
}

// Long tables show one page of rows: laying out thousands of table rows was most of a large
// study's first render. The page is part of the URL (page=N, or page=all) like every view state;
// downloads still hold every row the filter selects.
export const PAGE_ROWS = 100;

export function paged(ctx, total) {
  const pages = Math.max(1, Math.ceil(total / PAGE_ROWS));
  const all = ctx.param('page') === 'all';
  const page = all ? 1 : Math.min(pages, Math.max(1, Number.parseInt(ctx.param('page', '1'), 10) || 1));
  const start = all ? 0 : (page - 1) * PAGE_ROWS;
  const end = all ? total : Math.min(total, start + PAGE_ROWS);
  if (pages === 1) return { start, end, nav: null };
  const button = (id, label, to, disabled) => el('button', {
    type: 'button', id, disabled, onclick: () => ctx.set({ page: to }),
  }, label);
  const nav = el('div', { class: 'pager', id: 'pager' }, `Rows ${start + 1}–${end} of ${total} `,
    all ? button('page-first', `pages of ${PAGE_ROWS}`, null, false) : [
      button('page-prev', '« previous', page - 1 > 1 ? page - 1 : null, page === 1), ' ',
      button('page-next', 'next »', page + 1, page === pages), ' ',
      button('page-all', `all ${total} rows`, 'all', false)]);
  return { start, end, nav };
}

export function kv(pairs) {
  return el('dl', { class: 'kv' }, pairs.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v === '' || v === null || v === undefined ? '(not recorded)' : v)]));
}

export function prettyJson(text) {
  if (!text) return '';
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return String(text); }
}
