#include "bench/eta.h"

#include <algorithm>

namespace eco::bench {

std::optional<double> expected_config_seconds(const std::vector<ConfigTime>& done,
                                              const ConfigKey& next) {
  using Match = bool (*)(const ConfigKey&, const ConfigKey&);
  const Match groups[] = {
      [](const ConfigKey& a, const ConfigKey& b) {
        return a.model == b.model && a.format == b.format && a.batch == b.batch;
      },
      [](const ConfigKey& a, const ConfigKey& b) {
        return a.model != b.model && a.format == b.format && a.batch == b.batch;
      },
      [](const ConfigKey& a, const ConfigKey& b) {
        return a.model == b.model && a.format == b.format;
      },
      [](const ConfigKey& a, const ConfigKey& b) {
        return a.model != b.model && a.format == b.format;
      },
      [](const ConfigKey& a, const ConfigKey& b) { return a.model == b.model; },
      [](const ConfigKey&, const ConfigKey&) { return true; },
  };
  for (Match same : groups) {
    double sum = 0;
    int n = 0;
    for (const ConfigTime& t : done)
      if (same(t.key, next)) sum += t.seconds, ++n;
    if (n > 0) return sum / n;
  }
  return std::nullopt;
}

EtaEstimator::EtaEstimator(std::vector<Item> configs, std::vector<int64_t> model_params)
    : configs_(std::move(configs)),
      params_(std::move(model_params)),
      took_(configs_.size(), -1.0),
      load_(params_.size(), -1.0) {}

void EtaEstimator::model_loaded(size_t model, double seconds) {
  if (model < load_.size()) load_[model] = seconds;
}

void EtaEstimator::finished(size_t config, double seconds) {
  if (config < took_.size()) took_[config] = seconds;
}

double EtaEstimator::expected(const Item& item) const {
  auto key = [](const Item& i) { return ConfigKey{std::to_string(i.model), i.format, i.batch}; };
  std::vector<ConfigTime> done;
  for (size_t i = 0; i < configs_.size(); ++i)
    if (took_[i] >= 0) done.push_back({key(configs_[i]), took_[i]});
  return expected_config_seconds(done, key(item)).value_or(0);
}

std::optional<double> EtaEstimator::seconds_left() const {
  if (std::none_of(took_.begin(), took_.end(), [](double t) { return t >= 0; })) return {};
  double left = 0;
  std::vector<bool> model_pending(load_.size(), false);
  for (size_t i = 0; i < configs_.size(); ++i) {
    if (took_[i] >= 0) continue;
    left += expected(configs_[i]);
    if (configs_[i].model < load_.size() && load_[configs_[i].model] < 0)
      model_pending[configs_[i].model] = true;
  }
  double load_sum = 0;
  int loads = 0;
  for (double l : load_)
    if (l >= 0) load_sum += l, ++loads;
  // A load reads the model's weights (and quantizes them): it scales with the model's size.
  double params_loaded = 0;
  for (size_t m = 0; m < load_.size(); ++m)
    if (load_[m] >= 0) params_loaded += double(params_[m]);
  for (size_t m = 0; m < model_pending.size(); ++m) {
    if (!model_pending[m] || loads == 0) continue;
    left += params_[m] > 0 && params_loaded > 0 ? load_sum * double(params_[m]) / params_loaded
                                                : load_sum / loads;
  }
  return left;
}

}  // namespace eco::bench
