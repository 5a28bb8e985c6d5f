#include "engine/engine.h"

#include "common/error.h"
#include "engine/cpu/cpu_engine.h"
#ifdef ECO_HAVE_CUDA
#include "engine/cuda/cuda_engine.h"
#endif

namespace eco::engine {

DeviceKind parse_device(std::string_view name) {
  if (name == "auto") return DeviceKind::Auto;
  if (name == "cpu") return DeviceKind::Cpu;
  if (name == "cuda") return DeviceKind::Cuda;
  fail("unknown device '{}': use auto, cpu or cuda", name);
}

std::string_view device_name(DeviceKind d) {
  switch (d) {
    case DeviceKind::Auto: return "auto";
    case DeviceKind::Cpu: return "cpu";
    case DeviceKind::Cuda: return "cuda";
  }
  return "?";
}

bool cuda_available() {
#ifdef ECO_HAVE_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

std::vector<std::vector<int32_t>> Engine::decode_greedy(int steps) {
  std::vector<std::vector<int32_t>> out;
  out.reserve(size_t(std::max(steps, 0)));
  for (int s = 0; s < steps; ++s) {
    out.push_back(argmax());
    if (s + 1 < steps) decode(out.back());
  }
  return out;
}

void Engine::save_position() {
  fail("this engine cannot save its decode position ({}); repeat whole runs instead", describe());
}

void Engine::restore_position() {
  fail("this engine cannot restore a decode position ({}); repeat whole runs instead",
       describe());
}

std::unique_ptr<Engine> create_engine(const model::ModelWeights& weights, const EngineOptions& opts) {
  EngineOptions o = opts;
  if (o.max_batch < 1) fail("batch size must be at least 1 (got {})", o.max_batch);
  if (o.max_context <= 0) o.max_context = weights.config.max_position_embeddings;
  if (o.device == DeviceKind::Auto) o.device = cuda_available() ? DeviceKind::Cuda : DeviceKind::Cpu;
  if (o.device == DeviceKind::Cuda) {
#ifdef ECO_HAVE_CUDA
    if (!cuda_available())
      fail("--device cuda: no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES)");
    return cuda::create_cuda_engine(weights, o);
#else
    fail("--device cuda: this build has no CUDA engine (the CUDA toolkit was not found at build "
         "time); rebuild on a machine with nvcc, or use --device cpu");
#endif
  }
  return cpu::create_cpu_engine(weights, o);
}

}  // namespace eco::engine
