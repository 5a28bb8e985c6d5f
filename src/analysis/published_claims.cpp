// The study's claims checked against its own table (see published.h).
#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "analysis/csv.h"
#include "analysis/published.h"
#include "common/error.h"

namespace eco::analysis {

namespace {

Printed parse_claimed(std::string_view cell, const CsvCursor& at, std::string_view column) {
  Printed p;
  double v = 0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (cell.empty() || ec != std::errc() || end != cell.data() + cell.size())
    fail("{} line {}: column '{}' must be a number (got '{}')", at.name, at.line, column, cell);
  const auto dot = cell.find('.');
  p.value = v;
  p.half_unit =
      0.5 * std::pow(10.0, -double(dot == std::string_view::npos ? 0 : cell.size() - dot - 1));
  return p;
}

struct Selector {
  std::vector<std::pair<std::string, std::string>> terms;
  bool names(std::string_view key) const {
    return std::any_of(terms.begin(), terms.end(), [&](const auto& t) { return t.first == key; });
  }
};

Selector parse_selector(std::string_view spec, const CsvCursor& at) {
  Selector s;
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t end = spec.find(';', pos);
    if (end == std::string_view::npos) end = spec.size();
    const std::string_view term = spec.substr(pos, end - pos);
    const size_t eq = term.find('=');
    if (eq == std::string_view::npos)
      fail("{} line {}: selector term '{}' is not key=value", at.name, at.line, term);
    const std::string key(term.substr(0, eq));
    if (key != "gpu" && key != "model" && key != "format" && key != "threshold" && key != "batch")
      fail("{} line {}: unknown selector key '{}' (use gpu, model, format, threshold, batch)",
           at.name, at.line, key);
    s.terms.emplace_back(key, std::string(term.substr(eq + 1)));
    pos = end + 1;
  }
  return s;
}

bool matches(const PublishedRow& r, const Selector& s) {
  for (const auto& [key, value] : s.terms) {
    if (key == "gpu" && r.gpu != value) return false;
    if (key == "model" && r.model != value) return false;
    if (key == "format" && r.format != value) return false;
    if (key == "threshold" && !(r.int8_threshold == std::stod(value))) return false;
    if (key == "batch" && r.batch != std::stoi(value)) return false;
  }
  return true;
}

// Same identity apart from the fields the two selectors vary.
bool paired(const PublishedRow& a, const PublishedRow& b, const Selector& n, const Selector& d) {
  const auto free = [&](std::string_view k) { return n.names(k) || d.names(k); };
  const bool format_free = free("format") || free("threshold");
  return (free("gpu") || a.gpu == b.gpu) && (free("model") || a.model == b.model) &&
         (format_free || a.format_label() == b.format_label()) &&
         (free("batch") || a.batch == b.batch) && a.new_tokens == b.new_tokens;
}

const Printed& metric_of(const PublishedRow& r, const std::string& metric) {
  if (metric == "throughput") return r.throughput;
  if (metric == "power") return r.power;
  return r.energy_per_1k;
}

std::string fmt_change(double v, const std::string& unit) {
  return unit == "x" ? fmt::format("{:.3g}x", v) : fmt::format("{:+.1f} %", v);
}

std::string judge(ClaimCheck& c) {
  const PublishedClaim& cl = *c.claim;
  std::vector<double> values;
  double tol_sum = 0, tol_max = 0;
  for (const auto& p : c.pairs) {
    values.push_back(p.change);
    tol_sum += p.tolerance;
    tol_max = std::max(tol_max, p.tolerance);
  }
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  std::string list;
  for (const auto& p : c.pairs)
    list += fmt::format("{}{} {}", list.empty() ? "" : ", ", p.numerator->model,
                        fmt_change(p.change, cl.unit));
  const auto near = [](double computed, const Printed& claimed, double tol) {
    return std::fabs(computed - claimed.value) <= tol + claimed.half_unit;
  };
  if (cl.aggregate == "mean") {
    double sum = 0;
    for (double v : values) sum += v;
    c.computed_low = c.computed_high = sum / double(values.size());
    c.consistent = near(c.computed_low, cl.claimed_low, tol_sum / double(values.size()));
    return fmt::format("mean {} over {} pairs ({})", fmt_change(c.computed_low, cl.unit),
                       values.size(), list);
  }
  c.computed_low = *lo;
  c.computed_high = *hi;
  if (cl.aggregate == "range") {
    c.consistent = near(*lo, cl.claimed_low, tol_max) && near(*hi, cl.claimed_high, tol_max);
    return fmt::format("range {} to {} over {} pairs ({})", fmt_change(*lo, cl.unit),
                       fmt_change(*hi, cl.unit), values.size(), list);
  }
  c.consistent = std::all_of(c.pairs.begin(), c.pairs.end(), [&](const PairChange& p) {
    return near(p.change, cl.claimed_low, p.tolerance);
  });
  return list;
}

}  // namespace

std::vector<PublishedClaim> parse_claims_csv(std::string_view text, std::string_view name) {
  CsvReader csv(text, name,
                {"id", "statement", "source", "metric", "where", "numerator", "denominator",
                 "aggregate", "unit", "claimed_low", "claimed_high"});
  std::vector<PublishedClaim> out;
  while (auto r = csv.next()) {
    const CsvCursor& at = csv.cursor();
    PublishedClaim c;
    c.line = at.line;
    c.id = r->get("id");
    c.statement = r->get("statement");
    c.source = r->get("source");
    c.metric = r->get("metric");
    if (c.metric != "energy" && c.metric != "throughput" && c.metric != "power")
      fail("{} line {}: metric must be energy, throughput or power (got '{}')", name, at.line,
           c.metric);
    c.where = r->get("where");
    c.numerator = r->get("numerator");
    c.denominator = r->get("denominator");
    parse_selector(c.where, at), parse_selector(c.numerator, at), parse_selector(c.denominator, at);
    c.aggregate = r->get("aggregate");
    if (c.aggregate != "each" && c.aggregate != "mean" && c.aggregate != "range")
      fail("{} line {}: aggregate must be each, mean or range (got '{}')", name, at.line,
           c.aggregate);
    c.unit = r->get("unit");
    if (c.unit != "%" && c.unit != "x")
      fail("{} line {}: unit must be % or x (got '{}')", name, at.line, c.unit);
    c.claimed_low = parse_claimed(r->get("claimed_low"), at, "claimed_low");
    c.claimed_high = parse_claimed(r->get("claimed_high"), at, "claimed_high");
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ClaimCheck> check_claims(const std::vector<PublishedRow>& rows,
                                     const std::vector<PublishedClaim>& claims) {
  std::vector<ClaimCheck> out;
  for (const auto& cl : claims) {
    const CsvCursor at{"claims", cl.line};
    const Selector where = parse_selector(cl.where, at), num = parse_selector(cl.numerator, at),
                   den = parse_selector(cl.denominator, at);
    ClaimCheck c;
    c.claim = &cl;
    for (const auto& a : rows) {
      if (!matches(a, where) || !matches(a, num)) continue;
      const PublishedRow* match = nullptr;
      for (const auto& b : rows)
        if (&b != &a && matches(b, where) && matches(b, den) && paired(a, b, num, den))
          match = match ? nullptr : &b;  // two candidates: ambiguous, no pair
      if (!match) continue;
      const Printed &x = metric_of(a, cl.metric), &y = metric_of(*match, cl.metric);
      const double ratio = x.value / y.value;
      const double rel = x.half_unit / x.value + y.half_unit / y.value;
      const double scale = cl.unit == "x" ? 1.0 : 100.0;
      c.pairs.push_back(
          {&a, match, cl.unit == "x" ? ratio : 100 * (ratio - 1), scale * ratio * rel});
    }
    if (c.pairs.empty()) {
      c.message = "no pair of rows matches the claim's selections: it cannot be checked";
    } else {
      const std::string computed = judge(c);
      c.message = fmt::format(
          "{}: claimed {}; the table gives {}", c.consistent ? "consistent" : "INCONSISTENT",
          cl.aggregate == "range" ? fmt_change(cl.claimed_low.value, cl.unit) + " to " +
                                        fmt_change(cl.claimed_high.value, cl.unit)
                                  : fmt_change(cl.claimed_low.value, cl.unit),
          computed);
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace eco::analysis
