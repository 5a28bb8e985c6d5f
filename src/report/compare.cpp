#include "report/compare.h"

#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "analysis/compare.h"
#include "analysis/fit.h"
#include "analysis/stats.h"
#include "common/error.h"

namespace eco::report {

namespace {

using nlohmann::json;

json number(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

// A format's comparison against the fp16 configuration of its group; `note` says why a part is
// missing rather than leaving a blank that reads as "no difference".
json compare_pair(const ConfigSamples& a, const ConfigSamples& base) {
  json c{{"group", a.group},   {"baseline", base.key},        {"config", a.key},
         {"format", a.format}, {"n_a", a.j_per_token.size()}, {"n_b", base.j_per_token.size()}};
  std::string note;
  if (a.j_per_token.empty() || base.j_per_token.empty()) {
    c["note"] = "energy not measured";
    return c;
  }
  const double mean_a = analysis::mean(a.j_per_token), mean_b = analysis::mean(base.j_per_token);
  c["mean_a"] = number(mean_a);
  c["mean_b"] = number(mean_b);
  c["delta_pct"] = number(mean_b != 0 ? 100.0 * (mean_a - mean_b) / mean_b : NAN);
  if (a.j_per_token.size() >= 2 && base.j_per_token.size() >= 2) {
    const auto w = analysis::welch_t_test(a.j_per_token, base.j_per_token);
    c["diff_ci_low"] = number(w.ci_low);
    c["diff_ci_high"] = number(w.ci_high);
    c["p_value"] = number(w.p_two_sided);
    c["t"] = number(w.t);
    c["df"] = number(w.df);
  } else {
    note = "fewer than two runs: no test";
  }
  if (!a.run_energy_j.empty() && !base.run_energy_j.empty()) {
    try {
      const auto r = analysis::energy_ratio(
          analysis::mean(a.run_energy_j), analysis::mean(a.run_seconds),
          analysis::mean(base.run_energy_j), analysis::mean(base.run_seconds));
      c["energy_ratio"] = number(r.energy_ratio);
      c["time_ratio"] = number(r.time_ratio);
      c["power_ratio"] = number(r.power_ratio);
      c["time_share"] = number(r.time_share);
    } catch (const Error& e) {
      note += (note.empty() ? "" : "; ") + std::string("no time x power split: ") + e.what();
    }
  }
  if (!note.empty()) c["note"] = note;
  return c;
}

}  // namespace

json format_comparisons(const std::vector<ConfigSamples>& configs) {
  std::map<std::string, const ConfigSamples*> baseline;  // first fp16 of each group
  for (const auto& c : configs)
    if (c.format == "fp16" && !baseline.count(c.group)) baseline[c.group] = &c;
  json out = json::array();
  for (const auto& c : configs) {
    const auto it = baseline.find(c.group);
    if (it == baseline.end() || it->second == &c) continue;
    out.push_back(compare_pair(c, *it->second));
  }
  return out;
}

json batch_fits(const std::vector<ConfigSamples>& configs) {
  std::map<std::string, std::vector<const ConfigSamples*>> groups;
  for (const auto& c : configs) groups[c.fit_group].push_back(&c);
  json out = json::array();
  for (const auto& [group, members] : groups) {
    std::vector<double> batch, energy;
    std::set<int> sizes;
    json keys = json::array();
    for (const auto* c : members) {
      keys.push_back(c->key);
      for (double e : c->j_per_request) {
        batch.push_back(c->batch);
        energy.push_back(e);
        sizes.insert(c->batch);
      }
    }
    if (members.size() < 2) continue;  // one batch size: nothing to fit, nothing to show
    json f{{"fit_group", group},
           {"format", members.front()->format},
           {"configs", keys},
           {"n", batch.size()},
           {"metric", "j_per_request"}};
    if (sizes.size() < 2) {
      f["note"] = "fewer than two batch sizes with measured energy: no fit";
    } else {
      const auto fit = analysis::fit_power_law(batch, energy);
      f["a"] = number(fit.a);
      f["b"] = number(fit.b);
      f["b_ci_low"] = number(fit.b_ci_low);
      f["b_ci_high"] = number(fit.b_ci_high);
      f["r_squared"] = number(fit.r_squared);
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace eco::report
