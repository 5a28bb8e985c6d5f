// Quality vs energy: each configuration with a stored quality score at (J/token, score); the
// Pareto front joins those no other configuration beats on both (lower is better on both axes
// for KL divergence and perplexity; higher for agreement scores, which the front then inverts).
import { el, fmt, isNum, paged, table } from '../util.js';
import { matchesFilter } from '../data.js';
import { chart } from '../charts.js';

const higherIsBetter = (name) => /top1|agree|accuracy|acc$/i.test(name);

export function paretoFront(points, higher) {
  // points: [{x, y}] with x lower-better; y lower-better unless `higher`.
  const better = (a, b) => (higher ? a >= b : a <= b);
  return points.filter((p) => !points.some((q) => q !== p && q.x <= p.x && better(q.y, p.y) && (q.x < p.x || q.y !== p.y)))
    .sort((a, b) => a.x - b.x);
}

export default {
  id: 'pareto',
  title: 'Quality vs energy',
  render(ctx) {
    const { study } = ctx;
    ctx.body.appendChild(el('h2', {}, 'Quality vs energy'));
    const columns = study.qualityColumns();
    if (!columns.length) {
      ctx.body.appendChild(el('p', { class: 'empty', id: 'no-quality' },
        'No quality measurements are stored in these studies, so no configuration can be placed here (none is invented). Measure perplexity / KL divergence with ecocompute\'s quality command to fill this view.'));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    const preferred = columns.find((c) => /kld|kl_div/i.test(c)) || columns[0];
    const q = columns.includes(ctx.param('quality')) ? ctx.param('quality') : preferred;
    const higher = higherIsBetter(q);
    ctx.body.appendChild(el('div', { class: 'controls' },
      el('label', {}, 'Quality score ', el('select', { id: 'quality', onchange: (e) => ctx.set({ quality: e.target.value }) },
        columns.map((c) => el('option', { value: c, selected: c === q }, c))))));
    const points = study.configs.filter((c) => matchesFilter(c, ctx.param('filter')))
      .map((c) => ({ c, x: study.metric(c, 'j_per_token'), y: c.quality ? c.quality[q] : null }))
      .filter((p) => isNum(p.x) && isNum(p.y));
    if (!points.length) {
      ctx.body.appendChild(el('p', { class: 'empty', id: 'no-pairs' },
        `No configuration shown has both a measured J/token and a ${q} score (energy is not measured without power sensors).`));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    const front = paretoFront(points, higher);
    const label = (p) => `${p.c.model} ${p.c.format} b${p.c.batch}`;
    ctx.body.appendChild(chart('pareto', {
      title: { text: `${q} against J/token; the Pareto front joined`, textStyle: { fontSize: 13 } },
      legend: { top: 22 },
      grid: { left: 70, right: 30, top: 60, bottom: 45 },
      xAxis: { type: 'value', name: 'J/token', nameLocation: 'middle', nameGap: 28, scale: true },
      yAxis: { type: 'value', name: q, nameLocation: 'middle', nameGap: 50, scale: true },
      series: [
        // One path for all symbols past a few hundred points (ECharts' large mode), as in the batch view.
        { type: 'scatter', name: 'configurations', data: points.map((p) => ({ value: [p.x, p.y], name: label(p) })), symbolSize: 9, large: true, largeThreshold: 300 },
        { type: 'line', name: 'Pareto front', data: front.map((p) => [p.x, p.y]), symbol: 'diamond', symbolSize: 11, lineStyle: { color: '#b2434a' }, itemStyle: { color: '#b2434a' } },
      ],
    }));
    const onFront = new Set(front.map((p) => p.c.key));
    const page = paged(ctx, points.length);
    const shown = points.slice(page.start, page.end);
    if (page.nav) ctx.body.appendChild(page.nav);
    ctx.body.appendChild(table(['Model', 'Format', 'Batch', 'J/token', q, 'on the front'],
      shown.map((p) => [p.c.model, p.c.format, String(p.c.batch), fmt(p.x), fmt(p.y), onFront.has(p.c.key) ? 'yes' : '']),
      { rowKey: (i) => shown[i].c.key, cls: 'data pareto' }));
    ctx.show(() => ({ columns: ['config', 'model', 'format', 'batch', 'j_per_token', q, 'pareto'],
      rows: points.map((p) => [p.c.key, p.c.model, p.c.format, p.c.batch, p.x, p.y, onFront.has(p.c.key)]) }));
  },
};
