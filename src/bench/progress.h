#pragma once
// Progress reporting of a sweep. The terminal sink draws one updating line with the sweep's ETA
// on a TTY and prints plain lines otherwise; tests use their own sinks to observe (or steer)
// runs.
#include <cstdio>
#include <optional>
#include <string>

#include "store/records.h"

namespace eco::bench {

struct RunLabel {
  int round = 0;
  int index = 0;
  bool warmup = false;
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // total: configurations in the sweep; skipped: already complete (resume).
  virtual void sweep_started(int total, int skipped) { (void)total, (void)skipped; }
  virtual void config_started(int position, int total, const std::string& label) {
    (void)position, (void)total, (void)label;
  }
  // A protocol step (idle baseline, stabilisation, gate, ...) and what came of it.
  virtual void step(const std::string& name, const std::string& outcome) {
    (void)name, (void)outcome;
  }
  // Before each run (warm-up, stabilisation or measured) starts executing.
  virtual void run_started(const RunLabel& label, int planned_in_round) {
    (void)label, (void)planned_in_round;
  }
  virtual void run_finished(const store::RunRecord& run) { (void)run; }
  // `status` is Done (measured, whatever its gate) or Failed.
  virtual void config_finished(const std::string& label, store::ConfigStatus status,
                               const std::string& detail) {
    (void)label, (void)status, (void)detail;
  }
  virtual void warning(const std::string& text) { (void)text; }
  // The sweep's estimate of the time left, after each configuration (nullopt: none yet).
  virtual void eta(std::optional<double> seconds_left) { (void)seconds_left; }
};

class TerminalProgress final : public ProgressSink {
 public:
  // tty: draw an updating bar; otherwise one plain line per event. Writes to `out` (stderr).
  TerminalProgress(std::FILE* out, bool tty);
  static bool is_tty(std::FILE* f);

  void sweep_started(int total, int skipped) override;
  void config_started(int position, int total, const std::string& label) override;
  void step(const std::string& name, const std::string& outcome) override;
  void run_started(const RunLabel& label, int planned_in_round) override;
  void run_finished(const store::RunRecord& run) override;
  void config_finished(const std::string& label, store::ConfigStatus status,
                       const std::string& detail) override;
  void warning(const std::string& text) override;
  void eta(std::optional<double> seconds_left) override;

 private:
  void draw(const std::string& text);
  std::string eta_text() const;
  std::FILE* out_;
  bool tty_;
  int total_ = 0, done_ = 0, position_ = 0;
  std::string label_;
  std::optional<double> seconds_left_;
  bool line_open_ = false;
};

}  // namespace eco::bench
