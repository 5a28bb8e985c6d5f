#include "analysis/study.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"

namespace eco::analysis {

bool higher_is_worse(const std::string& m) {
  return m != metric::kTokensPerSecond;
}

const std::vector<std::string>& comparable_metrics() {
  static const std::vector<std::string> list{
      metric::kJPerToken,       metric::kGrossJPerToken,   metric::kNetJPerToken,
      metric::kDecodeJPerToken, metric::kPrefillJPerToken, metric::kJPerRequest,
      metric::kSecondsPerToken, metric::kTokensPerSecond,  metric::kPowerW};
  return list;
}

std::string ConfigData::without(const std::string& field) const {
  return fmt::format("{} / {} / {} / {}+{} / {}", field == "model" ? "*" : model_key,
                     field == "format" ? "*" : format,
                     field == "batch" ? "bs *" : fmt::format("bs {}", batch), prompt_len, gen_len,
                     device);
}

std::string ConfigData::describe_without(const std::string& field) const {
  ConfigData named;
  named.model_key = model;
  named.format = format;
  named.batch = batch;
  named.prompt_len = prompt_len;
  named.gen_len = gen_len;
  named.device = device;
  return named.without(field);
}

const Sample* ConfigData::find(const std::string& m) const {
  const auto it = metrics.find(m);
  return it == metrics.end() || !std::isfinite(it->second.moments.mean) ? nullptr : &it->second;
}

namespace {

bool has_spread(const Moments& m) {
  return m.n >= 2 && std::isfinite(m.sd);
}

Comparison compare_pair(const ConfigData& a, const ConfigData& b, const std::string& m,
                        double confidence) {
  Comparison c;
  c.config = &a;
  c.baseline = &b;
  c.metric = m;
  const Sample *sa = a.find(m), *sb = b.find(m);
  if (!sa || !sb) {  // not measured (no energy sensor): no change to report, not a zero change
    const double nan = std::numeric_limits<double>::quiet_NaN();
    c.welch.mean_a = c.welch.mean_b = c.welch.difference = c.welch.delta_pct = nan;
    c.welch.p_two_sided = c.welch.t = c.welch.df = nan;
    return c;
  }
  if (has_spread(sa->moments) && has_spread(sb->moments)) {
    c.testable = true;
    c.welch = welch_t_test(sa->moments, sb->moments, confidence);
    c.effect = effect_size(sa->moments, sb->moments);
  } else {
    c.welch.mean_a = sa->moments.mean;
    c.welch.mean_b = sb->moments.mean;
    c.welch.difference = c.welch.mean_a - c.welch.mean_b;
    c.welch.delta_pct = 100 * c.welch.difference / c.welch.mean_b;
    c.welch.p_two_sided = c.welch.t = c.welch.df = std::numeric_limits<double>::quiet_NaN();
  }
  const Sample *ga = a.find(metric::kGrossJPerToken), *gb = b.find(metric::kGrossJPerToken);
  const Sample *ta = a.find(metric::kSecondsPerToken), *tb = b.find(metric::kSecondsPerToken);
  if (ga && gb && ta && tb) {
    const Sample *na = a.find(metric::kNetJPerToken), *nb = b.find(metric::kNetJPerToken);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    try {
      c.split = energy_split(ga->moments.mean, na ? na->moments.mean : nan, ta->moments.mean,
                             gb->moments.mean, nb ? nb->moments.mean : nan, tb->moments.mean);
      c.has_split = true;
    } catch (const Error&) {
      c.has_split = false;  // non-positive net energy: no split rather than a wrong one
    }
  }
  return c;
}

const ConfigData* find_label(const std::vector<ConfigData>& cs, const std::string& label) {
  for (const auto& c : cs)
    if (c.label == label) return &c;
  return nullptr;
}

std::vector<Comparison> comparisons(const std::vector<ConfigData>& cs, const AnalyzeOptions& o) {
  std::vector<Comparison> out;
  if (const ConfigData* base = find_label(cs, o.baseline)) {
    for (const auto& c : cs)
      if (&c != base) out.push_back(compare_pair(c, *base, o.metric, o.confidence));
  } else {
    const bool known = std::any_of(cs.begin(), cs.end(),
                                   [&](const ConfigData& c) { return c.format == o.baseline; });
    if (!known && !cs.empty()) {
      std::set<std::string> formats;
      for (const auto& c : cs) formats.insert(c.format);
      fail(
          "--baseline '{}' is neither a format of this study ({}) nor a configuration label "
          "(as printed in the table, e.g. '{}')",
          o.baseline, fmt::join(formats, ", "), cs.front().label);
    }
    for (const auto& c : cs) {
      if (c.format == o.baseline) continue;
      for (const auto& b : cs)
        if (b.format == o.baseline && b.without("format") == c.without("format")) {
          out.push_back(compare_pair(c, b, o.metric, o.confidence));
          break;
        }
    }
  }
  std::vector<double> ps;
  for (const auto& c : out) ps.push_back(c.testable ? c.welch.p_two_sided : NAN);
  const std::vector<double> adj = holm_adjust(ps);
  for (size_t i = 0; i < out.size(); ++i) out[i].p_holm = adj[i];
  return out;
}

void add_batch_law(const std::vector<const ConfigData*>& series, const char* m, double threshold,
                   std::vector<BatchLaw>& out) {
  std::vector<double> b, e;
  std::set<int> sizes;
  for (const ConfigData* c : series) {
    const Sample* s = c->find(m);
    if (!s) continue;
    sizes.insert(c->batch);
    if (!s->runs.empty()) {
      for (double v : s->runs)
        if (v > 0) b.push_back(c->batch), e.push_back(v);
    } else if (s->moments.mean > 0) {
      b.push_back(c->batch), e.push_back(s->moments.mean);
    }
  }
  if (sizes.size() < 2) return;
  BatchLaw law;
  law.series = series.front()->describe_without("batch");
  law.metric = m;
  law.fit = fit_power_law(b, e);
  law.threshold = threshold;
  law.returns = diminishing_returns(law.fit, threshold);
  law.batches.assign(sizes.begin(), sizes.end());
  out.push_back(std::move(law));
}

std::vector<BatchLaw> batch_laws(const std::vector<ConfigData>& cs, double threshold) {
  std::map<std::string, std::vector<const ConfigData*>> groups;
  for (const auto& c : cs) groups[c.without("batch")].push_back(&c);
  std::vector<BatchLaw> out;
  for (const auto& [key, g] : groups) {
    add_batch_law(g, metric::kJPerRequest, threshold, out);
    add_batch_law(g, metric::kJPerToken, threshold, out);
  }
  return out;
}

std::vector<CrossoverResult> crossovers(const std::vector<ConfigData>& cs, const std::string& base,
                                        const std::string& m) {
  // A series: same GPU, format, batch and lengths, several model sizes, each with a baseline.
  std::map<std::string, std::vector<std::pair<const ConfigData*, const ConfigData*>>> series;
  for (const auto& c : cs) {
    if (c.format == base || !std::isfinite(c.params_b) || !c.find(m)) continue;
    for (const auto& b : cs)
      if (b.format == base && b.without("format") == c.without("format") && b.find(m)) {
        series[c.without("model")].push_back({&c, &b});
        break;
      }
  }
  std::vector<CrossoverResult> out;
  for (const auto& [key, pairs] : series) {
    std::set<double> sizes;
    std::vector<SizePoint> pts;
    CrossoverResult r;
    for (const auto& [c, b] : pairs) {
      // A ratio of energies needs both positive: a net energy at or below zero (a workload
      // lost in idle noise) has no place on the series.
      if (!(c->find(m)->moments.mean > 0 && b->find(m)->moments.mean > 0)) continue;
      if (!sizes.insert(c->params_b).second) continue;  // one model per size
      pts.push_back({c->params_b, c->find(m)->moments, b->find(m)->moments});
      r.models.push_back(c->model);
    }
    if (pts.size() < 2) continue;
    r.series = pairs.front().first->describe_without("model");
    r.format = pairs.front().first->format;
    r.baseline_format = base;
    r.crossover = find_crossover(pts);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<ParetoGroup> pareto(const std::vector<ConfigData>& cs, const std::string& m) {
  std::map<std::string, ParetoGroup> groups;
  for (const auto& c : cs)
    if (std::isfinite(c.kld) && c.find(m)) {
      auto& g = groups[c.without("format")];
      g.group = c.describe_without("format");
      g.points.push_back(&c);
    }
  std::vector<ParetoGroup> out;
  for (auto& [key, g] : groups) {
    if (g.points.size() < 2) continue;  // a front needs something to be compared with
    std::vector<double> e, l;
    for (const ConfigData* c : g.points) e.push_back(c->find(m)->moments.mean), l.push_back(c->kld);
    for (size_t i : pareto_front(e, l)) g.front.push_back(g.points[i]);
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace

StudyAnalysis analyze_study(const std::vector<ConfigData>& cs, const AnalyzeOptions& o) {
  StudyAnalysis a;
  a.comparisons = comparisons(cs, o);
  a.batch_laws = batch_laws(cs, o.returns_threshold);
  if (!find_label(cs, o.baseline)) a.crossovers = crossovers(cs, o.baseline, o.metric);
  a.pareto = pareto(cs, o.metric);
  return a;
}

StudyComparison compare_studies(const std::vector<ConfigData>& baseline,
                                const std::vector<ConfigData>& candidate, const std::string& m,
                                double max_regression_pct, double alpha) {
  if (std::find(comparable_metrics().begin(), comparable_metrics().end(), m) ==
      comparable_metrics().end())
    fail("--metric '{}' is not one of: {}", m, fmt::join(comparable_metrics(), ", "));
  if (!(alpha > 0 && alpha < 1)) fail("--alpha must be in (0, 1) (got {})", alpha);
  if (!(max_regression_pct >= 0))
    fail("--max-regression must be >= 0 % (got {})", max_regression_pct);
  StudyComparison out;
  std::map<std::string, const ConfigData*> base;
  for (const auto& b : baseline) base[b.key()] = &b;
  std::set<std::string> matched;
  const double sign = higher_is_worse(m) ? 1 : -1;
  for (const auto& c : candidate) {
    const auto it = base.find(c.key());
    if (it == base.end()) {
      out.only_candidate.push_back(&c);
      continue;
    }
    matched.insert(c.key());
    const Sample *sb = it->second->find(m), *sc = c.find(m);
    if (!sb || !sc)
      fail("configuration {} has no '{}' values in {}: choose another --metric", c.label, m,
           sb ? "the candidate" : "the baseline");
    StudyChange ch;
    ch.baseline = it->second;
    ch.candidate = &c;
    ch.testable = has_spread(sb->moments) && has_spread(sc->moments);
    if (!ch.testable)
      fail("configuration {} has fewer than two runs in {}: a change cannot be tested", c.label,
           has_spread(sb->moments) ? "the candidate" : "the baseline");
    ch.welch = welch_t_test(sc->moments, sb->moments, 1 - alpha);
    ch.significant = ch.welch.p_two_sided < alpha;
    ch.regression = ch.significant && sign * ch.welch.delta_pct > max_regression_pct;
    ch.improvement = ch.significant && sign * ch.welch.delta_pct < 0;
    out.any_regression = out.any_regression || ch.regression;
    out.changes.push_back(ch);
  }
  for (const auto& b : baseline)
    if (!matched.count(b.key())) out.only_baseline.push_back(&b);
  return out;
}

}  // namespace eco::analysis
