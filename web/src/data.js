// The study document (see src/report/study.h) with indexes the views share.
import { isNum } from './util.js';

export class Study {
  constructor(doc) {
    this.doc = doc;
    this.configs = doc.configs || [];
    this.byKey = new Map(this.configs.map((c) => [c.key, c]));
    this.sessions = new Map((doc.sessions || []).map((s) => [s.key, s]));
    this.models = new Map((doc.models || []).map((m) => [m.key, m]));
    this.runs = doc.runs || {};
    this.runCount = (this.runs.key || []).length;
    this.runsByConfig = new Map();
    for (let i = 0; i < this.runCount; i++) {
      const c = this.runs.config[i];
      if (!this.runsByConfig.has(c)) this.runsByConfig.set(c, []);
      this.runsByConfig.get(c).push(i);
    }
    this.runIndex = new Map((this.runs.key || []).map((k, i) => [k, i]));
    this.comparisons = doc.comparisons || [];
    this.fits = doc.fits || [];
    this.timelines = doc.timelines || {};
    this.published = doc.published || [];
  }

  run(i) {
    const r = {};
    for (const [name, col] of Object.entries(this.runs)) r[name] = col[i];
    return r;
  }

  metric(config, name) {
    const s = config.metrics && config.metrics[name];
    return s && isNum(s.mean) ? s.mean : null;
  }

  // The quality scores (of `ecocompute quality`) that some configuration has.
  qualityColumns() {
    const scores = ['kld', 'ppl', 'same_top1', 'ln_ppl_ratio'];
    return scores.filter((k) => this.configs.some((c) => c.quality && isNum(c.quality[k])));
  }
}

// Configurations that differ only in format compare against each other.
export function groupOf(c) {
  return [c.model, c.batch, c.prompt_len, c.gen_len, c.device, c.gpu].join('\u0001');
}
export function groupLabel(c) {
  return `${c.model} · batch ${c.batch} · ${c.prompt_len}+${c.gen_len} tokens · ${c.device}${c.gpu ? ' · ' + c.gpu : ''}`;
}
// Configurations that differ only in batch size (and format) share a scaling plot.
export function scaleGroupOf(c) {
  return [c.model, c.prompt_len, c.gen_len, c.device, c.gpu].join('\u0001');
}
export function scaleGroupLabel(c) {
  return `${c.model} · ${c.prompt_len}+${c.gen_len} tokens · ${c.device}${c.gpu ? ' · ' + c.gpu : ''}`;
}

// The filter language of the URL's `filter=`: space-separated terms, each either free text
// (matched against model, format, device, GPU, status) or field:value (model, format, batch,
// device, gpu, status, gate; batch also takes >N and <N).
export function matchesFilter(c, filter) {
  if (!filter) return true;
  const terms = filter.toLowerCase().split(/\s+/).filter(Boolean);
  return terms.every((term) => {
    const m = term.match(/^(model|format|batch|device|gpu|status|gate):(.*)$/);
    if (!m) {
      return [c.model, c.format, c.device, c.gpu, c.status].some((v) => String(v || '').toLowerCase().includes(term));
    }
    const [, field, value] = m;
    if (field === 'batch') {
      if (value.startsWith('>')) return c.batch > Number(value.slice(1));
      if (value.startsWith('<')) return c.batch < Number(value.slice(1));
      return String(c.batch) === value;
    }
    const v = String(c[field] || '').toLowerCase();
    return field === 'format' ? v === value : v.includes(value);
  });
}
