#pragma once
// The CPU reference engine: plain fp32 arithmetic on weights rounded through the chosen format.
// It is the oracle every CUDA kernel is tested against, and the engine CI runs.
#include <functional>
#include <memory>

#include "engine/engine.h"

namespace eco::engine::cpu {

// The input of each matmul kind of a decoder layer (q/k/v share one input, gate/up another).
enum class MatmulInput { Qkv, O, GateUp, Down };
const char* matmul_input_name(MatmulInput kind);  // "qkv", "o", "gate_up", "down"
// Sees each matmul input x ([rows, cols], row-major) before the matmul reads it, for tests and
// analysis (e.g. counting LLM.int8() outlier columns). Empty by default: one branch per matmul.
using MatmulObserver =
    std::function<void(MatmulInput kind, int layer, const float* x, int rows, int cols)>;

std::unique_ptr<Engine> create_cpu_engine(const model::ModelWeights& weights,
                                          const EngineOptions& opts,
                                          MatmulObserver observer = {});

}  // namespace eco::engine::cpu
