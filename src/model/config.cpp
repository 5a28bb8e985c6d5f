#include "model/config.h"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "model/config_fields.h"
#include "model/json_input.h"

namespace eco::model {

using json = nlohmann::json;
using config_detail::FieldReader;
using config_detail::json_type;

namespace {

constexpr std::string_view kSupported = "llama, mistral, qwen2, qwen3, phi3";

DType parse_torch_dtype(std::string name, const std::string& source, const char* key) {
  if (name.starts_with("torch.")) name = name.substr(6);
  if (name == "float16" || name == "half") return DType::F16;
  if (name == "bfloat16") return DType::BF16;
  if (name == "float32" || name == "float") return DType::F32;
  fail("{}: field '{}' is '{}'; supported: float16, bfloat16, float32", source, key, name);
}

std::vector<int> token_ids(const FieldReader& f, const char* key, const std::string& source) {
  std::vector<int> ids;
  if (!f.has(key)) return ids;
  const json& v = f.at(key);
  if (v.is_array()) {
    for (const auto& e : v) ids.push_back(f.to_int(e, key));
  } else {
    ids.push_back(f.to_int(v, key));
  }
  for (int id : ids)
    if (id < 0) fail("{}: field '{}' holds a negative token id ({})", source, key, id);
  return ids;
}

// Per-layer attention kinds of Qwen2/Qwen3: layer_types when given, else (configs older than
// layer_types) the layers from max_window_layers on are sliding ones.
std::vector<bool> qwen_sliding_layers(const FieldReader& f, const ModelConfig& c,
                                      const std::string& src, bool window_declared) {
  std::vector<bool> sliding(size_t(c.num_layers), false);
  if (f.has("layer_types")) {
    const json& v = f.at("layer_types");
    if (!v.is_array() || int(v.size()) != c.num_layers)
      fail("{}: field 'layer_types' must list one entry per layer ({}), found {}", src,
           c.num_layers, v.is_array() ? std::to_string(v.size()) : std::string(json_type(v)));
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string kind = v[i].is_string() ? v[i].get<std::string>() : v[i].dump();
      if (kind != "full_attention" && kind != "sliding_attention")
        fail("{}: layer_types[{}] is '{}'; supported: full_attention, sliding_attention", src, i,
             kind);
      sliding[i] = kind == "sliding_attention";
    }
    return sliding;
  }
  const int first = f.get_int("max_window_layers", 28);  // Qwen2Config / Qwen3Config default
  for (int i = 0; i < c.num_layers; ++i) sliding[size_t(i)] = window_declared && i >= first;
  return sliding;
}

// Qwen2/Qwen3 use sliding_window only with use_sliding_window, and only in sliding layers. The
// engines apply one window to every layer, so a mix of both kinds is refused.
int qwen_window(const FieldReader& f, const ModelConfig& c, const std::string& src) {
  const int window = f.get_bool("use_sliding_window", false) ? f.get_int("sliding_window", 0) : 0;
  const std::vector<bool> sliding = qwen_sliding_layers(f, c, src, window > 0);
  if (window <= 0) return 0;
  const auto n = std::count(sliding.begin(), sliding.end(), true);
  if (n == 0) return 0;
  if (n != int64_t(sliding.size()))
    fail(
        "{}: {} of {} layers use sliding-window attention (layer_types / max_window_layers); "
        "a mix of sliding and full-attention layers is not supported",
        src, n, sliding.size());
  return window;
}

// Biases, per-head norms and the sliding window, as each architecture's attention reads them.
void read_attention_layout(const FieldReader& f, ModelConfig& c, const std::string& source) {
  switch (c.arch) {
    case Arch::Qwen2:  // Qwen2Attention: q/k/v always carry a bias, o_proj never
      c.qkv_bias = true;
      c.sliding_window = qwen_window(f, c, source);
      break;
    case Arch::Qwen3:  // Qwen3Attention: q_norm/k_norm; attention_bias for q, k, v and o
      c.qk_norm = true;
      c.qkv_bias = c.o_bias = f.get_bool("attention_bias", false);
      c.sliding_window = qwen_window(f, c, source);
      break;
    case Arch::Llama:  // LlamaAttention: attention_bias applies to q, k, v and o
      c.qkv_bias = c.o_bias = f.get_bool("attention_bias", false);
      break;
    case Arch::Mistral:
    case Arch::Phi3:
      c.sliding_window = f.get_int("sliding_window", 0);
      break;
  }
  if (c.sliding_window < 0)
    fail("{}: sliding_window must be positive or null, found {}", source, c.sliding_window);
}

// Layer sizes, head layout and the bounds that keep tensor sizes far from int64 overflow.
void read_sizes(const FieldReader& f, ModelConfig& c, const std::string& source) {
  c.hidden_size = f.positive_int("hidden_size");
  c.intermediate_size = f.positive_int("intermediate_size");
  c.num_layers = f.positive_int("num_hidden_layers");
  c.num_heads = f.positive_int("num_attention_heads");
  c.num_kv_heads =
      f.has("num_key_value_heads") ? f.positive_int("num_key_value_heads") : c.num_heads;
  c.vocab_size = f.positive_int("vocab_size");
  c.max_position_embeddings = f.positive_int("max_position_embeddings");

  if (f.has("head_dim")) {
    c.head_dim = f.positive_int("head_dim");
  } else if (c.arch == Arch::Qwen3) {
    c.head_dim = 128;  // Qwen3Config's default, not hidden_size / heads
  } else {
    if (c.hidden_size % c.num_heads != 0)
      fail(
          "{}: hidden_size {} is not divisible by num_attention_heads {} (and there is no "
          "head_dim)",
          source, c.hidden_size, c.num_heads);
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.num_heads % c.num_kv_heads != 0)
    fail("{}: num_attention_heads {} is not divisible by num_key_value_heads {}", source,
         c.num_heads, c.num_kv_heads);
  // Bounds that keep every tensor size computed from the config far from int64 overflow.
  if (int64_t(c.num_heads) * c.head_dim > (1 << 20) || c.hidden_size > (1 << 20) ||
      c.intermediate_size > (1 << 22) || c.num_layers > 4096)
    fail(
        "{}: sizes are implausibly large (hidden {}, intermediate {}, heads x head_dim {}, "
        "layers {})",
        source, c.hidden_size, c.intermediate_size, int64_t(c.num_heads) * c.head_dim,
        c.num_layers);
}

// The engines implement one MLP: SwiGLU without biases.
void check_mlp(const FieldReader& f, const std::string& source) {
  if (f.has("hidden_act")) {
    const std::string act = f.get_string("hidden_act");
    if (act != "silu" && act != "swish")
      fail("{}: hidden_act '{}' is not supported (the MLP is SwiGLU: silu)", source, act);
  }
  if (f.get_bool("mlp_bias", false))
    fail("{}: mlp_bias true is not supported (MLP projections without bias only)", source);
}

// Special token ids and the checkpoint's stored dtype (torch_dtype, or dtype in newer configs).
void read_tokens_and_dtype(const FieldReader& f, ModelConfig& c, const std::string& source) {
  const std::vector<int> bos = token_ids(f, "bos_token_id", source);
  if (bos.size() > 1) fail("{}: bos_token_id must be one integer, found a list", source);
  c.bos_token_id = bos.empty() ? -1 : bos[0];
  c.eos_token_ids = token_ids(f, "eos_token_id", source);

  if (f.has("torch_dtype")) {
    c.dtype = parse_torch_dtype(f.get_string("torch_dtype"), source, "torch_dtype");
  } else if (f.has("dtype")) {
    c.dtype = parse_torch_dtype(f.get_string("dtype"), source, "dtype");
  }
}

// The fields of a parsed config.json (parse_config catches what the JSON library throws).
ModelConfig parse_config_object(const json& root, const std::string& source);

}  // namespace

std::string_view arch_name(Arch a) {
  switch (a) {
    case Arch::Llama:
      return "llama";
    case Arch::Mistral:
      return "mistral";
    case Arch::Qwen2:
      return "qwen2";
    case Arch::Phi3:
      return "phi3";
    case Arch::Qwen3:
      return "qwen3";
  }
  return "?";
}

Arch parse_arch(std::string_view model_type, std::string_view source) {
  for (Arch a : {Arch::Llama, Arch::Mistral, Arch::Qwen2, Arch::Phi3, Arch::Qwen3})
    if (arch_name(a) == model_type) return a;
  if (model_type.ends_with("_moe") || model_type == "mixtral")
    fail(
        "{}: model_type '{}' is a mixture-of-experts model, which is not supported (dense models "
        "only: {})",
        source, model_type, kSupported);
  fail("{}: model_type '{}' is not supported (supported: {})", source, model_type, kSupported);
}

int64_t ModelConfig::parameter_count() const {
  const int64_t h = hidden_size, inter = intermediate_size, q = q_dim(), kv = kv_dim();
  int64_t per_layer = 2 * h               // input and post-attention RMSNorm
                      + h * (q + 2 * kv)  // q, k, v projections
                      + q * h             // o projection
                      + 3 * h * inter;    // gate, up, down
  if (qkv_bias) per_layer += q + 2 * kv;
  if (o_bias) per_layer += h;
  if (qk_norm) per_layer += 2 * int64_t(head_dim);
  const int64_t embed = int64_t(vocab_size) * h;
  return embed + (tie_word_embeddings ? 0 : embed) + h + per_layer * num_layers;
}

ModelConfig parse_config(const std::string& json_text, const std::string& source) {
  const json root = parse_json_text(json_text, source);
  try {
    return parse_config_object(root, source);
  } catch (const json::exception& e) {
    // The field reader checks types before reading; this names the file should one slip past.
    fail("{}: unexpected content ({})", source, e.what());
  }
}

namespace {

ModelConfig parse_config_object(const json& root, const std::string& source) {
  if (!root.is_object())
    fail("{}: config must be a JSON object, found {}", source, json_type(root));
  const FieldReader f(root, source);

  ModelConfig c;
  c.model_type = f.get_string("model_type");
  c.arch = parse_arch(c.model_type, source);

  if (f.has("quantization_config"))
    fail(
        "{}: this is a pre-quantized checkpoint (quantization_config); ecocompute quantizes "
        "itself: use the float16/bfloat16 original",
        source);

  read_sizes(f, c, source);

  // transformers' per-class defaults when the field is absent.
  c.rms_norm_eps = f.get_float("rms_norm_eps", c.arch == Arch::Phi3 ? 1e-5f : 1e-6f);
  if (!(c.rms_norm_eps > 0.0f) || !std::isfinite(c.rms_norm_eps))
    fail("{}: rms_norm_eps must be a positive number, found {}", source, c.rms_norm_eps);
  config_detail::parse_rope_fields(f, root, c, source);

  check_mlp(f, source);
  c.tie_word_embeddings = f.get_bool("tie_word_embeddings", false);
  read_attention_layout(f, c, source);
  read_tokens_and_dtype(f, c, source);
  return c;
}

}  // namespace

ModelConfig load_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  if (file_kind(path) == "missing")
    fail("{}: cannot open (is '{}' a Hugging Face model directory?)", path.string(),
         model_dir.string());
  return parse_config(read_regular_file(path, kMaxConfigBytes, "config.json"), path.string());
}

namespace {

// The shortest decimal that reads back as `f` (so 1e-6f is written 1e-06, not 9.99999997e-07).
double tidy(float f) {
  return std::stod(fmt::format("{}", f));
}

json token_json(const std::vector<int>& ids) {
  if (ids.empty()) return nullptr;
  if (ids.size() == 1) return ids[0];
  return ids;
}

// rope_scaling as transformers 4.x writes it (transformers 5 reads it too); null when unscaled.
nlohmann::ordered_json rope_scaling_json(const ModelConfig& c) {
  const RopeScaling& r = c.rope;
  if (r.type == RopeType::Default) return nullptr;
  nlohmann::ordered_json j;
  j["rope_type"] = rope_type_name(r.type);
  j["factor"] = r.factor;
  switch (r.type) {
    case RopeType::Llama3:
      j["low_freq_factor"] = r.low_freq_factor;
      j["high_freq_factor"] = r.high_freq_factor;
      break;
    case RopeType::Yarn:
      j["beta_fast"] = r.beta_fast;
      j["beta_slow"] = r.beta_slow;
      if (r.mscale != 0.0) j["mscale"] = r.mscale;
      if (r.mscale_all_dim != 0.0) j["mscale_all_dim"] = r.mscale_all_dim;
      if (!r.truncate) j["truncate"] = false;
      break;
    case RopeType::LongRope:
      j["short_factor"] = r.short_factor;
      j["long_factor"] = r.long_factor;
      break;
    default:
      break;
  }
  if (r.attention_factor > 0.0) j["attention_factor"] = r.attention_factor;
  if (r.original_max_positions > 0)
    j["original_max_position_embeddings"] = r.original_max_positions;
  return j;
}

}  // namespace

std::string config_to_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  static constexpr const char* kClass[] = {"LlamaForCausalLM", "MistralForCausalLM",
                                           "Qwen2ForCausalLM", "Phi3ForCausalLM",
                                           "Qwen3ForCausalLM"};
  j["architectures"] = {kClass[int(c.arch)]};
  j["model_type"] = arch_name(c.arch);
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_layers;
  j["num_attention_heads"] = c.num_heads;
  j["num_key_value_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = tidy(c.rms_norm_eps);
  j["rope_theta"] = tidy(c.rope_theta);
  j["rope_scaling"] = rope_scaling_json(c);
  j["hidden_act"] = "silu";
  j["initializer_range"] = 0.02;
  j["attention_dropout"] = 0.0;
  j["use_cache"] = true;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id >= 0 ? json(c.bos_token_id) : json(nullptr);
  j["eos_token_id"] = token_json(c.eos_token_ids);
  j["torch_dtype"] = c.dtype == DType::F16    ? "float16"
                     : c.dtype == DType::BF16 ? "bfloat16"
                                              : "float32";
  const json window = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  switch (c.arch) {
    case Arch::Llama:
      if (c.qkv_bias != c.o_bias)
        fail("config_to_json: a llama config has one attention_bias for q/k/v and o");
      j["attention_bias"] = c.qkv_bias;
      j["mlp_bias"] = false;
      j["pretraining_tp"] = 1;
      break;
    case Arch::Mistral:
      j["sliding_window"] = window;
      break;
    case Arch::Qwen2:
    case Arch::Qwen3:
      if (c.arch == Arch::Qwen3) {
        if (c.qkv_bias != c.o_bias)
          fail("config_to_json: a qwen3 config has one attention_bias for q/k/v and o");
        j["attention_bias"] = c.qkv_bias;
      }
      j["use_sliding_window"] = c.sliding_window > 0;
      j["sliding_window"] = window;
      // Layers from max_window_layers on use the window: all of them, or none.
      j["max_window_layers"] = c.sliding_window > 0 ? 0 : c.num_layers;
      break;
    case Arch::Phi3: {
      j["sliding_window"] = window;
      j["original_max_position_embeddings"] = c.rope.original_max_positions > 0
                                                  ? c.rope.original_max_positions
                                                  : c.max_position_embeddings;
      j["resid_pdrop"] = 0.0;
      j["embd_pdrop"] = 0.0;
      // Phi3Model builds its embedding with padding_idx = pad_token_id, which must be a valid id.
      const int eos = c.eos_token_ids.empty() ? -1 : c.eos_token_ids[0];
      j["pad_token_id"] = eos >= 0 && eos < c.vocab_size ? json(eos) : json(nullptr);
      break;
    }
  }
  return j.dump(2) + "\n";
}

}  // namespace eco::model
