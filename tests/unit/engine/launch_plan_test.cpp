// The CUDA engine's launch geometry (engine/cuda/launch_plan.h: pure host arithmetic, so it is
// checked here on the CPU) on the shapes the H200 profile of mistral-7b decode named.
#include "engine/cuda/launch_plan.h"

#include <gtest/gtest.h>

namespace eco::engine::cuda {
namespace {

// An H200: 132 SMs. The fp16 GEMV kernels hold 4 blocks per SM without the fused norm input
// and 2 with it (their register counts); tiles are 16 rows, k-blocks 32 columns.
constexpr long kSms = 132;

TEST(GemvSplits, SmallMatricesFillTheSlotsLargeOnesKeepOneBlockPerTile) {
  // o_proj / down_proj: 256 tiles on 528 slots, one half-empty wave -> 2 splits fill it.
  EXPECT_EQ(choose_gemv_splits(256, 128, kSms * 4, 16), 2);
  EXPECT_EQ(choose_gemv_splits(256, 448, kSms * 4, 16), 2);
  // q|k|v through the fused norm: 384 tiles on 264 slots (1.45 waves) -> 768 blocks, 2.9 waves.
  EXPECT_EQ(choose_gemv_splits(384, 128, kSms * 2, 10), 2);
  // gate|up (1792 tiles, 6.8 waves) and the lm_head (2000 tiles): no split.
  EXPECT_EQ(choose_gemv_splits(1792, 128, kSms * 2, 2), 1);
  EXPECT_EQ(choose_gemv_splits(2000, 128, kSms * 2, 2), 1);
  EXPECT_EQ(choose_gemv_splits(1792, 128, kSms * 2, 0), 1);
}

TEST(GemvSplits, EverySplitKeepsAFullRoundOfLoadsAndFitsTheScratch) {
  // k = 2048 (64 k-blocks) allows 2 splits of 32 k-blocks at most; k = 1024 none.
  EXPECT_EQ(choose_gemv_splits(16, 64, kSms * 4, 64), 2);
  EXPECT_EQ(choose_gemv_splits(16, 63, kSms * 4, 64), 1);
  EXPECT_EQ(choose_gemv_splits(16, 32, kSms * 4, 64), 1);
  // The scratch bounds the split (max_splits), and so does kGemvMaxSplits.
  EXPECT_EQ(choose_gemv_splits(16, 4096, kSms * 4, 3), 3);
  EXPECT_EQ(choose_gemv_splits(16, 4096, kSms * 4, 100), kGemvMaxSplits);
  EXPECT_EQ(choose_gemv_splits(256, 128, kSms * 4, 1), 1);
  // Nothing known about the device: no split.
  EXPECT_EQ(choose_gemv_splits(256, 128, 0, 16), 1);
}

TEST(GemvSplits, ChosenSplitNeverLowersTheFill) {
  for (int tiles : {1, 7, 100, 256, 384, 500, 1000, 1792})
    for (long slots : {132L, 264L, 396L, 528L, 1056L}) {
      const int s = choose_gemv_splits(tiles, 4096, slots, 1000);
      EXPECT_GE(gemv_slot_fill(long(tiles) * s, slots), gemv_slot_fill(tiles, slots))
          << tiles << " tiles, " << slots << " slots";
    }
  EXPECT_DOUBLE_EQ(gemv_slot_fill(384, 264), 384.0 / 528.0);
  EXPECT_DOUBLE_EQ(gemv_slot_fill(528, 528), 1.0);
  EXPECT_EQ(gemv_slot_fill(0, 528), 0.0);
}

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
