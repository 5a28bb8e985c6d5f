#pragma once
// The comparisons the dashboard shows, computed from the measured runs of each configuration:
// within a group of configurations that differ only in weight format, each format against fp16
// (Welch's t-test on J/token, the energy ratio split into time x power); per model and format,
// the power law of J/request against batch size.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace eco::report {

// The measured runs (last round, warm-ups excluded) of one configuration.
struct ConfigSamples {
  std::string key;        // "DB:ID"
  std::string group;      // same model, batch, lengths, device and GPU: formats compare here
  std::string fit_group;  // same model, format, lengths, device and GPU: batch sizes fit here
  std::string format;
  int batch = 1;
  std::vector<double> j_per_token;    // the stored J/token (net of idle where measured)
  std::vector<double> run_energy_j;   // J/token x generated tokens: the energy of one run
  std::vector<double> run_seconds;    // the run's duration, paired with run_energy_j
  std::vector<double> j_per_request;  // positive values only
};

// [{group, baseline, config, format, n_a, n_b, mean_a, mean_b, delta_pct, diff_ci_low,
//   diff_ci_high, p_value, energy_ratio, time_ratio, power_ratio, time_share, note}]
nlohmann::json format_comparisons(const std::vector<ConfigSamples>& configs);

// [{fit_group, format, configs, n, a, b, b_ci_low, b_ci_high, r_squared, note}]
nlohmann::json batch_fits(const std::vector<ConfigSamples>& configs);

}  // namespace eco::report
