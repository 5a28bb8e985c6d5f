// Power timeline of one run: watts against time, the prefill and decode windows shaded, the
// idle level measured before the study drawn as a line.
import { el, fmt, isNum, kv } from '../util.js';
import { matchesFilter } from '../data.js';
import { chart, initCharts } from '../charts.js';

const SHADES = ['rgba(208,121,44,0.18)', 'rgba(47,111,159,0.16)', 'rgba(60,154,95,0.16)'];

async function fetchTimeline(runKey) {
  const r = await fetch(`api/timeline?run=${encodeURIComponent(runKey)}`, { cache: 'no-store' });
  if (!r.ok) throw new Error(`api/timeline: HTTP ${r.status}`);
  return r.json();
}

function draw(box, run, tl) {
  const data = tl.t.map((t, i) => [t, tl.w[i]]).filter((p) => isNum(p[1]));
  const windows = run.windows || [];
  const series = [{
    type: 'line', name: 'GPU power (W)', data, showSymbol: false, lineStyle: { width: 1.5 },
    markArea: {
      silent: true,
      data: windows.map(([name, start, end], i) => [{ name, xAxis: start, itemStyle: { color: SHADES[i % SHADES.length] } }, { xAxis: end }]),
      label: { position: 'insideTop', color: '#333' },
    },
    markLine: isNum(run.idle_power_w) ? {
      silent: true, symbol: 'none', data: [{ name: 'idle', yAxis: run.idle_power_w }],
      label: { formatter: `idle ${fmt(run.idle_power_w)} W`, position: 'insideEndTop' }, lineStyle: { type: 'dashed', color: '#555' },
    } : undefined,
  }];
  box.appendChild(chart('timeline', {
    title: { text: 'GPU power during the run', textStyle: { fontSize: 13 } },
    grid: { left: 60, right: 30, top: 40, bottom: 70 },
    xAxis: { type: 'value', name: 'seconds from the start of the run', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', name: 'W', nameLocation: 'middle', nameGap: 40 },
    dataZoom: [{ type: 'slider', bottom: 10 }],
    series,
  }));
  if (tl.thinned) box.appendChild(el('p', { class: 'note' }, `Shown: ${tl.thinned}.`));
}

export default {
  id: 'timeline',
  title: 'Power timeline',
  render(ctx) {
    const { study } = ctx;
    ctx.body.appendChild(el('h2', {}, 'Power timeline'));
    const configs = study.configs.filter((c) => matchesFilter(c, ctx.param('filter')) && study.hasRuns(c.key));
    const runParam = ctx.param('run');
    let config = study.byKey.get(ctx.param('config'));
    if (!config && runParam) config = study.byKey.get(study.configOfRun(runParam));
    if (!config) config = configs[0];
    if (!config) {
      ctx.body.appendChild(el('p', { class: 'empty' }, 'No runs in these studies.'));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    const runs = study.runsOf(config.key);
    const run = runs.find((r) => r.key === runParam) || runs.find((r) => !r.warmup) || runs[0];
    if (!run) {
      ctx.body.appendChild(el('p', { class: 'empty', id: 'no-runs' }, `Configuration ${config.key} has no runs (see its provenance for why).`));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    ctx.body.appendChild(el('div', { class: 'controls' },
      el('label', {}, 'Configuration ', el('select', { id: 'config', class: 'long', onchange: (e) => ctx.set({ config: e.target.value, run: null }) },
        (configs.includes(config) ? configs : [config, ...configs]).map((c) => el('option', { value: c.key, selected: c === config },
          `${c.model} · ${c.format} · batch ${c.batch} · ${c.device}`)))),
      el('label', {}, 'Run ', el('select', { id: 'run', onchange: (e) => ctx.set({ config: config.key, run: e.target.value }) },
        runs.map((r) => el('option', { value: r.key, selected: r === run },
          `round ${r.round} ${r.warmup ? 'warm-up' : 'run'} ${r.index}`))))));
    ctx.body.appendChild(kv([
      ['Run', run.key], ['J/token', isNum(run.j_per_token) ? fmt(run.j_per_token) : 'not measured'],
      ['Mean power', isNum(run.mean_power_w) ? `${fmt(run.mean_power_w)} W` : 'not measured'],
      ['Idle power (before the study)', isNum(run.idle_power_w) ? `${fmt(run.idle_power_w)} W` : 'not measured'],
      ['Windows (placed from the phases\' durations)', (run.windows || []).map(([name, start, end]) => `${name} ${fmt(start, 3)}–${fmt(end, 3)} s`).join('; ')],
      ['Flags', run.flags || 'none'],
    ]));
    const box = el('div', { class: 'timeline-box' });
    ctx.body.appendChild(box);
    let shown = null;
    ctx.show(() => ({ columns: ['run', 't_s', 'watts'], rows: shown ? shown.t.map((t, i) => [run.key, t, shown.w[i]]) : [] }));
    const missing = () => {
      const db = (study.doc.databases || [])[config.db] || {};
      return db.timelines_note || 'No power samples were stored for this run (no power sensor, or the protocol kept no timeline).';
    };
    const show = (tl) => {
      if (!tl || !tl.t || !tl.t.length) {
        box.appendChild(el('p', { class: 'empty', id: 'no-timeline' }, missing()));
        return;
      }
      shown = tl;
      draw(box, run, tl);
    };
    // A report file carries the timeline: drawn with the view. The server sends it on request.
    const inline = study.timeline(run.key);
    if (inline || !ctx.live) {
      show(inline);
      return;
    }
    fetchTimeline(run.key).then((tl) => {
      show(tl);
      initCharts(box);
    }).catch((err) => box.appendChild(el('p', { class: 'error' }, err.message)));
  },
};
