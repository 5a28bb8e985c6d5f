#include "bench/plan.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/error.h"

namespace eco::bench {

std::string_view to_string(PlanAction a) {
  switch (a) {
    case PlanAction::Measure:
      return "measure";
    case PlanAction::Redo:
      return "redo";
    case PlanAction::Retry:
      return "retry";
    case PlanAction::Skip:
      return "skip";
  }
  return "?";
}

std::vector<PlannedConfig> enumerate_configurations(
    const std::vector<std::string>& models, const std::vector<std::string>& formats,
    const std::vector<int>& batches, const std::vector<std::vector<int>>& prompt_lens,
    const std::vector<int>& gen_lens) {
  auto sorted = [](std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<PlannedConfig> out;
  for (size_t m = 0; m < models.size(); ++m)
    for (const auto& f : formats)
      for (int b : sorted(batches))
        for (int pl : sorted(prompt_lens.at(m)))
          for (int gl : sorted(gen_lens)) {
            PlannedConfig pc;
            pc.model = m;
            pc.format = f;
            pc.batch = b;
            pc.prompt_len = pl;
            pc.gen_len = gl;
            pc.label = fmt::format("{} {} batch {} prompt {} gen {}", models[m], f, b, pl, gl);
            out.push_back(std::move(pc));
          }
  return out;
}

void plan_sweep(std::vector<PlannedConfig>& configs, const PlanRules& rules) {
  using store::ConfigStatus;
  for (auto& pc : configs) {
    if (!pc.existing) {
      pc.action = PlanAction::Measure;
      continue;
    }
    const ExistingConfig& e = *pc.existing;
    if (!rules.resume)
      fail(
          "database '{}' already holds configuration '{}' on {}: pass --resume to continue "
          "that sweep, or use a new --db",
          rules.study, pc.label, rules.device);
    if (!e.same_prompt)
      fail(
          "database '{}' holds configuration '{}' on {} measured with another prompt ({}): "
          "resume with the prompt it was started with, or use a new --db",
          rules.study, pc.label, rules.device, e.stored_prompt);
    pc.config_id = e.id;
    switch (e.status) {
      case ConfigStatus::Done:
        pc.action = PlanAction::Skip;
        break;
      case ConfigStatus::Failed:
        pc.action = rules.retry_failed ? PlanAction::Retry : PlanAction::Skip;
        break;
      case ConfigStatus::Pending:
      case ConfigStatus::Running:
        pc.action = PlanAction::Redo;
        break;
    }
  }
}

}  // namespace eco::bench
