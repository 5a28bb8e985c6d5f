#include "model/config.h"

#include <cfloat>
#include <climits>
#include <cmath>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "model/json_input.h"

namespace eco::model {

using json = nlohmann::json;

namespace {

constexpr std::string_view kSupported = "llama, mistral, qwen2, phi3";

std::string_view json_type(const json& v) {
  return v.type_name();
}

// Typed access to config.json fields; every failure names the file and the field.
class FieldReader {
 public:
  FieldReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  // Present and not null.
  bool has(const char* key) const {
    auto it = root_.find(key);
    return it != root_.end() && !it->is_null();
  }
  const json& at(const char* key) const { return *root_.find(key); }

  int get_int(const char* key) const {
    if (!has(key)) fail("{}: required field '{}' is missing", source_, key);
    return to_int(at(key), key);
  }
  int get_int(const char* key, int fallback) const {
    return has(key) ? to_int(at(key), key) : fallback;
  }
  int positive_int(const char* key) const {
    const int v = get_int(key);
    if (v <= 0) fail("{}: field '{}' must be positive, found {}", source_, key, v);
    return v;
  }
  float get_float(const char* key, float fallback) const {
    if (!has(key)) return fallback;
    const json& v = at(key);
    if (!v.is_number())
      fail("{}: field '{}' must be a number, found {}", source_, key, json_type(v));
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > double(FLT_MAX))
      fail("{}: field '{}' is out of range ({})", source_, key, d);
    return float(d);
  }
  bool get_bool(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& v = at(key);
    if (!v.is_boolean())
      fail("{}: field '{}' must be true or false, found {}", source_, key, json_type(v));
    return v.get<bool>();
  }
  std::string get_string(const char* key) const {
    if (!has(key)) fail("{}: required field '{}' is missing", source_, key);
    const json& v = at(key);
    if (!v.is_string())
      fail("{}: field '{}' must be a string, found {}", source_, key, json_type(v));
    return v.get<std::string>();
  }

  int to_int(const json& v, std::string_view what) const {
    if (v.is_number_unsigned()) {
      const auto u = v.get<uint64_t>();
      if (u > uint64_t(INT_MAX)) fail("{}: field '{}' is too large ({})", source_, what, u);
      return int(u);
    }
    if (v.is_number_integer()) {
      const auto i = v.get<int64_t>();
      if (i < INT_MIN || i > INT_MAX) fail("{}: field '{}' is out of range ({})", source_, what, i);
      return int(i);
    }
    fail("{}: field '{}' must be an integer, found {}", source_, what, json_type(v));
  }

 private:
  const json& root_;
  const std::string& source_;
};

DType parse_torch_dtype(std::string name, const std::string& source, const char* key) {
  if (name.starts_with("torch.")) name = name.substr(6);
  if (name == "float16" || name == "half") return DType::F16;
  if (name == "bfloat16") return DType::BF16;
  if (name == "float32" || name == "float") return DType::F32;
  fail("{}: field '{}' is '{}'; supported: float16, bfloat16, float32", source, key, name);
}

// The rope type named by a rope_scaling / rope_parameters object ("rope_type", or the older
// "type"); "default" when it names none.
std::string rope_type_of(const json& obj, const std::string& source, const char* key) {
  for (const char* k : {"rope_type", "type"}) {
    auto it = obj.find(k);
    if (it == obj.end() || it->is_null()) continue;
    if (!it->is_string())
      fail("{}: field '{}.{}' must be a string, found {}", source, key, k, json_type(*it));
    return it->get<std::string>();
  }
  return "default";
}

void check_rope(const FieldReader& f, const json& root, ModelConfig& c, const std::string& src) {
  bool theta_found = false;
  if (f.has("rope_theta")) {
    c.rope_theta = f.get_float("rope_theta", 10000.0f);
    theta_found = true;
  }
  if (f.has("rope_parameters")) {
    const json& rp = root.at("rope_parameters");
    if (!rp.is_object())
      fail("{}: field 'rope_parameters' must be an object, found {}", src, json_type(rp));
    const std::string type = rope_type_of(rp, src, "rope_parameters");
    if (type != "default")
      fail(
          "{}: rope_parameters type '{}' is not supported (only unscaled RoPE, type 'default', "
          "is implemented)",
          src, type);
    FieldReader rpf(rp, src);
    if (rpf.has("rope_theta")) {
      c.rope_theta = rpf.get_float("rope_theta", c.rope_theta);
      theta_found = true;
    } else if (!theta_found) {
      fail("{}: rope_parameters has no 'rope_theta' and there is none at top level", src);
    }
    if (rpf.has("partial_rotary_factor") && rpf.get_float("partial_rotary_factor", 1.0f) != 1.0f)
      fail(
          "{}: rope_parameters.partial_rotary_factor {} is not supported (only full rotary "
          "embeddings, factor 1)",
          src, rpf.get_float("partial_rotary_factor", 1.0f));
  }
  if (!(c.rope_theta > 0.0f) || !std::isfinite(c.rope_theta))
    fail("{}: rope_theta must be a positive number, found {}", src, c.rope_theta);

  if (f.has("rope_scaling")) {
    const json& rs = root.at("rope_scaling");
    if (!rs.is_object())
      fail("{}: field 'rope_scaling' must be an object or null, found {}", src, json_type(rs));
    const std::string type = rope_type_of(rs, src, "rope_scaling");
    if (c.arch == Arch::Phi3 && (type == "longrope" || type == "su" || type == "yarn"))
      fail(
          "{}: rope_scaling type '{}' is not supported: Phi-3 long-context (128k) variants need "
          "LongRoPE; use a 4k-context Phi-3 model",
          src, type);
    if (type != "default")
      fail("{}: rope_scaling type '{}' is not supported (only unscaled RoPE is implemented)", src,
           type);
  }
  if (f.has("partial_rotary_factor") && f.get_float("partial_rotary_factor", 1.0f) != 1.0f)
    fail("{}: partial_rotary_factor {} is not supported (only full rotary embeddings, factor 1)",
         src, f.get_float("partial_rotary_factor", 1.0f));
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
  }
  return "?";
}

Arch parse_arch(std::string_view model_type, std::string_view source) {
  for (Arch a : {Arch::Llama, Arch::Mistral, Arch::Qwen2, Arch::Phi3})
    if (arch_name(a) == model_type) return a;
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

  // transformers' per-class defaults when the field is absent.
  c.rms_norm_eps = f.get_float("rms_norm_eps", c.arch == Arch::Phi3 ? 1e-5f : 1e-6f);
  if (!(c.rms_norm_eps > 0.0f) || !std::isfinite(c.rms_norm_eps))
    fail("{}: rms_norm_eps must be a positive number, found {}", source, c.rms_norm_eps);
  check_rope(f, root, c, source);

  if (f.has("hidden_act")) {
    const std::string act = f.get_string("hidden_act");
    if (act != "silu" && act != "swish")
      fail("{}: hidden_act '{}' is not supported (the MLP is SwiGLU: silu)", source, act);
  }
  if (f.get_bool("mlp_bias", false))
    fail("{}: mlp_bias true is not supported (MLP projections without bias only)", source);

  c.tie_word_embeddings = f.get_bool("tie_word_embeddings", false);
  switch (c.arch) {
    case Arch::Qwen2:  // Qwen2Attention: q/k/v always carry a bias, o_proj never
      c.qkv_bias = true;
      if (f.get_bool("use_sliding_window", false))
        c.sliding_window = f.get_int("sliding_window", 0);
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

  const std::vector<int> bos = token_ids(f, "bos_token_id", source);
  if (bos.size() > 1) fail("{}: bos_token_id must be one integer, found a list", source);
  c.bos_token_id = bos.empty() ? -1 : bos[0];
  c.eos_token_ids = token_ids(f, "eos_token_id", source);

  if (f.has("torch_dtype")) {
    c.dtype = parse_torch_dtype(f.get_string("torch_dtype"), source, "torch_dtype");
  } else if (f.has("dtype")) {
    c.dtype = parse_torch_dtype(f.get_string("dtype"), source, "dtype");
  }
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

}  // namespace

std::string config_to_json(const ModelConfig& c) {
  nlohmann::ordered_json j;
  static constexpr const char* kClass[] = {"LlamaForCausalLM", "MistralForCausalLM",
                                           "Qwen2ForCausalLM", "Phi3ForCausalLM"};
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
  j["rope_scaling"] = nullptr;
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
      j["use_sliding_window"] = c.sliding_window > 0;
      j["sliding_window"] = window;
      j["max_window_layers"] = c.num_layers;
      break;
    case Arch::Phi3: {
      j["sliding_window"] = window;
      j["original_max_position_embeddings"] = c.max_position_embeddings;
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
