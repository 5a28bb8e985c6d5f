#pragma once
// The CUDA engine (compiled only when the CUDA toolkit is found). Plain C++ header: no CUDA
// types leak into the rest of the program.
#include <memory>

#include "engine/engine.h"

namespace eco::engine::cuda {

int device_count();  // 0 when no driver or no visible device; never throws
std::unique_ptr<Engine> create_cuda_engine(const model::ModelWeights& weights,
                                           const EngineOptions& opts);

}  // namespace eco::engine::cuda
