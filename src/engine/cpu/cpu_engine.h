#pragma once
// The CPU reference engine: plain fp32 arithmetic on weights rounded through the chosen format.
// It is the oracle every CUDA kernel is tested against, and the engine CI runs.
#include <memory>

#include "engine/engine.h"

namespace eco::engine::cpu {

std::unique_ptr<Engine> create_cpu_engine(const model::ModelWeights& weights,
                                          const EngineOptions& opts);

}  // namespace eco::engine::cpu
