#pragma once
// Weight formats an engine can run, and their parameters. The bit layouts live in
// docs/FORMATS.md; the CPU reference quantizers in this folder define them.
#include <string>
#include <string_view>
#include <vector>

namespace eco::quant {

enum class WeightFormat {
  Native,  // as stored in the files (F32 fixtures stay F32)
  F32,
  FP16,
  BF16,
  Int8,  // LLM.int8(): int8 weights, per-row absmax; outlier threshold below (0 = pure int8)
  NF4,   // 4-bit NormalFloat, blocks of 64, fp32 absmax
  NF4DQ  // NF4 with the absmax double-quantized (8-bit, blocks of 256)
};

enum class Int8Impl { Fused, ReferenceBnb };

struct FormatSpec {
  WeightFormat format = WeightFormat::Native;
  float int8_threshold = 6.0f;  // only for Int8; 0 disables outlier decomposition
  Int8Impl int8_impl = Int8Impl::Fused;

  // Canonical name: native, fp32, fp16, bf16, int8, int8-pure, nf4, nf4-dq.
  std::string name() const;
  bool quantized() const {
    return format == WeightFormat::Int8 || format == WeightFormat::NF4 ||
           format == WeightFormat::NF4DQ;
  }
};

// Parses one format name (as in name()); `int8-pure` is Int8 with threshold 0.
// Throws eco::Error listing the valid names.
FormatSpec parse_format(std::string_view name);
// Parses a comma-separated list, e.g. "fp16,int8,nf4".
std::vector<FormatSpec> parse_format_list(std::string_view list);
std::vector<std::string> format_names();

}  // namespace eco::quant
