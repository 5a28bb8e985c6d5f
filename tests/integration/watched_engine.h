#pragma once
// An engine for in-process protocol tests: forwards to a real one and runs a hook first on every
// call that does work, so a test can steer the sensor, throw, or give a phase a known length.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace eco::bench {

// Forwards to a CPU engine; `before(call)` runs first on every call that does work (and may
// throw or steer the sensor).
class WatchedEngine final : public engine::Engine {
 public:
  WatchedEngine(std::unique_ptr<engine::Engine> inner, std::function<void(const char*)> before)
      : inner_(std::move(inner)), before_(std::move(before)) {}
  const model::ModelConfig& config() const override { return inner_->config(); }
  const engine::EngineOptions& options() const override { return inner_->options(); }
  std::string describe() const override { return "watched " + inner_->describe(); }
  void prefill(const std::vector<std::vector<int32_t>>& p, bool all) override {
    before_("prefill");
    inner_->prefill(p, all);
  }
  void decode(const std::vector<int32_t>& t) override {
    before_("decode");
    inner_->decode(t);
  }
  std::vector<int32_t> argmax() override { return inner_->argmax(); }
  std::vector<std::vector<int32_t>> decode_greedy(int steps) override {
    before_("decode_greedy");
    return inner_->decode_greedy(steps);
  }
  std::vector<float> logits() override { return inner_->logits(); }
  void synchronize() override { inner_->synchronize(); }
  int sequence_length(int i) const override { return inner_->sequence_length(i); }
  bool can_restore_position() const override { return inner_->can_restore_position(); }
  void save_position() override {
    before_("save_position");
    inner_->save_position();
  }
  void restore_position() override {
    before_("restore_position");
    inner_->restore_position();
  }

 private:
  std::unique_ptr<engine::Engine> inner_;
  std::function<void(const char*)> before_;
};

}  // namespace eco::bench
