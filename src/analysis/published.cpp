#include "analysis/published.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "analysis/compare.h"
#include "analysis/csv.h"
#include "common/error.h"

namespace eco::analysis {

namespace {

Printed parse_printed(std::string_view cell, const CsvCursor& at, std::string_view column) {
  Printed p;
  if (cell.empty()) return p;
  double v = 0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || end != cell.data() + cell.size() || !std::isfinite(v))
    fail("{} line {}: column '{}' is not a number ('{}'); fix the cell or leave it empty", at.name,
         at.line, column, cell);
  const auto dot = cell.find('.');
  const size_t decimals = dot == std::string_view::npos ? 0 : cell.size() - dot - 1;
  p.value = v;
  p.half_unit = 0.5 * std::pow(10.0, -double(decimals));
  return p;
}

int parse_count(std::string_view cell, const CsvCursor& at, std::string_view column) {
  int v = 0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (cell.empty() || ec != std::errc() || end != cell.data() + cell.size() || v <= 0)
    fail("{} line {}: column '{}' must be a positive whole number (got '{}')", at.name, at.line,
         column, cell);
  return v;
}

double required(const Printed& p, const CsvCursor& at, std::string_view column) {
  if (!p.known() || !(p.value > 0))
    fail("{} line {}: column '{}' must be a positive number", at.name, at.line, column);
  return p.value;
}

PublishedRow read_row(const CsvRecord& r, const CsvCursor& at) {
  PublishedRow row;
  row.line = at.line;
  row.gpu = r.get("gpu");
  row.architecture = r.get_or("architecture", "");
  row.model = r.get("model");
  row.format = r.get("format");
  if (row.gpu.empty() || row.model.empty() || row.format.empty())
    fail("{} line {}: gpu, model and format must not be empty", at.name, at.line);
  row.params_b = required(parse_printed(r.get("params_b"), at, "params_b"), at, "params_b");
  row.int8_threshold =
      parse_printed(r.get_or("llm_int8_threshold", ""), at, "llm_int8_threshold").value;
  row.batch = parse_count(r.get("batch_size"), at, "batch_size");
  row.new_tokens = parse_count(r.get("new_tokens"), at, "new_tokens");
  row.n_runs = parse_count(r.get("n_runs"), at, "n_runs");
  row.throughput = parse_printed(r.get("throughput_tok_s"), at, "throughput_tok_s");
  required(row.throughput, at, "throughput_tok_s");
  row.throughput_sd = parse_printed(r.get_or("throughput_sd", ""), at, "throughput_sd");
  row.power = parse_printed(r.get("power_w"), at, "power_w");
  required(row.power, at, "power_w");
  row.power_sd = parse_printed(r.get_or("power_sd", ""), at, "power_sd");
  row.energy_per_1k = parse_printed(r.get("energy_j_per_1k_tok"), at, "energy_j_per_1k_tok");
  required(row.energy_per_1k, at, "energy_j_per_1k_tok");
  row.energy_sd = parse_printed(r.get_or("energy_sd", ""), at, "energy_sd");
  const std::string idle = r.get("idle_subtracted");
  if (idle != "yes" && idle != "no")
    fail("{} line {}: idle_subtracted must be 'yes' or 'no' (got '{}')", at.name, at.line, idle);
  row.idle_subtracted = idle == "yes";
  row.idle_w = parse_printed(r.get_or("idle_w", ""), at, "idle_w");
  row.source = r.get_or("source", "");
  row.notes = r.get_or("notes", "");
  return row;
}

}  // namespace

std::string PublishedRow::format_label() const {
  if (std::isnan(int8_threshold)) return format;
  return fmt::format("{}(t={:g})", format, int8_threshold);
}

std::string PublishedRow::label() const {
  return fmt::format("{} / {} / {} / bs {} / {} new tokens", gpu, model, format_label(), batch,
                     new_tokens);
}

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::Note:
      return "note";
    case Severity::Minor:
      return "minor";
    case Severity::Major:
      return "major";
  }
  return "?";
}

std::vector<PublishedRow> parse_published_csv(std::string_view text, std::string_view name) {
  CsvReader csv(text, name,
                {"gpu", "model", "params_b", "format", "batch_size", "new_tokens", "n_runs",
                 "throughput_tok_s", "power_w", "energy_j_per_1k_tok", "idle_subtracted"});
  std::vector<PublishedRow> rows;
  while (auto rec = csv.next()) rows.push_back(read_row(*rec, csv.cursor()));
  if (rows.empty()) fail("{}: no data rows after the header", name);
  return rows;
}

namespace {

double cv_of(const Printed& sd, const Printed& mean) {
  return sd.known() && mean.known() && mean.value > 0 ? sd.value / mean.value : 0.0;
}

// [low, high] of 1000 x (power - idle) / throughput over every value the printed digits allow.
std::pair<double, double> energy_bounds(const PublishedRow& r, bool subtract_idle) {
  const double i = subtract_idle ? r.idle_w.value : 0, hi = subtract_idle ? r.idle_w.half_unit : 0;
  const double p = r.power.value, hp = r.power.half_unit;
  const double t = r.throughput.value, ht = r.throughput.half_unit;
  return {1000 * (p - hp - (i + hi)) / (t + ht), 1000 * (p + hp - (i - hi)) / (t - ht)};
}

std::optional<Finding> check_energy(const PublishedRow& r) {
  if (r.idle_subtracted && !r.idle_w.known())
    return Finding{r.line, "energy-vs-power", Severity::Note,
                   fmt::format("{}: idle subtracted but no idle power published; J/1k tokens "
                               "cannot be checked against power / throughput",
                               r.label())};
  const double ct = cv_of(r.throughput_sd, r.throughput), cp = cv_of(r.power_sd, r.power);
  const double averaging = ct * ct + cp * ct;  // mean of per-run ratios vs ratio of means
  auto [lo, hi] = energy_bounds(r, r.idle_subtracted);
  lo *= 1 - averaging;
  hi *= 1 + averaging;
  const double e = r.energy_per_1k.value, he = r.energy_per_1k.half_unit;
  if (e + he >= lo && e - he <= hi) return std::nullopt;
  const double idle = r.idle_subtracted ? r.idle_w.value : 0;
  const double expected = 1000 * (r.power.value - idle) / r.throughput.value;
  const double dev = e / expected - 1;
  const double allowed = (hi - lo) / 2 / expected + he / e;
  std::string other;
  if (r.idle_w.known() || !r.idle_subtracted) {
    const auto [olo, ohi] = energy_bounds(r, !r.idle_subtracted && r.idle_w.known());
    if (!r.idle_subtracted && r.idle_w.known() && e + he >= olo && e - he <= ohi)
      other = "; it fits power minus the published idle power, so idle was probably subtracted";
    else if (r.idle_subtracted &&
             e + he >= 1000 * (r.power.value - r.power.half_unit) /
                           (r.throughput.value + r.throughput.half_unit) &&
             e - he <= 1000 * (r.power.value + r.power.half_unit) /
                           (r.throughput.value - r.throughput.half_unit))
      other = "; it fits gross power, so idle was probably not subtracted";
  }
  const std::string formula =
      r.idle_subtracted ? fmt::format("1000 x ({} W - {} W idle) / {} tok/s", r.power.value,
                                      r.idle_w.value, r.throughput.value)
                        : fmt::format("1000 x {} W / {} tok/s", r.power.value, r.throughput.value);
  return Finding{r.line, "energy-vs-power",
                 std::fabs(dev) < 0.01 ? Severity::Minor : Severity::Major,
                 fmt::format("{}: {} J/1k tokens published, {} = {:.0f} J/1k tokens ({:+.2f} %), "
                             "beyond the {:.2f} % that rounding and run-to-run averaging allow{}",
                             r.label(), e, formula, expected, 100 * dev, 100 * allowed, other)};
}

void check_cv(const PublishedRow& r, double gate, std::vector<Finding>& out) {
  const struct {
    const char* what;
    const Printed& sd;
    const Printed& mean;
  } items[] = {{"throughput", r.throughput_sd, r.throughput},
               {"power", r.power_sd, r.power},
               {"energy", r.energy_sd, r.energy_per_1k}};
  for (const auto& it : items) {
    const double cv = cv_of(it.sd, it.mean);
    if (cv > gate)
      out.push_back(
          {r.line, "cv-above-gate", Severity::Minor,
           fmt::format("{}: {} CV {:.2f} % (sd {} / mean {}) is above the {:.1f} % CV gate",
                       r.label(), it.what, 100 * cv, it.sd.value, it.mean.value, 100 * gate)});
  }
}

void check_size_order(const std::vector<PublishedRow>& rows, std::vector<Finding>& out) {
  for (const auto& big : rows)
    for (const auto& small : rows) {
      if (big.gpu != small.gpu || big.format_label() != small.format_label() ||
          big.batch != small.batch || big.new_tokens != small.new_tokens ||
          !(big.params_b > small.params_b) || !(big.throughput.value > small.throughput.value))
        continue;
      const double gain = big.throughput.value / small.throughput.value - 1;
      std::string test = "no spread published, no test";
      bool significant = gain > 0.01;
      if (big.throughput_sd.known() && small.throughput_sd.known() && big.n_runs >= 2 &&
          small.n_runs >= 2) {
        const WelchResult w = welch_t_test(
            Moments{size_t(big.n_runs), big.throughput.value, big.throughput_sd.value},
            Moments{size_t(small.n_runs), small.throughput.value, small.throughput_sd.value});
        significant = w.p_two_sided < 0.01;
        test = fmt::format("Welch p = {:.2g}", w.p_two_sided);
      }
      if (!significant) continue;
      out.push_back(
          {big.line, "throughput-vs-size", Severity::Minor,
           fmt::format("{}: {} ({:g} B) runs at {} tok/s, {:+.1f} % faster than {} "
                       "({:g} B) at {} tok/s on the same GPU, format and batch ({}); "
                       "memory-bound decode reads every weight once per step, so the "
                       "larger model should be slower unless decode was bound by "
                       "kernel launches (then layer count, not size, sets the pace): "
                       "check which model and settings were run",
                       big.label(), big.model, big.params_b, big.throughput.value, 100 * gain,
                       small.model, small.params_b, small.throughput.value, test)});
    }
}

}  // namespace

std::vector<Finding> check_published(const std::vector<PublishedRow>& rows, double cv_gate) {
  std::vector<Finding> out;
  for (const auto& r : rows) {
    if (auto f = check_energy(r)) out.push_back(std::move(*f));
    check_cv(r, cv_gate, out);
  }
  check_size_order(rows, out);
  std::stable_sort(out.begin(), out.end(),
                   [](const Finding& a, const Finding& b) { return a.line < b.line; });
  return out;
}

}  // namespace eco::analysis
