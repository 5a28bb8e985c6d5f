// Formats: J/token by weight format with 95 % CI bars within one group (same model, batch,
// lengths, device, GPU), each format against fp16 with Welch's p-value, and the energy ratio
// split into time ratio x power ratio.
import { el, fmt, fmtCI, fmtP, fmtPct, isNum, table, NOT_MEASURED } from '../util.js';
import { groupOf, groupLabel, matchesFilter } from '../data.js';
import { chart, palette } from '../charts.js';

const METRICS = {
  j_per_token: 'J/token (net of idle where measured)',
  gross_j_per_token: 'J/token gross',
  net_j_per_token: 'J/token net',
  decode_j_per_token: 'decode J/token',
  prefill_j_per_token: 'prefill J/token',
  j_per_request: 'J/request',
  decode_tok_s: 'decode tok/s',
  mean_power_w: 'mean power W',
};

export function groups(study, filter) {
  const out = new Map();
  for (const c of study.configs) {
    if (!matchesFilter(c, filter)) continue;
    const g = groupOf(c);
    if (!out.has(g)) out.set(g, { id: g, label: groupLabel(c), configs: [] });
    out.get(g).configs.push(c);
  }
  // Groups with several formats first: that is what this view compares.
  return [...out.values()].sort((a, b) => (b.configs.length > 1) - (a.configs.length > 1));
}

function ciBars(configs, metric) {
  const cats = configs.map((c) => c.format);
  const stats = configs.map((c) => (c.metrics || {})[metric] || {});
  const bars = stats.map((s, i) => ({ value: isNum(s.mean) ? s.mean : null, itemStyle: { color: palette[i % palette.length] } }));
  const whiskers = stats.map((s, i) => (isNum(s.ci_low) && s.n >= 2 ? [i, s.ci_low, s.ci_high] : null)).filter(Boolean);
  return chart('formats-ci', {
    title: { text: `${METRICS[metric]} by format, mean and 95 % CI`, textStyle: { fontSize: 13 } },
    grid: { left: 70, right: 20, top: 40, bottom: 40 },
    xAxis: { type: 'category', data: cats },
    yAxis: { type: 'value', name: METRICS[metric], nameLocation: 'middle', nameGap: 55, scale: false },
    series: [
      { type: 'bar', name: 'mean', data: bars, barMaxWidth: 60 },
      {
        type: 'custom', name: '95 % CI', data: whiskers,
        renderItem: (params, api) => {
          const x = api.value(0);
          const lo = api.coord([x, api.value(1)]);
          const hi = api.coord([x, api.value(2)]);
          const w = 8;
          const style = { stroke: '#222', lineWidth: 1.5 };
          return { type: 'group', children: [
            { type: 'line', shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style },
            { type: 'line', shape: { x1: lo[0] - w, y1: lo[1], x2: lo[0] + w, y2: lo[1] }, style },
            { type: 'line', shape: { x1: hi[0] - w, y1: hi[1], x2: hi[0] + w, y2: hi[1] }, style },
          ] };
        },
        z: 10,
      },
    ],
  });
}

function splitChart(rows) {
  const cats = rows.map((r) => r.format);
  return chart('formats-split', {
    title: { text: 'Energy ratio vs fp16 = time ratio × power ratio', textStyle: { fontSize: 13 } },
    legend: { top: 22 },
    grid: { left: 60, right: 20, top: 60, bottom: 40 },
    xAxis: { type: 'category', data: cats },
    yAxis: { type: 'value', name: 'ratio to fp16', nameLocation: 'middle', nameGap: 40 },
    series: [
      { type: 'bar', name: 'energy ratio', data: rows.map((r) => r.energy_ratio ?? null), itemStyle: { color: '#2f6f9f' } },
      { type: 'bar', name: 'time ratio', data: rows.map((r) => r.time_ratio ?? null), itemStyle: { color: '#d0792c' } },
      { type: 'bar', name: 'power ratio', data: rows.map((r) => r.power_ratio ?? null), itemStyle: { color: '#3c9a5f' } },
    ],
  }, 300);
}

export default {
  id: 'formats',
  title: 'Formats',
  render(ctx) {
    const { study } = ctx;
    ctx.body.appendChild(el('h2', {}, 'Formats'));
    const all = groups(study, ctx.param('filter'));
    if (!all.length) {
      ctx.body.appendChild(el('p', { class: 'empty' }, 'No configurations match.'));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    const group = all.find((g) => g.id === ctx.param('group')) || all[0];
    const metric = METRICS[ctx.param('metric')] ? ctx.param('metric') : 'j_per_token';
    ctx.body.appendChild(el('div', { class: 'controls' },
      el('label', {}, 'Group ', el('select', { id: 'group', class: 'long', onchange: (e) => ctx.set({ group: e.target.value }) },
        all.map((g) => el('option', { value: g.id, selected: g === group }, `${g.label} (${g.configs.length} formats)`)))),
      el('label', {}, 'Metric ', el('select', { id: 'metric', onchange: (e) => ctx.set({ metric: e.target.value }) },
        Object.entries(METRICS).map(([k, v]) => el('option', { value: k, selected: k === metric }, v))))));
    const configs = group.configs;
    ctx.body.appendChild(ciBars(configs, metric));
    const cmp = new Map(study.comparisons.filter((c) => configs.some((x) => x.key === c.config)).map((c) => [c.config, c]));
    const rows = configs.map((c) => ({ c, format: c.format, ...(cmp.get(c.key) || {}) }));
    const hasBase = configs.some((c) => c.format === 'fp16');
    const t = table(['Format', 'n', `${METRICS[metric]} [95 % CI]`, 'Δ vs fp16', '95 % CI of the difference (J/token)',
      'p (Welch)', 'energy ratio', '= time ratio', '× power ratio', 'share of the difference from time', 'note'],
    rows.map((r) => [
      r.format, String(r.c.n), fmtCI((r.c.metrics || {})[metric]),
      r.c.format === 'fp16' ? 'baseline' : (isNum(r.delta_pct) ? fmtPct(r.delta_pct) : ''),
      isNum(r.diff_ci_low) ? `[${fmt(r.diff_ci_low, 3)}, ${fmt(r.diff_ci_high, 3)}]` : '',
      fmtP(r.p_value), fmt(r.energy_ratio), fmt(r.time_ratio), fmt(r.power_ratio),
      isNum(r.time_share) ? `${(100 * r.time_share).toFixed(0)} %` : '',
      r.note || (r.c.energy_note ? `${NOT_MEASURED}: ${r.c.energy_note}` : ''),
    ]), { rowKey: (i) => rows[i].c.key, cls: 'data formats' });
    ctx.body.appendChild(el('div', { class: 'scroll' }, t));
    if (!hasBase) ctx.body.appendChild(el('p', { class: 'note' }, 'This group has no fp16 configuration: no deltas.'));
    const compared = rows.filter((r) => isNum(r.energy_ratio));
    if (compared.length) ctx.body.appendChild(splitChart(compared));
    ctx.show(() => ({
      columns: ['config', 'format', 'n', 'mean', 'ci_low', 'ci_high', 'delta_pct_vs_fp16', 'diff_ci_low', 'diff_ci_high', 'p_value', 'energy_ratio', 'time_ratio', 'power_ratio', 'time_share'],
      rows: rows.map((r) => {
        const s = (r.c.metrics || {})[metric] || {};
        return [r.c.key, r.format, s.n ?? 0, s.mean ?? null, s.ci_low ?? null, s.ci_high ?? null, r.delta_pct ?? null,
          r.diff_ci_low ?? null, r.diff_ci_high ?? null, r.p_value ?? null, r.energy_ratio ?? null, r.time_ratio ?? null,
          r.power_ratio ?? null, r.time_share ?? null];
      }),
    }));
  },
};
