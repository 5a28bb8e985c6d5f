#pragma once
// Time left in a sweep, from the configurations finished so far. A remaining configuration is
// expected to take the mean time of the finished ones of its model and format, else of its
// format on the other models (the protocol's windows last seconds whatever the model's size,
// and the format decides the rest), else of its model; a model not loaded yet adds the loads' time
// per parameter times its size. Time is given by the caller (a clock it owns), so tests drive
// it with their own.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eco::bench {

class EtaEstimator {
 public:
  struct Item {
    size_t model = 0;
    std::string format;
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
