#pragma once
// The time budget of one `study run` call: the call stops before a step that the study expects
// to end past the deadline, so that a device call's limit never cuts a configuration in half.
// Expectations come from what this call has measured: a configuration by the sweep's ETA rule
// (bench::expected_config_seconds: same model, format and batch, else the same format and batch
// on other models, ...); a model's start and its quality the same model's mean, else scaled by
// parameter count. Until something has been measured, a step is expected to fit (a fresh call
// starts far from its deadline).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/eta.h"

namespace eco::study {

class Budget {
 public:
  enum class Kind { ModelStart, Quality };  // ModelStart: idle baseline, load, build

  // budget_s <= 0: unlimited. reserve_s: kept free at the end (final idle re-check, outputs).
  Budget(double budget_s, double reserve_s, std::function<double()> clock);

  double now() const { return clock_(); }
  bool unlimited() const { return budget_s_ <= 0; }
  double left() const;  // seconds to the deadline (reserve excluded)

  void took(Kind kind, const std::string& model, int64_t params, double seconds);
  std::optional<double> expected(Kind kind, const std::string& model, int64_t params) const;
  void took_config(const bench::ConfigKey& config, double seconds);
  std::optional<double> expected_config(const bench::ConfigKey& config) const;
  // Whether a step expected to take `seconds` (nullopt: unknown) ends before the deadline.
  bool fits(std::optional<double> seconds) const;

 private:
  struct Step {
    Kind kind;
    std::string model;
    int64_t params;
    double seconds;
  };
  double budget_s_, reserve_s_, start_;
  std::function<double()> clock_;
  std::vector<Step> steps_;
  std::vector<bench::ConfigTime> configs_;
};

// "8m", "90s", "1h30m", "500" (seconds), "2.5m"; throws eco::Error naming `option`.
double parse_duration(const std::string& text, const std::string& option);

}  // namespace eco::study
