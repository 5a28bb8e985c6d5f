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
  double same_format = 0, same_model = 0, all = 0;
  int n_format = 0, n_model = 0, n_all = 0;
  double params_done = 0;
  for (size_t i = 0; i < configs_.size(); ++i) {
    if (took_[i] < 0) continue;
    const Item& done = configs_[i];
    all += took_[i], ++n_all;
    params_done += done.model < params_.size() ? double(params_[done.model]) : 0;
    if (done.model != item.model) continue;
    same_model += took_[i], ++n_model;
    if (done.format == item.format) same_format += took_[i], ++n_format;
  }
  if (n_format > 0) return same_format / n_format;
  if (n_model > 0) return same_model / n_model;
  // Another model: its work scales with its size (most of a configuration's time is its runs).
  const double mine = item.model < params_.size() ? double(params_[item.model]) : 0;
  if (mine > 0 && params_done > 0) return all / n_all * (mine / (params_done / n_all));
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
  for (size_t m = 0; m < model_pending.size(); ++m)
    if (model_pending[m] && loads > 0) left += load_sum / loads;
  return left;
}

}  // namespace eco::bench
