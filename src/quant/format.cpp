#include "quant/format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"

namespace eco::quant {

std::string FormatSpec::name() const {
  switch (format) {
    case WeightFormat::Native: return "native";
    case WeightFormat::F32: return "fp32";
    case WeightFormat::FP16: return "fp16";
    case WeightFormat::BF16: return "bf16";
    case WeightFormat::Int8: return int8_threshold == 0.0f ? "int8-pure" : "int8";
    case WeightFormat::NF4: return "nf4";
    case WeightFormat::NF4DQ: return "nf4-dq";
  }
  return "?";
}

std::vector<std::string> format_names() {
  return {"native", "fp32", "fp16", "bf16", "int8", "int8-pure", "nf4", "nf4-dq"};
}

FormatSpec parse_format(std::string_view name) {
  FormatSpec s;
  if (name == "native") s.format = WeightFormat::Native;
  else if (name == "fp32" || name == "f32") s.format = WeightFormat::F32;
  else if (name == "fp16" || name == "f16") s.format = WeightFormat::FP16;
  else if (name == "bf16") s.format = WeightFormat::BF16;
  else if (name == "int8") s.format = WeightFormat::Int8;
  else if (name == "int8-pure") {
    s.format = WeightFormat::Int8;
    s.int8_threshold = 0.0f;
  } else if (name == "nf4") s.format = WeightFormat::NF4;
  else if (name == "nf4-dq") s.format = WeightFormat::NF4DQ;
  else
    fail("unknown weight format '{}': use one of {}", name, fmt::join(format_names(), ", "));
  return s;
}

std::vector<FormatSpec> parse_format_list(std::string_view list) {
  std::vector<FormatSpec> out;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    const auto item = list.substr(start, comma == std::string_view::npos ? list.npos : comma - start);
    if (item.empty()) fail("empty entry in format list '{}': write e.g. fp16,int8,nf4", list);
    out.push_back(parse_format(item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace eco::quant
