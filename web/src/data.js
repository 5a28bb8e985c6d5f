// The study document (see src/report/study.h) with indexes the views share.
import { isNum } from './util.js';

// A report file (src/report/html.cpp) carries the runs and the power timelines, most of a large
// study's bytes, in script elements of their own: each configuration's runs (rows in the order of
// the document's "run_columns") in "eco-runs-CONFIGKEY", each run's timeline in
// "eco-timeline-RUNKEY". A view parses only what it shows: the leaderboard parses no run, the
// provenance of one configuration only its runs. The server's document has the runs as columns.
function element(id) {
  return typeof document === 'undefined' ? null : document.getElementById(id);
}

export class Study {
  constructor(doc) {
    this.doc = doc;
    this.configs = doc.configs || [];
    this.byKey = new Map(this.configs.map((c) => [c.key, c]));
    this.sessions = new Map((doc.sessions || []).map((s) => [s.key, s]));
    this.models = new Map((doc.models || []).map((m) => [m.key, m]));
    this.columns = doc.runs || null; // null: a report file, runs in elements
    this.runCount = Number.isInteger(doc.run_count) ? doc.run_count : ((this.columns || {}).key || []).length;
    this.comparisons = doc.comparisons || [];
    this.fits = doc.fits || [];
    this.published = doc.published || [];
  }

  // Run indexes (into the columns) by configuration key, built on first use.
  columnIndex() {
    if (!this.byConfig) {
      this.byConfig = new Map();
      const config = this.columns.config || [];
      for (let i = 0; i < config.length; i++) {
        if (!this.byConfig.has(config[i])) this.byConfig.set(config[i], []);
        this.byConfig.get(config[i]).push(i);
      }
    }
    return this.byConfig;
  }

  // The runs of one configuration, each as { column: value }.
  runsOf(configKey) {
    if (this.columns) {
      return (this.columnIndex().get(configKey) || []).map((i) => {
        const r = {};
        for (const [name, col] of Object.entries(this.columns)) r[name] = col[i];
        return r;
      });
    }
    const node = element(`eco-runs-${configKey}`);
    if (!node) return [];
    const names = this.doc.run_columns || [];
    return JSON.parse(node.textContent).map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]])));
  }

  hasRuns(configKey) {
    return this.columns ? this.columnIndex().has(configKey) : element(`eco-runs-${configKey}`) !== null;
  }

  // The configuration a run key belongs to, or undefined. In a report file this reads every
  // configuration's runs: only a URL naming a run without its configuration needs it.
  configOfRun(runKey) {
    if (this.columns) {
      const i = (this.columns.key || []).indexOf(runKey);
      return i < 0 ? undefined : this.columns.config[i];
    }
    const c = this.configs.find((x) => this.runsOf(x.key).some((r) => r.key === runKey));
    return c ? c.key : undefined;
  }

  // The run's power timeline when the document carries it (a report file), else undefined.
  timeline(runKey) {
    if (this.doc.timelines && this.doc.timelines[runKey]) return this.doc.timelines[runKey];
    const node = element(`eco-timeline-${runKey}`);
    return node ? JSON.parse(node.textContent) : undefined;
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
