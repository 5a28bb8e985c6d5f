#pragma once
// The arithmetic of a Llama-family decoder layer in fp32, as Hugging Face transformers computes
// it. Each function works on plain row-major float arrays so that tests can check it against a
// direct double-precision computation, and so the CUDA kernels have a reference per op.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace eco::engine::cpu {

// Dot product of n floats in a fixed order (8 interleaved partial sums, then a fixed pairwise
// reduction, then the tail): the same inputs always give the same bits.
float dot(const float* a, const float* b, int n);
// Four dot products of w with x, x + x_stride, x + 2 x_stride, x + 3 x_stride; each result is
// bit-identical to dot(w, x + k x_stride, n).
void dot4(const float* w, const float* x, size_t x_stride, int n, float out[4]);

// y = x / sqrt(mean(x^2) + eps) * weight, for one row of n values (y may alias x).
void rmsnorm(const float* x, const float* weight, int n, float eps, float* y);
// The same over `rows` consecutive rows.
void rmsnorm_rows(const float* x, const float* weight, int rows, int n, float eps, float* y);

// RoPE inverse frequencies theta^(-2i/d), i in [0, d/2), computed in double and cast to fp32.
std::vector<float> rope_inv_freq(int head_dim, double theta);
// Rotates n_heads consecutive vectors of head_dim at x in place for position `pos`, in the
// rotate-half layout of Hugging Face: the pairs are (i, i + d/2), angle pos * inv_freq[i], with
// the angle, cos and sin evaluated in fp32 and cos, sin multiplied by `scaling` (the attention
// factor of yarn / longrope; model/rope.h) before they meet x, as transformers does.
void apply_rope(float* x, int n_heads, int head_dim, int pos, const float* inv_freq,
                float scaling = 1.0f);

// First key position a query at `pos` attends to: 0 without a window; with a sliding window of
// `window` tokens (Mistral v0.1's sliding_window, as transformers masks it: key p is seen when
// pos - window < p <= pos), the window's oldest position.
inline int first_key(int pos, int window) {
  return window > 0 && pos >= window ? pos - window + 1 : 0;
}

// One head of causal attention for n_q consecutive queries of one sequence at positions
// pos0 .. pos0 + n_q - 1. Query t is at q + t * q_stride, the key/value of position p at
// k + p * kv_stride / v + p * kv_stride (head_dim floats each), output t at out + t * out_stride.
// Query t attends to positions first_key(pos0 + t, window) .. pos0 + t (window 0: all).
// Scores are q.k / sqrt(head_dim); softmax in fp32 with the maximum subtracted. `scores` is
// scratch space for at least pos0 + n_q floats.
void attention_head(const float* q, size_t q_stride, int n_q, int pos0, const float* k,
                    const float* v, size_t kv_stride, int head_dim, float* out, size_t out_stride,
                    float* scores, int window = 0);
// All heads of one sequence with grouped-query attention: query head h reads key/value head
// h / (heads / kv_heads). q and out are [n_q, heads * head_dim]; k and v are
// [pos0 + n_q, kv_heads * head_dim] (the cache, already holding the new positions).
void attention(const float* q, int n_q, int pos0, const float* k, const float* v, int heads,
               int kv_heads, int head_dim, float* out, int window = 0);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)) (out may alias gate or up).
void swiglu(const float* gate, const float* up, size_t n, float* out);

// y[i] += x[i].
void add_inplace(float* y, const float* x, size_t n);

// Copies the rows of `table` ([vocab, hidden]) for each token id into out ([tokens, hidden]).
// Ids must already be checked to lie in [0, vocab).
void embed_rows(const float* table, int hidden, const int32_t* ids, size_t count, float* out);

// Index of the largest value (lowest index among equal maxima; NaN never wins unless all are).
int32_t argmax_row(const float* x, int n);

}  // namespace eco::engine::cpu
