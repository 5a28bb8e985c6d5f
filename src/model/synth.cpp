// Synthetic models: published shapes, seeded weights, written in large parallel pwrites.
//
// Outliers. Dettmers et al. (LLM.int8(), 2022) found that from ~6.7B parameters on, a handful
// of hidden dimensions carry activations far larger than the rest (|x| >= 6, up to ~20x), in
// the same dimensions in almost every layer and for most tokens. LLM.int8() splits exactly
// those input columns of each linear layer out into fp16. A synthetic model reproduces that
// structure where it matters: every linear layer's input is an RMSNorm output, whose entries
// have unit RMS before the norm's weight multiplies them. Setting the input_layernorm and
// post_attention_layernorm weights of K chosen dimensions to SCALE makes those activation
// columns SCALE times larger in every layer and every token, i.e. systematic per-dimension
// outliers for the q/k/v and gate/up projections, as in real models.
#include "model/synth.h"

#include <fcntl.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/half.h"
#include "common/parallel.h"
#include "model/synth_random.h"
#include "model/tokenizer.h"

namespace eco::model {

namespace {

ModelConfig make(Arch arch, int hidden, int inter, int layers, int heads, int kv, int vocab,
                 int max_pos, float theta, float eps, bool tied, int bos, std::vector<int> eos,
                 int window = 0) {
  ModelConfig c;
  c.arch = arch;
  c.model_type = std::string(arch_name(arch));
  c.hidden_size = hidden;
  c.intermediate_size = inter;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv;
  c.head_dim = hidden / heads;
  c.vocab_size = vocab;
  c.max_position_embeddings = max_pos;
  c.rope_theta = theta;
  c.rms_norm_eps = eps;
  c.tie_word_embeddings = tied;
  c.qkv_bias = arch == Arch::Qwen2;
  c.qk_norm = arch == Arch::Qwen3;
  c.bos_token_id = bos;
  c.eos_token_ids = std::move(eos);
  c.sliding_window = window;
  return c;
}

ModelConfig with_head_dim(ModelConfig c, int head_dim) {
  c.head_dim = head_dim;
  return c;
}

// Llama 3.1's rope_scaling: factor 8 over an 8192-token pretraining context.
ModelConfig with_llama31_rope(ModelConfig c) {
  c.rope.type = RopeType::Llama3;
  c.rope.factor = 8.0;
  c.rope.low_freq_factor = 1.0;
  c.rope.high_freq_factor = 4.0;
  c.rope.original_max_positions = 8192;
  return c;
}

struct NamedShape {
  const char* name;
  const char* source;
  ModelConfig (*build)();
};

// Values from each model's published config.json (source named beside it).
const NamedShape kShapes[] = {
    {"tiny", "small llama for tests",
     [] { return make(Arch::Llama, 128, 352, 4, 4, 2, 512, 2048, 10000.f, 1e-5f, false, 1, {2}); }},
    {"tiny-qwen2", "small qwen2 for tests (q/k/v bias, tied embeddings)",
     [] { return make(Arch::Qwen2, 128, 352, 4, 4, 2, 512, 2048, 1e6f, 1e-6f, true, 1, {2}); }},
    {"tiny-phi3", "small phi3 for tests (fused qkv_proj and gate_up_proj)",
     [] { return make(Arch::Phi3, 128, 352, 4, 4, 4, 512, 2048, 10000.f, 1e-5f, false, 1, {2}); }},
    {"tiny-qwen3", "small qwen3 for tests (q/k norms; heads x head_dim 256 != hidden 128)",
     [] {
       return with_head_dim(
           make(Arch::Qwen3, 128, 352, 4, 4, 2, 512, 2048, 1e6f, 1e-6f, false, 1, {2}), 64);
     }},
    {"tinyllama-1.1b", "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
     [] {
       return make(Arch::Llama, 2048, 5632, 22, 32, 4, 32000, 2048, 10000.f, 1e-5f, false, 1, {2});
     }},
    {"qwen2.5-3b", "Qwen/Qwen2.5-3B",
     [] {
       return make(Arch::Qwen2, 2048, 11008, 36, 16, 2, 151936, 32768, 1e6f, 1e-6f, true, 151643,
                   {151643});
     }},
    {"qwen2-7b", "Qwen/Qwen2-7B",
     [] {
       return make(Arch::Qwen2, 3584, 18944, 28, 28, 4, 152064, 131072, 1e6f, 1e-6f, false, 151643,
                   {151643});
     }},
    {"llama-3.1-8b", "meta-llama/Llama-3.1-8B",
     [] {
       return with_llama31_rope(make(Arch::Llama, 4096, 14336, 32, 32, 8, 128256, 131072, 5e5f,
                                     1e-5f, false, 128000, {128001}));
     }},
    {"qwen3-8b", "Qwen/Qwen3-8B",
     [] {
       return make(Arch::Qwen3, 4096, 12288, 36, 32, 8, 151936, 40960, 1e6f, 1e-6f, false, 151643,
                   {151645});
     }},
    {"qwen2-1.5b", "Qwen/Qwen2-1.5B",
     [] {
       return make(Arch::Qwen2, 1536, 8960, 28, 12, 2, 151936, 131072, 1e6f, 1e-6f, true, 151643,
                   {151643});
     }},
    {"phi3-mini", "microsoft/Phi-3-mini-4k-instruct",
     [] {
       return make(Arch::Phi3, 3072, 8192, 32, 32, 32, 32064, 4096, 10000.f, 1e-5f, false, 1,
                   {32000}, 2047);
     }},
    {"yi-6b", "01-ai/Yi-6B",
     [] {
       return make(Arch::Llama, 4096, 11008, 32, 32, 4, 64000, 4096, 5e6f, 1e-5f, false, 1, {2});
     }},
    {"mistral-7b", "mistralai/Mistral-7B-v0.1",
     [] {
       return make(Arch::Mistral, 4096, 14336, 32, 32, 8, 32000, 32768, 10000.f, 1e-5f, false, 1,
                   {2}, 4096);
     }},
    {"qwen2.5-7b", "Qwen/Qwen2.5-7B",
     [] {
       return make(Arch::Qwen2, 3584, 18944, 28, 28, 4, 152064, 131072, 1e6f, 1e-6f, false, 151643,
                   {151643});
     }},
};

#if defined(__x86_64__)
// x86 F16C converts 8 floats per instruction with round-to-nearest-even: the same bits as
// float_to_half for every finite input. Compiled for F16C only here and used after a CPU check.
__attribute__((target("avx,f16c"))) void to_half_f16c(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = float_to_half(in[i]);
}
#endif

#if defined(__x86_64__)
// CPUID leaf 1: ECX bit 29 is F16C, bit 28 AVX, bit 27 OSXSAVE; XCR0 bits 1-2 say the OS saves
// the AVX registers. Read directly because clang 14 has no __builtin_cpu_supports("f16c").
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool f16c = (ecx >> 29) & 1u, avx = (ecx >> 28) & 1u, osxsave = (ecx >> 27) & 1u;
  if (!f16c || !avx || !osxsave) return false;
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  return (xcr0_lo & 0x6u) == 0x6u;
}
#endif

void to_half(const float* in, uint16_t* out, size_t n) {
#if defined(__x86_64__)
  static const bool f16c = cpu_has_f16c();
  if (f16c) {
    to_half_f16c(in, out, n);
    return;
  }
#endif
  for (size_t i = 0; i < n; ++i) out[i] = float_to_half(in[i]);
}

void write_all(int fd, const void* data, size_t n, uint64_t offset, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("{}: write failed ({}); is the disk full?", path, std::strerror(errno));
    }
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + fmt::format(".tmp-{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot create", tmp);
    out << text;
    out.flush();
    if (!out) fail("{}: write failed", tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::string scale_str(float s) {
  return fmt::format("{}", s);
}

}  // namespace

std::vector<std::string> synth_shape_names() {
  std::vector<std::string> names;
  for (const auto& s : kShapes) names.emplace_back(s.name);
  return names;
}

ModelConfig synth_shape(const std::string& name) {
  for (const auto& s : kShapes)
    if (name == s.name) return s.build();
  std::string known;
  for (const auto& s : kShapes) known += std::string(known.empty() ? "" : ", ") + s.name;
  fail("unknown synthetic shape '{}' (known: {})", name, known);
}

DType parse_synth_dtype(std::string_view name) {
  if (name == "f16" || name == "fp16" || name == "float16") return DType::F16;
  if (name == "bf16" || name == "bfloat16") return DType::BF16;
  if (name == "f32" || name == "fp32" || name == "float32") return DType::F32;
  fail("--dtype '{}': use f16, bf16 or f32", name);
}

void parse_outliers(const std::string& spec, SynthOptions& opts) {
  const auto colon = spec.find(':');
  int k = -1;
  float scale = 0.0f;
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no colon");
    size_t used = 0;
    k = std::stoi(spec.substr(0, colon), &used);
    if (used != colon) throw std::invalid_argument("K");
    const std::string s = spec.substr(colon + 1);
    scale = std::stof(s, &used);
    if (used != s.size()) throw std::invalid_argument("SCALE");
  } catch (const std::exception&) {
    fail("--outliers '{}': expected K:SCALE, e.g. 16:20 (16 dimensions, 20x larger)", spec);
  }
  if (k < 0) fail("--outliers '{}': K must be 0 or more", spec);
  if (!(scale > 0.0f) || !std::isfinite(scale))
    fail("--outliers '{}': SCALE must be a positive number", spec);
  opts.outlier_dims = k;
  opts.outlier_scale = scale;
}

SynthWeights parse_synth_weights(std::string_view name) {
  if (name == "scaled") return SynthWeights::Scaled;
  if (name == "legacy") return SynthWeights::Legacy;
  fail(
      "--weights '{}': use scaled (the default) or legacy (uniform std 0.02, outliers through "
      "the RMSNorm weights only)",
      name);
}

std::string_view synth_weights_name(SynthWeights w) {
  return w == SynthWeights::Legacy ? "legacy" : "scaled";
}

std::vector<SynthTensor> synth_tensors(const ModelConfig& c) {
  using K = SynthTensor::Kind;
  using R = SynthTensor::Role;
  const int64_t h = c.hidden_size, inter = c.intermediate_size, q = c.q_dim(), kv = c.kv_dim();
  std::vector<SynthTensor> t;
  t.push_back({"model.embed_tokens.weight", {c.vocab_size, h}, K::Random, R::Embed});
  for (int i = 0; i < c.num_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    auto add = [&](const std::string& name, std::vector<int64_t> shape, K kind, R role) {
      t.push_back({p + name, std::move(shape), kind, role, i});
    };
    add("input_layernorm.weight", {h}, K::LayerNorm, R::AttnNorm);
    if (c.arch == Arch::Phi3) {
      add("self_attn.qkv_proj.weight", {q + 2 * kv, h}, K::Random, R::Qkv);
    } else {
      add("self_attn.q_proj.weight", {q, h}, K::Random, R::Q);
      add("self_attn.k_proj.weight", {kv, h}, K::Random, R::K);
      add("self_attn.v_proj.weight", {kv, h}, K::Random, R::V);
    }
    if (c.qkv_bias) {
      add("self_attn.q_proj.bias", {q}, K::Random, R::Bias);
      add("self_attn.k_proj.bias", {kv}, K::Random, R::Bias);
      add("self_attn.v_proj.bias", {kv}, K::Random, R::Bias);
    }
    add("self_attn.o_proj.weight", {h, q}, K::Random, R::O);
    if (c.o_bias) add("self_attn.o_proj.bias", {h}, K::Random, R::Bias);
    if (c.qk_norm) {  // ones, as Qwen3 initialises them
      add("self_attn.q_norm.weight", {c.head_dim}, K::Ones, R::HeadNorm);
      add("self_attn.k_norm.weight", {c.head_dim}, K::Ones, R::HeadNorm);
    }
    add("post_attention_layernorm.weight", {h}, K::LayerNorm, R::MlpNorm);
    if (c.arch == Arch::Phi3) {
      add("mlp.gate_up_proj.weight", {2 * inter, h}, K::Random, R::GateUp);
    } else {
      add("mlp.gate_proj.weight", {inter, h}, K::Random, R::Gate);
      add("mlp.up_proj.weight", {inter, h}, K::Random, R::Up);
    }
    add("mlp.down_proj.weight", {h, inter}, K::Random, R::Down);
  }
  t.push_back({"model.norm.weight", {h}, K::Ones, R::FinalNorm});
  if (!c.tie_word_embeddings)
    t.push_back({"lm_head.weight", {c.vocab_size, h}, K::Random, R::LmHead});
  return t;
}

float synth_random_value(uint64_t seed, uint64_t tensor_index, uint64_t i) {
  return synth_detail::random_value(synth_detail::tensor_key(seed, tensor_index), i);
}

std::vector<int> synth_outlier_dims(uint64_t seed, int hidden_size, int k) {
  if (k < 0 || k > hidden_size)
    fail("--outliers: K = {} must be between 0 and hidden_size ({})", k, hidden_size);
  // Partial Fisher-Yates shuffle driven by the seed.
  std::vector<int> dims(static_cast<size_t>(hidden_size));
  for (int i = 0; i < hidden_size; ++i) dims[size_t(i)] = i;
  const uint64_t key = synth_detail::mix64(seed ^ 0x6f75746c69657273ull);  // "outliers"
  for (int i = 0; i < k; ++i) {
    const uint64_t j =
        uint64_t(i) + synth_detail::mix64(key + uint64_t(i)) % uint64_t(hidden_size - i);
    std::swap(dims[size_t(i)], dims[size_t(j)]);
  }
  dims.resize(size_t(k));
  std::sort(dims.begin(), dims.end());
  return dims;
}

namespace {

// The safetensors header of a plan: tensors laid out back to back in the plan's order.
struct SafetensorsLayout {
  std::string header;             // padded so the data section starts 8-byte aligned
  std::vector<uint64_t> offsets;  // per tensor, and the data size last
  uint64_t data_start() const { return 8 + header.size(); }
};

SafetensorsLayout layout_tensors(const SynthOptions& opts, const SynthPlan& plan) {
  const size_t elem = dtype_size(opts.dtype);
  nlohmann::ordered_json header;
  nlohmann::ordered_json meta;
  meta["format"] = "pt";  // transformers refuses safetensors files without it
  meta["generator"] = "ecocompute synth";
  meta["shape"] = opts.shape;
  meta["seed"] = std::to_string(opts.seed);
  meta["outliers"] = opts.outlier_dims > 0
                         ? fmt::format("{}:{}", opts.outlier_dims, scale_str(opts.outlier_scale))
                         : "none";
  meta["outlier_dims"] = fmt::format("{}", fmt::join(plan.dims, ","));
  meta["weights"] = std::string(synth_weights_name(opts.weights));
  meta["init"] = synth_weight_init(plan);
  header["__metadata__"] = meta;
  SafetensorsLayout layout;
  uint64_t data_size = 0;
  for (const auto& t : plan.tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    layout.offsets.push_back(data_size);
    header[t.name] = {{"dtype", dtype_name(opts.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {data_size, data_size + numel * elem}}};
    data_size += numel * elem;
  }
  layout.offsets.push_back(data_size);
  layout.header = header.dump();
  layout.header.resize((layout.header.size() + 7) / 8 * 8, ' ');
  return layout;
}

// Fills the data section in parallel, in work units of at most 2^20 elements (an even count, so
// element pairs never straddle two units).
void write_tensor_data(int fd, const std::string& path, const SynthOptions& opts,
                       const SynthPlan& plan, const SafetensorsLayout& layout) {
  const size_t elem = dtype_size(opts.dtype);
  struct Unit {
    size_t tensor;
    uint64_t begin, end;
  };
  constexpr uint64_t kUnit = uint64_t(1) << 20;
  std::vector<Unit> units;
  for (size_t t = 0; t < plan.tensors.size(); ++t) {
    const uint64_t numel = (layout.offsets[t + 1] - layout.offsets[t]) / elem;
    for (uint64_t b = 0; b < numel; b += kUnit) units.push_back({t, b, std::min(numel, b + kUnit)});
  }
  parallel_for(units.size(), [&](size_t ub, size_t ue) {
    std::vector<float> values;
    std::vector<uint16_t> halves;
    for (size_t u = ub; u < ue; ++u) {
      const Unit& unit = units[u];
      const size_t n = size_t(unit.end - unit.begin);
      values.resize(n);
      synth_fill(plan, unit.tensor, unit.begin, n, values.data());
      const void* bytes = values.data();
      if (elem == 2) {
        halves.resize(n);
        if (opts.dtype == DType::F16) {
          to_half(values.data(), halves.data(), n);
        } else {
          for (size_t k = 0; k < n; ++k) halves[k] = float_to_bf16(values[k]);
        }
        bytes = halves.data();
      }
      write_all(fd, bytes, n * elem,
                layout.data_start() + layout.offsets[unit.tensor] + unit.begin * elem, path);
    }
  });
}

// Writes model.safetensors through a temporary file renamed into place, so a crash never leaves
// a truncated model under the final name.
void write_safetensors(const std::filesystem::path& final_path, const SynthOptions& opts,
                       const SynthPlan& plan, const SafetensorsLayout& layout) {
  const std::string tmp_path = final_path.string() + fmt::format(".tmp-{}", ::getpid());
  const int fd = ::open(tmp_path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot create ({})", tmp_path, std::strerror(errno));
  std::error_code ec;
  try {
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = uint8_t(uint64_t(layout.header.size()) >> (8 * i));
    write_all(fd, len_bytes, 8, 0, tmp_path);
    write_all(fd, layout.header.data(), layout.header.size(), 8, tmp_path);
    write_tensor_data(fd, tmp_path, opts, plan, layout);
    if (::close(fd) != 0) fail("{}: close failed ({})", tmp_path, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    std::filesystem::remove(tmp_path, ec);
    throw;
  }
  std::filesystem::rename(tmp_path, final_path);
}

// synthetic.json: how the model was made, read back by resolve_model and by people.
std::string synthetic_record(const SynthOptions& opts, const SynthPlan& plan, const ModelConfig& c,
                             uint64_t file_bytes) {
  nlohmann::ordered_json record;
  record["generator"] = "ecocompute synth";
  record["shape"] = opts.shape;
  record["seed"] = opts.seed;
  record["dtype"] = dtype_name(opts.dtype);
  record["outlier_count"] = opts.outlier_dims;
  record["outlier_scale"] = opts.outlier_dims > 0 ? opts.outlier_scale : 1.0f;
  record["outlier_dims"] = plan.dims;
  record["tokenizer"] = opts.tokenizer_from.empty() ? "byte-level" : opts.tokenizer_from.string();
  record["weights"] = std::string(synth_weights_name(opts.weights));
  record["weight_init"] = synth_weight_init(plan);
  record["outlier_columns"] = {
      {"q_k_v_gate_up", plan.columns.hidden}, {"o", plan.columns.attn}, {"down", plan.columns.mlp}};
  record["parameter_count"] = c.parameter_count();
  record["file_bytes"] = file_bytes;
  return record.dump(2) + "\n";
}

}  // namespace

ModelConfig write_synthetic_model(const SynthOptions& opts, const std::filesystem::path& out_dir) {
  namespace fs = std::filesystem;
  if (opts.dtype != DType::F16 && opts.dtype != DType::BF16 && opts.dtype != DType::F32)
    fail("synthetic model dtype must be f16, bf16 or f32 (got {})", dtype_name(opts.dtype));
  if (!(opts.outlier_scale > 0.0f) || !std::isfinite(opts.outlier_scale))
    fail("--outliers: SCALE must be a positive number (got {})", opts.outlier_scale);
  ModelConfig c = synth_shape(opts.shape);
  c.dtype = opts.dtype;
  const SynthPlan plan = make_synth_plan(c, opts);
  const SafetensorsLayout layout = layout_tensors(opts, plan);

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) fail("{}: cannot create directory ({})", out_dir.string(), ec.message());
  // synthetic.json is written last and removed first: while it is absent, the directory is not
  // a complete synthetic model (resolve_model rewrites it).
  fs::remove(out_dir / "synthetic.json", ec);
  write_safetensors(out_dir / "model.safetensors", opts, plan, layout);
  write_text_file(out_dir / "config.json", config_to_json(c));
  // A tokenizer, so that text prompts work on synthetic models as on real ones.
  if (opts.tokenizer_from.empty()) {
    if (c.vocab_size >= 258)
      write_byte_level_tokenizer(out_dir, c.vocab_size, c.bos_token_id,
                                 c.eos_token_ids.empty() ? -1 : c.eos_token_ids.front());
  } else {
    copy_tokenizer(opts.tokenizer_from, out_dir, c.vocab_size);
  }
  write_text_file(out_dir / "synthetic.json",
                  synthetic_record(opts, plan, c, layout.data_start() + layout.offsets.back()));
  return c;
}

}  // namespace eco::model
