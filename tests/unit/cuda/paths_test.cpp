// The matmul path choice of the CUDA engine (host code only: runs without a GPU). run_linear()
// follows choose_matmul_path() and describe() prints describe_matmul_paths(), so these pin
// both what runs and what the results record.
#include <gtest/gtest.h>

#include "engine/cuda/linear.h"

namespace eco::engine::cuda::test {
namespace {

TEST(CudaPaths, ChoiceFollowsFormatRowsAndOptions) {
  const CudaPathOptions def;
  const auto fp16 = quant::parse_format("fp16");
  EXPECT_EQ(choose_matmul_path(fp16, def, 1, 4096), MatmulPath::Gemv);
  EXPECT_EQ(choose_matmul_path(fp16, def, gemv_max_batch(), 4096), MatmulPath::Gemv);
  EXPECT_EQ(choose_matmul_path(fp16, def, gemv_max_batch() + 1, 4096), MatmulPath::CublasGemm);

  const auto int8 = quant::parse_format("int8");
  EXPECT_EQ(choose_matmul_path(int8, def, int8_gemv_max_batch(), 4096), MatmulPath::Int8Gemv);
  EXPECT_EQ(choose_matmul_path(int8, def, int8_gemv_max_batch() + 1, 4096),
            MatmulPath::Int8CublasGemm);
  auto bnb = int8;
  bnb.int8_impl = quant::Int8Impl::ReferenceBnb;
  EXPECT_EQ(choose_matmul_path(bnb, def, 1, 4096), MatmulPath::Int8ReferenceBnb);
  auto bnb_pure = quant::parse_format("int8-pure");
  bnb_pure.int8_impl = quant::Int8Impl::ReferenceBnb;  // no threshold: nothing to send home
  EXPECT_EQ(choose_matmul_path(bnb_pure, def, 1, 4096), MatmulPath::Int8Gemv);

  const auto nf4 = quant::parse_format("nf4");
  EXPECT_EQ(choose_matmul_path(nf4, def, 64, 4096), MatmulPath::Nf4Gemv);
  EXPECT_EQ(choose_matmul_path(nf4, def, 65, 4096), MatmulPath::Nf4DequantGemm);
  EXPECT_EQ(choose_matmul_path(nf4, def, 1, 96), MatmulPath::Nf4DequantGemv);  // k % 64 != 0
  CudaPathOptions dequant;
  dequant.nf4_fused_max_batch = 0;
  EXPECT_EQ(choose_matmul_path(nf4, dequant, 1, 4096), MatmulPath::Nf4DequantGemv);
  EXPECT_EQ(choose_matmul_path(nf4, dequant, 17, 4096), MatmulPath::Nf4DequantGemm);
}

TEST(CudaPaths, DescriptionListsEveryRange) {
  const CudaPathOptions def;
  EXPECT_EQ(describe_matmul_paths(quant::parse_format("fp16"), def, 4096),
            "1-16 fp16-mma-gemv, 17+ fp16-cublas-gemm");
  EXPECT_EQ(describe_matmul_paths(quant::parse_format("int8-pure"), def, 4096),
            "1-32 int8-mma-gemv, 33+ int8-cublas-imma+dequant-epilogue");
  CudaPathOptions one;
  one.nf4_fused_max_batch = 1;
  EXPECT_EQ(describe_matmul_paths(quant::parse_format("nf4-dq"), one, 4096),
            "1 nf4-dq-fused-mma-gemv, 2-16 nf4-dq-dequant-fp16+gemv, 17+ "
            "nf4-dq-dequant-fp16+cublas");
}

}  // namespace
}  // namespace eco::engine::cuda::test
