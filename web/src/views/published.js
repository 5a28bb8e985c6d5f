// Published vs measured: imported published figures beside the measured configuration with the
// same format and batch size (and a matching model and GPU name), with two checks: the published
// row against itself (J/1k tokens = power / throughput x 1000 when idle was not subtracted) and
// the measured figure against the published one.
import { el, fmt, isNum, table } from '../util.js';

const norm = (s) => String(s || '').toLowerCase().replace(/[^a-z0-9.]/g, '');

function col(t, ...names) {
  for (const n of names) {
    const i = t.columns.indexOf(n);
    if (i >= 0) return i;
  }
  return -1;
}

// The measured format name of a published row: LLM.int8() with threshold 0 is "int8-pure".
function measuredFormat(row) {
  const f = String(row.format || '').toLowerCase();
  return f === 'int8' && isNum(row.threshold) && row.threshold === 0 ? 'int8-pure' : f;
}

function matchMeasured(study, row) {
  const model = norm(row.model);
  const gpu = norm(row.gpu);
  const format = measuredFormat(row);
  return study.configs.filter((c) => c.format === format && Number(c.batch) === Number(row.batch)
    && (!isNum(row.newTokens) || Number(c.gen_len) === row.newTokens)
    && model && norm(c.model).includes(model) && (!gpu || norm(c.gpu).includes(gpu)));
}

export function publishedRows(study) {
  const rows = [];
  for (const t of study.published) {
    const ix = {
      gpu: col(t, 'gpu', 'gpu_name'), model: col(t, 'model', 'model_name'), format: col(t, 'format', 'quant', 'precision'),
      batch: col(t, 'batch_size', 'batch'), energy: col(t, 'energy_j_per_1k_tok', 'j_per_1k_tokens', 'energy_j_per_1k_tokens'),
      power: col(t, 'power_w', 'mean_power_w'), tput: col(t, 'throughput_tok_s', 'tok_s'),
      idle: col(t, 'idle_subtracted'), notes: col(t, 'notes', 'note', 'flags'), source: col(t, 'source'),
      threshold: col(t, 'llm_int8_threshold', 'int8_threshold'), newTokens: col(t, 'new_tokens', 'gen_len'),
      findings: col(t, 'findings'),
    };
    for (const r of t.rows) {
      const get = (k) => (ix[k] >= 0 ? r[ix[k]] : null);
      const row = { gpu: get('gpu'), model: get('model'), format: get('format'), batch: get('batch'),
        energy: get('energy'), power: get('power'), tput: get('tput'), idle: get('idle'),
        notes: get('notes'), source: get('source'), table: t.table,
        threshold: get('threshold'), newTokens: get('newTokens') };
      const flags = [];
      // analysis/'s checks of the table, where the study carries them; else the plain one below.
      if (ix.findings >= 0) {
        for (const f of r[ix.findings] || []) flags.push(String(f));
      } else if (isNum(row.energy) && isNum(row.power) && isNum(row.tput) && row.tput > 0 && String(row.idle).toLowerCase() !== 'yes') {
        const implied = (row.power / row.tput) * 1000;
        row.implied = implied;
        if (Math.abs(implied - row.energy) / row.energy > 0.05)
          flags.push(`published J/1k tokens ${fmt(row.energy)} ≠ power ÷ throughput × 1000 = ${fmt(implied)}`);
      }
      if (isNum(row.power) && isNum(row.tput) && row.tput > 0) row.implied = (row.power / row.tput) * 1000;
      const measured = matchMeasured(study, row);
      row.measured = measured.length ? study.metric(measured[0], 'j_per_1k_tokens') : null;
      row.measuredKey = measured.length ? measured[0].key : '';
      if (isNum(row.measured) && isNum(row.energy)) row.ratio = row.measured / row.energy;
      row.flags = flags;
      rows.push(row);
    }
  }
  return rows;
}

export default {
  id: 'published',
  title: 'Published vs measured',
  render(ctx) {
    const { study } = ctx;
    ctx.body.appendChild(el('h2', {}, 'Published vs measured'));
    if (!study.published.length) {
      ctx.body.appendChild(el('p', { class: 'empty', id: 'no-published' },
        'These studies hold no imported published results. Import the study\'s published figures into the database to compare them here.'));
      ctx.show(() => ({ columns: [], rows: [] }));
      return;
    }
    const rows = publishedRows(study);
    const flagged = rows.filter((r) => r.flags.length).length;
    ctx.body.appendChild(el('p', { class: 'count', id: 'row-count' }, `${rows.length} published rows, ${flagged} flagged as internally inconsistent`));
    const t = table(['GPU', 'Model', 'Format', 'Batch', 'published J/1k tokens', 'power ÷ throughput × 1000', 'measured J/1k tokens', 'measured ÷ published', 'measured config', 'flags', 'source notes'],
      rows.map((r) => [r.gpu, r.model, r.format, String(r.batch ?? ''), fmt(r.energy), fmt(r.implied),
        isNum(r.measured) ? fmt(r.measured) : 'no matching measurement', fmt(r.ratio, 3), r.measuredKey,
        r.flags.join('; '), r.notes || '']), { cls: 'data published' });
    t.querySelectorAll('tbody tr').forEach((tr, i) => { if (rows[i].flags.length) tr.classList.add('flagged'); });
    ctx.body.appendChild(el('div', { class: 'scroll' }, t));
    const claims = study.published.flatMap((p) => (p.claims || []).map((c) => ({ ...c, table: p.table })));
    if (claims.length) {
      ctx.body.appendChild(el('h3', {}, `The study's claims against its own table (${claims.filter((c) => !c.consistent).length} of ${claims.length} inconsistent)`));
      const ct = table(['Claim', 'Statement', 'Consistent', 'What the table gives'],
        claims.map((c) => [c.id, c.statement, c.consistent ? 'yes' : 'no', c.message]), { cls: 'data claims' });
      ct.querySelectorAll('tbody tr').forEach((tr, i) => { if (!claims[i].consistent) tr.classList.add('flagged'); });
      ctx.body.appendChild(el('div', { class: 'scroll' }, ct));
    }
    ctx.show(() => ({ columns: ['gpu', 'model', 'format', 'batch', 'published_j_per_1k', 'implied_j_per_1k', 'measured_j_per_1k', 'ratio', 'measured_config', 'flags'],
      rows: rows.map((r) => [r.gpu, r.model, r.format, r.batch, r.energy, r.implied ?? null, r.measured, r.ratio ?? null, r.measuredKey, r.flags.join('; ')]) }));
  },
};
