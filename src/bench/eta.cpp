#include "bench/eta.h"

#include <algorithm>

namespace eco::bench {

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
  double same_format = 0, same_model = 0, format_elsewhere = 0, all = 0;
  int n_format = 0, n_model = 0, n_elsewhere = 0, n_all = 0;
  for (size_t i = 0; i < configs_.size(); ++i) {
    if (took_[i] < 0) continue;
    const Item& done = configs_[i];
    all += took_[i], ++n_all;
    if (done.model != item.model) {
      if (done.format == item.format) format_elsewhere += took_[i], ++n_elsewhere;
      continue;
    }
    same_model += took_[i], ++n_model;
    if (done.format == item.format) same_format += took_[i], ++n_format;
  }
  if (n_format > 0) return same_format / n_format;
  // The protocol's windows have lengths in seconds, so a configuration lasts about as long
  // whatever the model's size (18-34 s at batch 1 from 1.1 B to 7.6 B on an H200,
  // docs/BENCHMARKS.md), and the format decides most of the rest (a format whose gate fails
  // runs a second round): its time on the other models, else this model's, else any.
  if (n_elsewhere > 0) return format_elsewhere / n_elsewhere;
  if (n_model > 0) return same_model / n_model;
  return all / n_all;
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
