#include "study/budget.h"

#include <cmath>
#include <cstdlib>

#include "common/error.h"

namespace eco::study {

Budget::Budget(double budget_s, double reserve_s, std::function<double()> clock)
    : budget_s_(budget_s), reserve_s_(reserve_s), start_(clock()), clock_(std::move(clock)) {}

double Budget::left() const {
  if (unlimited()) return INFINITY;
  return start_ + budget_s_ - reserve_s_ - now();
}

void Budget::took(Kind kind, const std::string& model, int64_t params, double seconds) {
  steps_.push_back({kind, model, params, seconds});
}

void Budget::took_config(const bench::ConfigKey& config, double seconds) {
  configs_.push_back({config, seconds});
}

std::optional<double> Budget::expected_config(const bench::ConfigKey& config) const {
  return bench::expected_config_seconds(configs_, config);
}

std::optional<double> Budget::expected(Kind kind, const std::string& model, int64_t params) const {
  double same_model = 0, per_param = 0, all = 0;
  int n_model = 0, n_params = 0, n_all = 0;
  for (const Step& s : steps_) {
    if (s.kind != kind) continue;
    all += s.seconds, ++n_all;
    if (s.params > 0) per_param += s.seconds / double(s.params), ++n_params;
    if (s.model == model) same_model += s.seconds, ++n_model;
  }
  if (n_model > 0) return same_model / n_model;
  // A model's start (synthesis, load, quantization) and its quality scoring scale with its size.
  if (n_params > 0 && params > 0) return per_param / n_params * double(params);
  if (n_all > 0) return all / n_all;
  return std::nullopt;
}

bool Budget::fits(std::optional<double> seconds) const {
  if (unlimited() || !seconds) return true;
  return *seconds <= left();
}

double parse_duration(const std::string& text, const std::string& option) {
  auto bad = [&]() -> double {
    fail("{} '{}': give a duration such as 8m, 90s, 1h30m or a number of seconds", option, text);
  };
  if (text.empty()) return bad();
  double total = 0;
  const char* p = text.c_str();
  while (*p) {
    char* end = nullptr;
    const double v = std::strtod(p, &end);
    if (end == p || !std::isfinite(v) || v < 0) return bad();
    double unit = 1;
    if (*end == 'h')
      unit = 3600, ++end;
    else if (*end == 'm')
      unit = 60, ++end;
    else if (*end == 's')
      ++end;
    else if (*end != '\0')
      return bad();
    total += v * unit;
    p = end;
  }
  return total;
}

}  // namespace eco::study
