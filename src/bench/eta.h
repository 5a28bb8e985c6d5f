#pragma once
// Time left in a sweep, from the configurations finished so far (expected_config_seconds gives
// each remaining one's time); a model not loaded yet adds the loads' time per parameter times
// its size. Time is given by the caller (a clock it owns), so tests drive it with their own.
// The study's budget (study/budget.h) expects configurations by the same rule.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eco::bench {

// A configuration, as far as its expected time goes, and the time a finished one took.
struct ConfigKey {
  std::string model, format;
  int batch = 1;
};
struct ConfigTime {
  ConfigKey key;
  double seconds = 0;
};

// What configuration `next` is expected to last: the mean over the first non-empty group of
// `done` among: the same model, format and batch; the same format and batch on other models;
// the same model and format; the same format on other models; the same model; all of them.
// Batch and format come before the model: the protocol's windows last seconds whatever the
// model's size (18-34 s at batch 1 from 1.1 B to 7.6 B on an H200), while a format whose gate
// fails runs a second round and a large batch can take several times as long (nf4 at batch 128:
// 81 s against 24-62 s at batch 1-64). nullopt when nothing has finished.
std::optional<double> expected_config_seconds(const std::vector<ConfigTime>& done,
                                              const ConfigKey& next);

class EtaEstimator {
 public:
  struct Item {
    size_t model = 0;
    std::string format;
    int batch = 1;
  };
  // `configs`: the configurations to measure, in order; `model_params`: parameter count per
  // model index (0 when unknown).
  EtaEstimator(std::vector<Item> configs, std::vector<int64_t> model_params);

  void model_loaded(size_t model, double seconds);
  void finished(size_t config, double seconds);  // index into `configs`
  // Seconds left; nullopt until a configuration has finished.
  std::optional<double> seconds_left() const;

 private:
  double expected(const Item& item) const;
  std::vector<Item> configs_;
  std::vector<int64_t> params_;
  std::vector<double> took_;  // per configuration; < 0 while not finished
  std::vector<double> load_;  // per model; < 0 while not loaded
};

}  // namespace eco::bench
