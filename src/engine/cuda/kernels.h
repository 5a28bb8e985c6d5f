#pragma once
// Host-side launchers of the CUDA engine's kernels, one family per .cu file. Plain C++ (only
// the CUDA runtime's types): cuda_engine.cpp and the kernel tests call these. Every launcher
// checks its launch and throws eco::Error naming `step`.
//
// Element types: activations and weights are T = fp16 or bf16 (DevType); the residual stream,
// logits and all accumulations are fp32.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

namespace eco::engine::cuda {

enum class DevType { F16, BF16 };
enum class SrcType { F32, F16, BF16 };  // dtype of a host tensor being uploaded
inline const char* devtype_name(DevType t) {
  return t == DevType::F16 ? "fp16" : "bf16";
}

// ---- the small-batch matmuls (gemv_tile.cuh; gemv.cu, int8_gemv.cu, nf4_gemv.cu) ----------
// y[m, n] = sum_k W[n, k] * x[m, k] for small m on the tensor cores: weights are read once for
// the whole batch; one tile is 16 output rows x the batch (n-tiles of 8 rows), split along k
// over the block's warps. They share their input and output descriptions.
enum class GemvOut {
  StoreT,       // y (T, ld ldy) = acc
  StoreF32,     // y (float, ld ldy) = acc (logits)
  AddResidual,  // y (float residual, ld ldy) += acc; sumsq_out[m] += new y^2 (next RMSNorm)
  SwiGLU        // rows interleaved in groups of 8 (gate, up): y (T, ld ldy)[m, n/2] = silu(g)*u
};
// Where the [m, k] input rows come from: T rows (x, ld ldx) or, with rms_gamma set, the fp32
// residual (xf, ld ldx) normalised on the fly: x * rsqrt(sumsq_in[m] / k + eps) * gamma.
struct GemvIn {
  const void* x = nullptr;
  const float* xf = nullptr;
  int ldx = 0;
  const void* rms_gamma = nullptr;
  const float* sumsq_in = nullptr;
  float eps = 1e-6f;
};
// Where the result goes (fp16/bf16 T for StoreT and SwiGLU, fp32 for StoreF32 and AddResidual).
struct GemvDst {
  GemvOut kind = GemvOut::StoreT;
  void* y = nullptr;
  int ldy = 0;
  float* sumsq_out = nullptr;  // AddResidual only (may be null)
};

// ---- gemv.cu: fp16/bf16 weights ------------------------------------------------------------
struct GemvArgs {
  const void* w = nullptr;  // [n, k] row-major, T
  int n = 0, k = 0;         // k % 8 == 0
  int m = 0;                // batch rows, 1..gemv_max_batch()
  GemvIn in;
  GemvDst out;
};
int gemv_max_batch();
void launch_gemv(DevType t, const GemvArgs& a, cudaStream_t stream, const std::string& step);

// ---- rmsnorm.cu: out[i] (T) = x[row(i)] * rsqrt(mean(x^2) + eps) * gamma ---------------------
// rows: optional gather (row(i) = rows[i]); used before cuBLAS GEMMs and for the final norm of
// the last prompt tokens.
void launch_rmsnorm(DevType t, const float* x, int ldx, const int* rows, int m, int h,
                    const void* gamma, float eps, void* out, cudaStream_t stream,
                    const std::string& step);

// ---- embedding.cu: resid[i] = float(table[tokens[i]]) --------------------------------------
// With sumsq set ([slots][sumsq_ld] floats), also writes slot 0 = sum of squares of row i and
// zeroes slots 1..slots-1 (the fused RMSNorms of the step accumulate into them).
void launch_embedding(DevType t, const void* table, int vocab, int h, const int* tokens, int m,
                      float* resid, float* sumsq, int sumsq_slots, int sumsq_ld,
                      cudaStream_t stream, const std::string& step);

// ---- rope.cu: bias, rotary embedding, KV-cache write ----------------------------------------
struct RopeArgs {
  const void* qkv = nullptr;   // [m, (nh + 2 nkv) * d] T: q | k | v
  const void* bias = nullptr;  // [(nh + 2 nkv) * d] T or null
  const int* tok_seq = nullptr;
  const int* tok_pos = nullptr;     // position of each token (indexed by token)
  const float* inv_freq = nullptr;  // [d / 2]
  void* q_out = nullptr;            // [m, nh * d] T
  void* k_cache = nullptr;          // this layer: [seqs][nkv][ctx][d] T
  void* v_cache = nullptr;
  int m = 0, nh = 0, nkv = 0, d = 0, ctx = 0;
  // Several tables (model/rope.h): inv_freq is [tables][d / 2], scaling [tables] multiplies
  // cos and sin, *table_index picks the table (null: table 0, scaling 1).
  const float* scaling = nullptr;
  const int* table_index = nullptr;
};
void launch_rope_kv(DevType t, const RopeArgs& a, cudaStream_t stream, const std::string& step);
// *index = clamp(max(tok_pos[0..m)) + 1 - threshold, 0, count - 1): the RoPE table of a step
// whose longest sequence reaches max position + 1 (model::RopeSchedule::index).
void launch_rope_select(const int* tok_pos, int m, int threshold, int count, int* index,
                        cudaStream_t stream, const std::string& step);
// Qwen3, in place on the fused q|k|v rows [m, (nh + 2 nkv) * d] T: adds the bias (if any),
// then RMS-normalises each q head with q_norm and each k head with k_norm ([d] T, eps); v heads
// get their bias only. launch_rope_kv then runs without a bias. d <= 256.
void launch_qk_norm(DevType t, void* qkv, const void* bias, const void* q_norm, const void* k_norm,
                    float eps, int m, int nh, int nkv, int d, cudaStream_t stream,
                    const std::string& step);

// ---- bias.cu: y[i, j] (fp32, ld ldy) += bias[j] (T) for m rows of n ----------------------------
void launch_add_bias_rows(DevType t, float* y, int ldy, const void* bias, int m, int n,
                          cudaStream_t stream, const std::string& step);

// ---- attention.cu: causal grouped-query attention over the KV cache -------------------------
// Token i attends to positions 0..tok_pos[i] of sequence tok_seq[i]; with window > 0 (sliding
// window attention) to tok_pos[i] - window + 1 .. tok_pos[i] only. splits > 1 divides the keys
// among blocks (flash-decoding); the last block of each (token, kv head) merges them.
struct AttnArgs {
  const void* q = nullptr;  // [m, nh * d] T (rotated)
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int* tok_seq = nullptr;
  const int* tok_pos = nullptr;
  void* out = nullptr;  // [m, nh * d] T
  int m = 0, nh = 0, nkv = 0, d = 0, ctx = 0;
  int splits = 1;
  float* partial = nullptr;  // [m * nh * splits * (d + 2)] when splits > 1
  int* counters = nullptr;   // [m * nkv], zero-initialised; left zero after each launch
  int window = 0;            // sliding window in positions (0: full causal attention)
};
size_t attention_partial_floats(int m, int nh, int d, int splits);
void launch_attention(DevType t, const AttnArgs& a, cudaStream_t stream, const std::string& step);

// ---- argmax.cu: greedy choice on the device -------------------------------------------------
// next[i] = argmax(logits[i]) (lowest id on ties, NaN ignored). With hist set: the step index
// s = pos[i] - hist_base[i] + 1 is computed and, if 0 <= s < hist_steps, hist[s * m + i] = next;
// with advance, pos[i] += 1 afterwards (the token just decoded is now in the cache).
void launch_argmax(const float* logits, int m, int vocab, int* next, int* hist, int hist_steps,
                   const int* hist_base, int* pos, bool advance, cudaStream_t stream,
                   const std::string& step);

// ---- elementwise.cu -------------------------------------------------------------------------
// act[i, j] = silu(gate) * up, with gu rows laid out as GEMM output of interleaved weights:
// column c of gu belongs to group c / 16; within it 0..7 are gate, 8..15 are up.
// gu is fp32 when gu_f32, else T.
void launch_swiglu_interleaved(DevType t, const void* gu, bool gu_f32, int m, int inter, void* act,
                               cudaStream_t stream, const std::string& step);
// dst row of src row r = (r / group) * group_stride + offset + r % group; converts dtype.
void launch_convert_rows(SrcType src_t, const void* src, int64_t rows, int64_t cols, DevType dst_t,
                         void* dst, int64_t group, int64_t group_stride, int64_t offset,
                         cudaStream_t stream, const std::string& step);
// Fills n elements of T with a value (tests use it to poison outputs).
void launch_fill(DevType t, void* dst, int64_t n, float value, cudaStream_t stream);
void launch_fill_f32(float* dst, int64_t n, float value, cudaStream_t stream);

}  // namespace eco::engine::cuda
