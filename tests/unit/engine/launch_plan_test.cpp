// The CUDA engine's decode-attention launch geometry (engine/cuda/launch_plan.h: pure host
// arithmetic, so it is checked here on the CPU) on the shapes the H200 profile of mistral-7b
// decode named.
#include "engine/cuda/launch_plan.h"

#include <gtest/gtest.h>

namespace eco::engine::cuda {
namespace {

TEST(AttentionSplits, KeysPerRoundFollowTheHeadDim) {
  EXPECT_EQ(attention_lanes_per_key(128), 16);
  EXPECT_EQ(attention_keys_per_round(128), 8);  // 4 warps x 2 keys
  EXPECT_EQ(attention_keys_per_round(64), 16);
  EXPECT_EQ(attention_keys_per_round(96), 8);
  EXPECT_EQ(attention_keys_per_round(256), 4);
  EXPECT_EQ(attention_keys_per_round(32), 32);
}

TEST(AttentionSplits, ShortContextsActivateFewerSplitsOfWholeRounds) {
  // mistral-7b (d 128: rounds of 8 keys), 32 splits launched.
  EXPECT_EQ(attention_split_chunk(48, 32, 128), 8);
  EXPECT_EQ(attention_active_splits(48, 32, 128), 6);
  EXPECT_EQ(attention_active_splits(5, 32, 128), 1);   // one block writes the output itself
  EXPECT_EQ(attention_split_chunk(288, 32, 128), 16);  // 9 keys a split rounded to 2 rounds
  EXPECT_EQ(attention_active_splits(288, 32, 128), 18);
  EXPECT_EQ(attention_active_splits(4096, 32, 128), 32);
  EXPECT_EQ(attention_split_chunk(4096, 32, 128), 128);
  EXPECT_EQ(attention_active_splits(100, 1, 128), 1);  // prefill: one split
  // Every key is covered, by at most `splits` blocks.
  for (int d : {32, 64, 96, 128, 256})
    for (int splits : {1, 2, 3, 7, 32, 64})
      for (int n = 1; n < 600; n += 7) {
        const int c = attention_split_chunk(n, splits, d),
                  a = attention_active_splits(n, splits, d);
        EXPECT_LE(a, splits);
        EXPECT_GE(a * c, n);
        EXPECT_LT((a - 1) * c, n);
        EXPECT_EQ(c % attention_keys_per_round(d), 0);
      }
}

TEST(AttentionSplits, DecodeSplitsFillTheCardUpToTheContext) {
  // Batch 1 x 8 kv heads on 132 SMs: 33 wanted, 32 at most; a 56-token context (the profiled
  // run) allows 7 rounds of 8 keys, where the former "16 keys per split" rule gave 3.
  EXPECT_EQ(choose_decode_splits(1, 8, 132, 4096, 128), 32);
  EXPECT_EQ(choose_decode_splits(1, 8, 132, 56, 128), 7);
  EXPECT_EQ(choose_decode_splits(8, 8, 132, 4096, 128), 5);
  EXPECT_EQ(choose_decode_splits(64, 8, 132, 4096, 128), 1);
  EXPECT_EQ(choose_decode_splits(1, 8, 132, 1, 128), 1);
  EXPECT_EQ(choose_decode_splits(1, 8, 0, 4096, 128), 1);
  EXPECT_LE(choose_decode_splits(1, 1, 1000, 1 << 20, 128), kAttnMaxSplits);
}

}  // namespace
}  // namespace eco::engine::cuda
