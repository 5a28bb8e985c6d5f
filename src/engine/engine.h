#pragma once
// The inference engine interface shared by the CPU reference backend (engine/cpu/) and the CUDA
// backend (engine/cuda/). Prefill and decode are separate calls so that bench/ can meter each as
// its own window; nothing here knows about energy.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/weights.h"
#include "quant/format.h"

namespace eco::engine {

enum class DeviceKind { Auto, Cpu, Cuda };
DeviceKind parse_device(std::string_view name);  // "auto", "cpu", "cuda"
std::string_view device_name(DeviceKind d);
bool cuda_available();  // compiled with CUDA and at least one device visible

// Kernel path choices of the CUDA engine, held per engine. The defaults are what users run;
// benchmarks change them to time one path against another. The CPU engine ignores them.
struct CudaPathOptions {
  bool eager_decode = false;     // enqueue every decode step instead of replaying a CUDA graph
  int nf4_fused_max_batch = 64;  // largest batch on the fused NF4 GEMV (0..64; 0: dequantize)
  // int8 with a threshold: record every matmul's outlier-column count (a host synchronisation
  // per matmul, so decode runs eager); read with cuda::take_quant_stats().
  bool count_outliers = false;
};

struct EngineOptions {
  DeviceKind device = DeviceKind::Auto;
  quant::FormatSpec format;
  int max_batch = 1;     // sequences per prefill/decode
  int max_context = 0;   // KV cache length per sequence; 0 = max_position_embeddings
  int device_index = 0;  // CUDA ordinal
  CudaPathOptions cuda;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const model::ModelConfig& config() const = 0;
  virtual const EngineOptions& options() const = 0;
  // One line: backend, device name, format and the kernel paths chosen (recorded with results).
  virtual std::string describe() const = 0;

  // Starts a new batch (clears the KV cache) and runs the prompts through the model. Prompts may
  // differ in length; each is non-empty and fits max_context. Afterwards logits() holds, for
  // each sequence, the logits at its last position ([batch, vocab]); with all_logits, the logits
  // at every position of every prompt, concatenated ([sum of prompt lengths, vocab]).
  virtual void prefill(const std::vector<std::vector<int32_t>>& prompts,
                       bool all_logits = false) = 0;

  // Appends one token per sequence (tokens.size() == batch of the last prefill) and computes
  // the next logits ([batch, vocab]).
  virtual void decode(const std::vector<int32_t>& tokens) = 0;

  // Greedy choice per sequence from the current logits (ties: lowest id).
  virtual std::vector<int32_t> argmax() = 0;

  // Runs `steps` decode steps, each feeding back the argmax of the previous logits, and returns
  // the tokens chosen, [steps][batch], the first being the argmax of the current logits.
  // Backends override this to keep the loop on the device; the default uses argmax()+decode().
  virtual std::vector<std::vector<int32_t>> decode_greedy(int steps);

  // Host copy of the current logits, row-major.
  virtual std::vector<float> logits() = 0;

  // Blocks until queued device work is done (a no-op on the CPU).
  virtual void synchronize() = 0;

  // Number of tokens currently held for sequence i (prompt + decoded).
  virtual int sequence_length(int i) const = 0;

  // Decode from a saved position, so that the same decode steps can be re-run (and metered)
  // without a prefill between them. save_position() remembers the batch's sequence lengths
  // and its current logits; restore_position() returns to them: the KV entries past the saved
  // lengths are overwritten by the next steps, which greedy decoding makes identical to the
  // first time. can_restore_position() is false for a backend that cannot (the callers then
  // repeat whole runs); the default save/restore calls fail.
  virtual bool can_restore_position() const { return false; }
  virtual void save_position();
  virtual void restore_position();
};

// Builds the engine for `weights` on the requested device. With DeviceKind::Auto, CUDA when
// available, else CPU. Throws eco::Error when a device or format is not supported.
std::unique_ptr<Engine> create_engine(const model::ModelWeights& weights, const EngineOptions& opts);

}  // namespace eco::engine
