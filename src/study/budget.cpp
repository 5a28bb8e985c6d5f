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

void Budget::took(Kind kind, const std::string& model, const std::string& format, int64_t params,
                  double seconds) {
  steps_.push_back({kind, model, format, params, seconds});
}

std::optional<double> Budget::expected(Kind kind, const std::string& model,
                                       const std::string& format, int64_t params) const {
  double same_format = 0, same_model = 0, format_elsewhere = 0, per_param = 0, all = 0;
  int n_format = 0, n_model = 0, n_elsewhere = 0, n_params = 0, n_all = 0;
  for (const Step& s : steps_) {
    if (s.kind != kind) continue;
    all += s.seconds, ++n_all;
    if (s.params > 0) per_param += s.seconds / double(s.params), ++n_params;
    if (s.model != model) {
      if (s.format == format) format_elsewhere += s.seconds, ++n_elsewhere;
      continue;
    }
    same_model += s.seconds, ++n_model;
    if (s.format == format) same_format += s.seconds, ++n_format;
  }
  if (n_format > 0) return same_format / n_format;
  if (kind == Kind::Config && n_elsewhere > 0) {
    // A configuration lasts what the protocol's windows and rounds last, hardly longer for a
    // larger model (18-34 s at batch 1 from 1.1 B to 7.6 B on an H200), and depends most on
    // the format (a format whose gate fails runs a second round): the same format's mean over
    // the other models.
    return format_elsewhere / n_elsewhere;
  }
  if (n_model > 0) return same_model / n_model;
  if (kind == Kind::Config && n_all > 0) return all / n_all;
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
