// Batch size: J/request and tok/s against batch size on log-log axes, one series per format,
// with the fitted power law E = a · B^b (exponent with its 95 % CI) from the measured runs.
import { el, fmt, isNum, table } from '../util.js';
import { scaleGroupOf, scaleGroupLabel, matchesFilter } from '../data.js';
import { chart, palette } from '../charts.js';

function scaleGroups(study, filter) {
  const out = new Map();
  for (const c of study.configs) {
    if (!matchesFilter(c, filter)) continue;
    const g = scaleGroupOf(c);
    if (!out.has(g)) out.set(g, { id: g, label: scaleGroupLabel(c), configs: [] });
    out.get(g).configs.push(c);
  }
  const batches = (g) => new Set(g.configs.map((c) => c.batch)).size;
  return [...out.values()].sort((a, b) => batches(b) - batches(a));
}

function byFormat(configs) {
  const m = new Map();
  for (const c of configs) {
    const f = `${c.format} ${c.format_params || ''}`;
    if (!m.has(f)) m.set(f, { format: c.format, configs: [] });
    m.get(f).configs.push(c);
  }
  for (const v of m.values()) v.configs.sort((a, b) => a.batch - b.batch);
  return [...m.values()];
}

// Many batch sizes in one cell would make the table as wide as their list: the first few, the
// last and the count.
function batchList(batches) {
  if (batches.length <= 12) return batches.join(', ');
  return `${batches.slice(0, 4).join(', ')}, …, ${batches[batches.length - 1]} (${batches.length} sizes)`;
}

function fitFor(study, configs) {
  const keys = new Set(configs.map((c) => c.key));
  return study.fits.find((f) => (f.configs || []).some((k) => keys.has(k)));
}

function scalingChart(id, title, yName, series) {
  return chart(id, {
    title: { text: title, textStyle: { fontSize: 13 } },
    legend: { top: 22, type: 'scroll' },
    grid: { left: 70, right: 30, top: 60, bottom: 45 },
    xAxis: { type: 'log', logBase: 2, name: 'batch size', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'log', name: yName, nameLocation: 'middle', nameGap: 55 },
    series,
  });
}

export default {
  id: 'batch',
  title: 'Batch size',
  render(ctx) {
    const { study } = ctx;
    ctx.body.appendChild(el('h2', {}, 'Batch size'));
    const all = scaleGroups(study, ctx.param('filter'));
    if (!all.length) {
      ctx.body.appendChild(el('p', { class: 'empty' }, 'No configurations match.'));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    const group = all.find((g) => g.id === ctx.param('group')) || all[0];
    ctx.body.appendChild(el('div', { class: 'controls' },
      el('label', {}, 'Model and setup ', el('select', { id: 'group', class: 'long', onchange: (e) => ctx.set({ group: e.target.value }) },
        all.map((g) => el('option', { value: g.id, selected: g === group }, g.label))))));
    const formats = byFormat(group.configs);
    const energy = [], speed = [], fitRows = [];
    formats.forEach((f, i) => {
      const color = palette[i % palette.length];
      const pts = f.configs.map((c) => [c.batch, study.metric(c, 'j_per_request')]).filter((p) => isNum(p[1]) && p[1] > 0);
      // Past a few hundred points, one path for all symbols (ECharts' large mode) draws far faster.
      energy.push({ type: 'scatter', name: f.format, data: pts, symbolSize: 9, itemStyle: { color }, large: true, largeThreshold: 300 });
      const fit = fitFor(study, f.configs);
      if (fit && isNum(fit.b) && pts.length) {
        const bs = f.configs.map((c) => c.batch);
        const lo = Math.min(...bs), hi = Math.max(...bs);
        const line = [];
        for (let k = 0; k <= 16; k++) {
          const b = lo * Math.pow(hi / lo, k / 16);
          line.push([b, fit.a * Math.pow(b, fit.b)]);
        }
        energy.push({ type: 'line', name: `${f.format} fit: ${fmt(fit.a, 3)} · B^${fmt(fit.b, 3)}`, data: line,
          showSymbol: false, lineStyle: { color, type: 'dashed' }, itemStyle: { color } });
      }
      fitRows.push({ format: f.format, fit, batches: f.configs.map((c) => c.batch) });
      const speedPts = f.configs.map((c) => [c.batch, study.metric(c, 'tok_s')]).filter((p) => isNum(p[1]) && p[1] > 0);
      speed.push({ type: 'line', name: f.format, itemStyle: { color }, data: speedPts, showSymbol: speedPts.length <= 50 });
    });
    ctx.body.appendChild(scalingChart('batch-energy', 'J/request against batch size (log-log), with the fitted power law', 'J/request', energy));
    ctx.body.appendChild(table(['Format', 'batch sizes', 'exponent b [95 % CI]', 'a (J/request at B = 1)', 'R²', 'runs', 'note'],
      fitRows.map((r) => [r.format, batchList(r.batches),
        r.fit && isNum(r.fit.b) ? `${fmt(r.fit.b, 3)}${isNum(r.fit.b_ci_low) ? ` [${fmt(r.fit.b_ci_low, 3)}, ${fmt(r.fit.b_ci_high, 3)}]` : ''}` : '',
        r.fit ? fmt(r.fit.a) : '', r.fit ? fmt(r.fit.r_squared, 3) : '', r.fit ? String(r.fit.n) : '',
        r.fit ? (r.fit.note || '') : 'one batch size: nothing to fit']), { cls: 'data fits' }));
    ctx.body.appendChild(scalingChart('batch-speed', 'Throughput (generated tokens / run time) against batch size', 'tok/s', speed));
    ctx.body.appendChild(el('p', { class: 'note' }, 'E = a · B^b fitted by least squares on ln E against ln B over every measured run; b = −1 means a batch costs what one request costs, b = 0 that batching saves nothing.'));
    ctx.show(() => ({
      columns: ['config', 'format', 'batch', 'j_per_request', 'tok_s', 'fit_a', 'fit_b', 'fit_b_ci_low', 'fit_b_ci_high'],
      rows: formats.flatMap((f) => {
        const fit = fitFor(study, f.configs) || {};
        return f.configs.map((c) => [c.key, c.format, c.batch, study.metric(c, 'j_per_request'), study.metric(c, 'tok_s'),
          fit.a ?? null, fit.b ?? null, fit.b_ci_low ?? null, fit.b_ci_high ?? null]);
      }),
    }));
  },
};
