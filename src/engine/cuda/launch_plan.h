#pragma once
// Launch geometry of decode attention (attention.cu), which cannot fill the GPU with one block
// per unit of output: how many blocks share the keys of one attention head. Pure host
// arithmetic without CUDA types, so that the CPU build compiles it and its tests run
// everywhere.
//
// Why: decode attention has batch x kv heads blocks (8 at batch 1 on mistral-7b) and splits the
// keys to fill the card; each block should get at least one full round of keys (all its warps
// loading), not a sliver that leaves warps idle.
//
// The attention kernel calls the key-split functions itself (ECO_HD: host and device), so the
// host's choice and the device's division of the keys cannot drift apart.
#include <algorithm>

#ifdef __CUDACC__
#define ECO_HD __host__ __device__
#else
#define ECO_HD
#endif

namespace eco::engine::cuda {

// ---- attention key splits -------------------------------------------------------------------
constexpr int kAttnWarps = 4;       // warps per attention block
constexpr int kAttnMaxSplits = 64;  // split count the merge handles (its weights in shared memory)

// Lanes that share one key of head_dim d (16-byte loads of 8 elements each, a power of two).
ECO_HD inline int attention_lanes_per_key(int d) {
  int tpk = 1;
  while (tpk * 8 < d) tpk *= 2;
  return tpk;
}
// Keys an attention block scores at once: every lane group of every warp one key.
ECO_HD inline int attention_keys_per_round(int d) {
  return kAttnWarps * (32 / attention_lanes_per_key(d));
}
// Keys each split takes when n keys are divided among `splits` blocks: a whole number of rounds
// (a block with a partial round idles lanes for nothing), so with few keys fewer splits are
// active than launched (the others exit at once).
ECO_HD inline int attention_split_chunk(int n, int splits, int d) {
  const int r = attention_keys_per_round(d);
  const int s = splits > 1 ? splits : 1;
  const int per = (n + s - 1) / s;
  const int c = (per + r - 1) / r * r;
  return c > r ? c : r;
}
ECO_HD inline int attention_active_splits(int n, int splits, int d) {
  if (n <= 0) return 1;
  const int c = attention_split_chunk(n, splits, d);
  return (n + c - 1) / c;
}

// Splits of a decode step's attention (fixed when the step is captured as a graph, so it is
// sized for the longest context; shorter contexts activate fewer of them): enough blocks for
// two waves over the SMs, at most 32, and no more than the longest context has rounds of keys.
inline int choose_decode_splits(int batch, int kv_heads, int sm_count, int max_context, int d) {
  const int pairs = std::max(1, batch * kv_heads);
  const int fill = (2 * std::max(sm_count, 1) + pairs - 1) / pairs;
  const int r = attention_keys_per_round(d);
  const int by_context = std::max(1, (max_context + r - 1) / r);
  return std::max(1, std::min({fill, 32, by_context}));
}

}  // namespace eco::engine::cuda
