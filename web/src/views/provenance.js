// Provenance of a configuration: where and how every number of it was measured.
import { el, fmt, isNum, kv, table, prettyJson } from '../util.js';
import { matchesFilter } from '../data.js';

function weights(model) {
  try {
    const w = JSON.parse(model.weights_sha256_json || '{}');
    const entries = Object.entries(w);
    return entries.length ? entries.map(([f, h]) => `${f}: ${h}`).join('\n') : '(synthetic weights: generated from shape and seed)';
  } catch { return model.weights_sha256_json; }
}

// A value with its standard error, or why it is absent.
function pm(v, err) {
  if (!isNum(v)) return 'not measured';
  return isNum(err) ? `${fmt(v)} ± ${fmt(err, 2)}` : fmt(v);
}

function pre(text, id) {
  return el('pre', { class: 'json', id }, text || '(not recorded)');
}

export default {
  id: 'provenance',
  title: 'Provenance',
  render(ctx) {
    const { study } = ctx;
    ctx.body.appendChild(el('h2', {}, 'Provenance'));
    const configs = study.configs.filter((c) => matchesFilter(c, ctx.param('filter')));
    const c = study.byKey.get(ctx.param('config')) || configs[0];
    if (!c) {
      ctx.body.appendChild(el('p', { class: 'empty' }, 'No configurations in these studies.'));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    ctx.body.appendChild(el('div', { class: 'controls' },
      el('label', {}, 'Configuration ', el('select', { id: 'config', class: 'long', onchange: (e) => ctx.set({ config: e.target.value }) },
        (configs.includes(c) ? configs : [c, ...configs]).map((x) => el('option', { value: x.key, selected: x === c },
          `${x.key} · ${x.model} · ${x.format} · batch ${x.batch} · ${x.device}`))))));
    const s = study.sessions.get(c.session) || {};
    const m = study.models.get(c.model_key) || {};
    const db = (study.doc.databases || [])[c.db] || {};
    ctx.body.appendChild(el('section', { class: 'prov' },
      el('h3', {}, 'Configuration'),
      kv([['Key (database:id)', c.key], ['Study database', db.path], ['Model', c.model], ['Format', c.format],
        ['Batch', String(c.batch)], ['Prompt / generated tokens', `${c.prompt_len} / ${c.gen_len}`], ['Device', c.device],
        ['Engine', c.engine], ['Status', c.status], ['Gate', c.gate || '(none)'], ['Rounds', String(c.rounds)],
        ['Error', c.error || 'none'], ['Energy', c.energy_note ? `not measured: ${c.energy_note}` : 'measured'],
        ['Started / finished', `${c.started_at || ''} / ${c.finished_at || ''}`]]),
      el('h3', {}, 'Machine and software'),
      kv([['GPU', s.gpu_name], ['GPU UUID', s.gpu_uuid], ['Driver', s.gpu_driver],
        ['Power limit', isNum(s.gpu_power_limit_w) ? `${fmt(s.gpu_power_limit_w)} W` : ''], ['CUDA', s.cuda_version],
        ['cuBLAS', s.cublas_version], ['Host', s.hostname], ['OS', s.os], ['CPU', s.cpu],
        ['ecocompute', s.eco_version ? `${s.eco_version} (${s.eco_git_commit})` : ''], ['Meter', s.meter],
        ['Command', s.command], ['Session started', s.started_at]]),
      el('h3', {}, 'Model'),
      kv([['Source', m.source], ['Synthetic shape / seed', m.synthetic_shape ? `${m.synthetic_shape} / ${m.synthetic_seed}` : 'not synthetic'],
        ['Parameters', m.parameter_count ? String(m.parameter_count) : '']]),
      el('h4', {}, 'Weight file SHA-256'), pre(weights(m), 'model-hash'),
      el('h4', {}, 'config.json'), pre(prettyJson(m.config_json), 'model-config'),
      el('h3', {}, 'Format parameters'), pre(prettyJson(c.format_params), 'format-params'),
      el('h3', {}, 'Quality'),
      c.quality ? kv([['Against', c.quality.base_format], ['Text', c.quality.text_source], ['Tokens scored', c.quality.tokens_scored],
        ['Perplexity', pm(c.quality.ppl, c.quality.ppl_err)],
        ['KL divergence (nats/token)', pm(c.quality.kld, c.quality.kld_err)],
        ['Same top-1 token', pm(c.quality.same_top1, c.quality.same_top1_err)],
        ['Scored on device', c.quality.device]])
        : el('p', { id: 'no-quality' }, 'not measured: no quality score of this model and format is stored'),
      el('h3', {}, 'Protocol'), pre(prettyJson(c.protocol_json), 'protocol'),
      el('h3', {}, 'Gate outcome'), pre(prettyJson(c.gate_json), 'gate')));
    const events = (study.doc.events || []).filter((e) => e.config === c.key);
    ctx.body.appendChild(el('h3', {}, `Protocol steps (${events.length})`));
    ctx.body.appendChild(table(['Step', 'At', 'Seconds', 'Outcome', 'Details'],
      events.map((e) => [e.step, e.at, fmt(e.seconds), e.outcome, e.details_json]), { cls: 'data events' }));
    const failures = (study.doc.failures || []).filter((f) => f.config === c.key);
    if (failures.length) {
      ctx.body.appendChild(el('h3', {}, 'Failures'));
      ctx.body.appendChild(table(['At', 'Stage', 'Error'], failures.map((f) => [f.at, f.stage, f.error]), { cls: 'data failures' }));
    }
    const runs = study.runsOf(c.key);
    ctx.body.appendChild(el('h3', {}, `All runs (${runs.length})`));
    const cols = ['key', 'round', 'index', 'warmup', 'k', 'seconds', 'j_per_token', 'gross_j_per_token', 'net_j_per_token',
      'j_per_request', 'decode_tok_s', 'mean_power_w', 'idle_power_w', 'temp_start_c', 'temp_end_c', 'flags'];
    const runTable = table(cols,
      runs.map((r) => cols.map((k) => (typeof r[k] === 'number' ? fmt(r[k]) : typeof r[k] === 'boolean' ? (r[k] ? 'yes' : '') : r[k] ?? ''))),
      { rowKey: (i) => runs[i].key, cls: 'data runs' });
    // Runs the protocol set aside (a card still settling, a lone outlier) are stored but not counted.
    const setAside = (r) => (r.flags || '').split(',').some((f) => f === 'unsettled' || f === 'outlier-rejected');
    runTable.querySelectorAll('tbody tr').forEach((tr, i) => { if (setAside(runs[i])) tr.classList.add('flagged'); });
    ctx.body.appendChild(el('div', { class: 'scroll' }, runTable));
    ctx.body.appendChild(el('p', {}, el('a', { href: `?view=timeline&config=${encodeURIComponent(c.key)}`,
      onclick: (e) => { e.preventDefault(); ctx.set({ view: 'timeline', config: c.key, run: null }); } }, 'Power timeline of these runs')));
    ctx.show(() => ({ columns: cols, rows: runs.map((r) => cols.map((k) => r[k] ?? null)) }));
  },
};
