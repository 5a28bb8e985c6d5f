// Leaderboard: one row per configuration, every column from the database or computed from it
// with the formula shown; cost and carbon from prices the reader sets.
import { el, fmt, fmtCI, isNum, paged, table, NOT_MEASURED } from '../util.js';
import { matchesFilter } from '../data.js';

const J_PER_KWH = 3.6e6;
// Price and PUE are assumptions (analysis/'s illustrative defaults until the reader sets them);
// carbon intensity comes from the bundled grid table by region, or a figure the reader gives.
function settings(ctx) {
  const cost = ctx.study.doc.cost || {};
  const grid = cost.grid || [];
  const num = (name, fallback) => {
    const v = Number(ctx.param(name, fallback));
    return Number.isFinite(v) && v >= 0 ? v : fallback;
  };
  const w = ctx.param('w', '1,0,0').split(',').map(Number);
  const weights = [0, 1, 2].map((i) => (Number.isFinite(w[i]) && w[i] >= 0 ? w[i] : 0));
  const region = grid.find((g) => g.region === ctx.param('region', cost.grid_region)) || grid[0] || null;
  const custom = ctx.param('carbon') !== '' && Number.isFinite(Number(ctx.param('carbon')));
  const carbon = custom ? Number(ctx.param('carbon')) : region ? region.g_per_kwh : NaN;
  const carbonLabel = custom ? 'set by you' : region ? `${region.name}, ${region.year}; ${cost.grid_source}` : 'no grid table';
  return { price: num('price', cost.usd_per_kwh ?? NaN), pue: num('pue', cost.pue ?? 1), carbon, carbonLabel, custom, region, grid, weights };
}

function rowsOf(study, s) {
  return study.configs.map((c) => {
    const gross = study.metric(c, 'gross_j_per_token');
    const q = c.quality || {};
    return {
      c,
      key: c.key,
      model: c.model,
      format: c.format,
      batch: c.batch,
      lengths: `${c.prompt_len}+${c.gen_len}`,
      device: c.device,
      gpu: c.gpu,
      n: c.n,
      net: study.metric(c, 'net_j_per_token'),
      gross,
      jreq: study.metric(c, 'j_per_request'),
      toks: study.metric(c, 'decode_tok_s'),
      watts: study.metric(c, 'mean_power_w'),
      ppl: isNum(q.ppl) ? q.ppl : null,
      kld: isNum(q.kld) ? q.kld : null,
      pplErr: q.ppl_err, kldErr: q.kld_err,
      usd: isNum(gross) && isNum(s.price) ? (gross * 1e6 / J_PER_KWH) * s.pue * s.price : null,
      co2: isNum(gross) && isNum(s.carbon) ? (gross * 1e3 / J_PER_KWH) * s.pue * s.carbon : null,
      gate: c.status === 'done' ? c.gate : c.status,
    };
  });
}

// Composite score in [0, 100] over the rows shown, only where every weighted part is measured.
function score(rows, weights) {
  const [we, ws, wq] = weights;
  const sum = we + ws + wq;
  const energy = (r) => (isNum(r.net) ? r.net : r.gross);
  const eMin = Math.min(...rows.map(energy).filter(isNum));
  const sMax = Math.max(...rows.map((r) => r.toks).filter(isNum));
  const kMax = Math.max(...rows.map((r) => r.kld).filter(isNum));
  for (const r of rows) {
    r.score = null;
    if (sum <= 0) continue;
    const e = energy(r);
    if ((we > 0 && !isNum(e)) || (ws > 0 && !isNum(r.toks)) || (wq > 0 && !isNum(r.kld))) continue;
    const partE = we > 0 ? eMin / e : 0;
    const partS = ws > 0 ? r.toks / sMax : 0;
    const partQ = wq > 0 ? (kMax > 0 ? 1 - r.kld / kMax : 1) : 0;
    r.score = (100 * (we * partE + ws * partS + wq * partQ)) / sum;
  }
}

const COLUMNS = [
  { id: 'model', label: 'Model' },
  { id: 'format', label: 'Format' },
  { id: 'batch', label: 'Batch' },
  { id: 'lengths', label: 'Prompt+gen tokens' },
  { id: 'device', label: 'Device' },
  { id: 'gpu', label: 'GPU' },
  { id: 'n', label: 'n', title: 'measured runs of the last round' },
  { id: 'net', label: 'J/token net [95 % CI]', title: 'idle power subtracted' },
  { id: 'gross', label: 'J/token gross [95 % CI]' },
  { id: 'jreq', label: 'J/request' },
  { id: 'toks', label: 'decode tok/s' },
  { id: 'watts', label: 'mean W' },
  { id: 'ppl', label: 'PPL', title: 'perplexity over the quality text, ± standard error' },
  { id: 'kld', label: 'KLD', title: 'mean KL divergence from the base format (nats/token), ± standard error' },
  { id: 'usd', label: '$/1M tokens' },
  { id: 'co2', label: 'gCO2e/1k tokens' },
  { id: 'gate', label: 'Gate' },
  { id: 'score', label: 'Score' },
];

function cells(r, study) {
  const m = (name) => r.c.metrics && r.c.metrics[name];
  const energyNote = r.c.energy_note ? NOT_MEASURED : '';
  const qual = (v, err) => (isNum(v) ? `${fmt(v)}${isNum(err) ? ` ± ${fmt(err, 2)}` : ''}` : NOT_MEASURED);
  return [
    r.model, r.format, String(r.batch), r.lengths, r.device, r.gpu || '', String(r.n),
    isNum(r.net) ? fmtCI(m('net_j_per_token')) : NOT_MEASURED,
    isNum(r.gross) ? fmtCI(m('gross_j_per_token')) : NOT_MEASURED,
    isNum(r.jreq) ? fmt(r.jreq) : NOT_MEASURED,
    isNum(r.toks) ? fmtCI(m('decode_tok_s')) : '',
    isNum(r.watts) ? fmt(r.watts) : (energyNote || NOT_MEASURED),
    qual(r.ppl, r.pplErr), qual(r.kld, r.kldErr),
    isNum(r.usd) ? fmt(r.usd, 3) : NOT_MEASURED,
    isNum(r.co2) ? fmt(r.co2, 3) : NOT_MEASURED,
    r.gate || '',
    isNum(r.score) ? r.score.toFixed(1) : '',
  ];
}

function numberInput(ctx, name, label, value, step) {
  return el('label', {}, label, ' ', el('input', {
    type: 'number', name, min: '0', step, value: String(value), size: '6',
    onchange: (e) => ctx.set({ [name]: e.target.value }),
  }));
}

function controls(ctx, s) {
  const weightInput = (i, label) => el('label', {}, label, ' ', el('input', {
    type: 'number', min: '0', step: '0.5', value: String(s.weights[i]), name: `w${i}`, size: '4',
    onchange: (e) => {
      const w = [...s.weights];
      w[i] = Number(e.target.value);
      ctx.set({ w: w.join(',') });
    },
  }));
  return el('div', { class: 'controls' },
    el('label', {}, 'Filter ', el('input', {
      type: 'search', id: 'filter', value: ctx.param('filter'), placeholder: 'int8 batch:>1 gpu:h200',
      onchange: (e) => ctx.set({ filter: e.target.value, page: null }),
    })),
    numberInput(ctx, 'price', '$/kWh', s.price, '0.01'),
    el('label', {}, 'Grid ', el('select', { id: 'region', onchange: (e) => ctx.set({ region: e.target.value, carbon: null }) },
      s.grid.map((g) => el('option', { value: g.region, selected: !s.custom && g === s.region },
        `${g.name} (${g.g_per_kwh} gCO2e/kWh, ${g.year})`)))),
    numberInput(ctx, 'carbon', 'or gCO2e/kWh', s.custom ? s.carbon : '', '10'),
    numberInput(ctx, 'pue', 'PUE', s.pue, '0.05'),
    el('span', { class: 'weights' }, 'Score weights: ', weightInput(0, 'energy'), weightInput(1, 'speed'), weightInput(2, 'quality')));
}

function formulas(s) {
  const [we, ws, wq] = s.weights;
  return el('ul', { class: 'formulas' },
    el('li', {}, `$/1M tokens = gross J/token × 10⁶ ÷ 3.6×10⁶ J/kWh × PUE ${s.pue} × ${s.price} $/kWh (an illustrative price and PUE, not measurements: set yours)`),
    el('li', {}, `gCO2e/1k tokens = gross J/token × 10³ ÷ 3.6×10⁶ J/kWh × PUE ${s.pue} × ${s.carbon} gCO2e/kWh (${s.carbonLabel})`),
    el('li', {}, `Score = 100 × (${we} × E_min/E + ${ws} × S/S_max + ${wq} × (1 − KLD/KLD_max)) ÷ ${we + ws + wq}, over the rows shown; E = J/token (net where measured), S = decode tok/s; blank where a weighted part is not measured`),
    el('li', {}, 'J/token net subtracts the idle power measured before the study; gross is what the GPU drew. PPL and KLD appear only where a quality measurement is stored.'));
}

function sortRows(rows, sort, dir) {
  const sign = dir === 'desc' ? -1 : 1;
  rows.sort((a, b) => {
    const x = a[sort], y = b[sort];
    const xn = x === null || x === undefined || x === '', yn = y === null || y === undefined || y === '';
    if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1; // missing values last either way
    if (typeof x === 'number' && typeof y === 'number') return sign * (x - y);
    return sign * String(x).localeCompare(String(y), undefined, { numeric: true });
  });
}

export default {
  id: 'leaderboard',
  title: 'Leaderboard',
  render(ctx) {
    const s = settings(ctx);
    const filter = ctx.param('filter');
    let rows = rowsOf(ctx.study, s).filter((r) => matchesFilter(r.c, filter));
    score(rows, s.weights);
    const sort = COLUMNS.some((c) => c.id === ctx.param('sort')) ? ctx.param('sort') : null;
    const dir = ctx.param('dir', 'asc') === 'desc' ? 'desc' : 'asc';
    if (sort) sortRows(rows, sort, dir);
    ctx.body.appendChild(el('h2', {}, 'Leaderboard'));
    ctx.body.appendChild(controls(ctx, s));
    ctx.body.appendChild(el('p', { class: 'count', id: 'row-count' },
      `${rows.length} of ${ctx.study.configs.length} configurations`));
    const onSort = (id) => ctx.set({ sort: id, dir: sort === id && dir === 'asc' ? 'desc' : 'asc', page: null });
    const page = paged(ctx, rows.length);
    const shown = rows.slice(page.start, page.end);
    if (page.nav) ctx.body.appendChild(page.nav);
    const t = table(COLUMNS, shown.map((r) => cells(r, ctx.study)), {
      onSort, sort, dir, rowKey: (i) => shown[i].key, cls: 'data leaderboard',
    });
    // Each row links to the provenance of its numbers.
    t.querySelectorAll('tbody tr').forEach((tr, i) => {
      const a = el('a', { href: `?view=provenance&config=${encodeURIComponent(shown[i].key)}`, class: 'prov',
        onclick: (e) => { e.preventDefault(); ctx.set({ view: 'provenance', config: shown[i].key, page: null }); } }, 'provenance');
      tr.appendChild(el('td', {}, a));
    });
    t.querySelector('thead tr').appendChild(el('th', { scope: 'col' }, ''));
    ctx.body.appendChild(el('div', { class: 'scroll' }, t));
    ctx.body.appendChild(formulas(s));
    ctx.show(() => ({
      columns: ['config', 'model', 'format', 'batch', 'prompt_len', 'gen_len', 'device', 'gpu', 'n',
        'net_j_per_token', 'gross_j_per_token', 'j_per_request', 'decode_tok_s', 'mean_power_w',
        'ppl', 'kld', 'usd_per_1m_tokens', 'gco2e_per_1k_tokens', 'gate', 'score'],
      rows: rows.map((r) => [r.key, r.model, r.format, r.batch, r.c.prompt_len, r.c.gen_len, r.device,
        r.gpu, r.n, r.net, r.gross, r.jreq, r.toks, r.watts, r.ppl, r.kld, r.usd, r.co2, r.gate, r.score]),
    }));
  },
};
