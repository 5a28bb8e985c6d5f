// The RoPE fields of config.json as transformers 4.x (rope_theta, rope_scaling) and 5.x
// (rope_parameters holding rope_theta and the scaling) write them. Values are resolved with
// transformers 5's rules (RotaryEmbeddingConfigMixin.standardize_rope_params and the
// _compute_*_parameters functions), so model/rope.cpp needs nothing but the ModelConfig.
#include <algorithm>
#include <array>
#include <string>

#include "model/config_fields.h"

namespace eco::model {

std::string_view rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::Default:
      return "default";
    case RopeType::Linear:
      return "linear";
    case RopeType::Dynamic:
      return "dynamic";
    case RopeType::Llama3:
      return "llama3";
    case RopeType::Yarn:
      return "yarn";
    case RopeType::LongRope:
      return "longrope";
  }
  return "?";
}

namespace config_detail {
namespace {

constexpr std::array kRopeTypes = {RopeType::Default, RopeType::Linear, RopeType::Dynamic,
                                   RopeType::Llama3,  RopeType::Yarn,   RopeType::LongRope};

// The type a rope_scaling / rope_parameters object names ("rope_type", or the older "type");
// "default" when it names none.
RopeType rope_type_of(const json& obj, Arch arch, const std::string& src, const char* key) {
  std::string name = "default";
  for (const char* k : {"rope_type", "type"}) {
    auto it = obj.find(k);
    if (it == obj.end() || it->is_null()) continue;
    if (!it->is_string())
      fail("{}: field '{}.{}' must be a string, found {}", src, key, k, json_type(*it));
    name = it->get<std::string>();
    break;
  }
  // The first Phi-3 long-context configs called LongRoPE "su" (and briefly "yarn");
  // Phi3Config renames both to longrope.
  if (arch == Arch::Phi3 && (name == "su" || name == "yarn")) name = "longrope";
  for (RopeType t : kRopeTypes)
    if (rope_type_name(t) == name) return t;
  fail(
      "{}: {} type '{}' is not supported (supported: default, linear, dynamic, llama3, yarn, "
      "longrope)",
      src, key, name);
}

double positive(const FieldReader& r, const char* key, const std::string& where) {
  if (!r.has(key)) fail("{}: {} needs the field '{}'", r.source(), where, key);
  const double v = r.get_double(key, 0.0);
  if (!(v > 0.0)) fail("{}: field '{}' must be positive, found {}", r.source(), key, v);
  return v;
}

// A longrope factor list: one positive number per rotated pair (head_dim / 2).
std::vector<double> factor_list(const FieldReader& r, const char* key, int pairs) {
  if (!r.has(key)) fail("{}: longrope needs the field '{}'", r.source(), key);
  const json& v = r.at(key);
  if (!v.is_array() || int(v.size()) != pairs)
    fail("{}: field '{}' must be a list of {} numbers (head_dim / 2), found {}", r.source(), key,
         pairs, v.is_array() ? std::to_string(v.size()) + " entries" : std::string(json_type(v)));
  std::vector<double> out;
  for (const json& e : v) {
    if (!e.is_number() || !(e.get<double>() > 0.0) || !std::isfinite(e.get<double>()))
      fail("{}: field '{}' must hold positive numbers, found {}", r.source(), key, e.dump());
    out.push_back(e.get<double>());
  }
  return out;
}

// Phi3Config's default for original_max_position_embeddings.
constexpr int kPhi3OriginalContext = 4096;

// transformers 5 (standardize_rope_params) reads the pretraining context from a top-level
// original_max_position_embeddings before the scaling object's own, else max_position_embeddings.
// Phi3Config always has the top-level attribute (4096 when config.json omits it), so for Phi-3
// the scaling object's own value never counts.
int original_max(const FieldReader& top, const FieldReader& r, const ModelConfig& c) {
  const char* key = "original_max_position_embeddings";
  if (top.has(key)) return top.positive_int(key);
  if (c.arch == Arch::Phi3) return kPhi3OriginalContext;
  return r.has(key) ? r.positive_int(key) : c.max_position_embeddings;
}

void parse_scaling(const FieldReader& top, const FieldReader& r, ModelConfig& c) {
  RopeScaling& s = c.rope;
  const std::string where(rope_type_name(s.type));
  switch (s.type) {
    case RopeType::Default:
      return;
    case RopeType::Linear:
    case RopeType::Dynamic:
      s.factor = positive(r, "factor", where);
      return;
    case RopeType::Llama3:
      s.factor = positive(r, "factor", where);
      s.low_freq_factor = positive(r, "low_freq_factor", where);
      s.high_freq_factor = positive(r, "high_freq_factor", where);
      if (s.high_freq_factor == s.low_freq_factor)
        fail("{}: llama3 needs high_freq_factor != low_freq_factor (both {})", r.source(),
             s.low_freq_factor);
      s.original_max_positions = original_max(top, r, c);
      return;
    case RopeType::Yarn:
      s.factor = positive(r, "factor", where);
      s.original_max_positions = original_max(top, r, c);
      if (r.has("attention_factor")) s.attention_factor = positive(r, "attention_factor", where);
      // transformers writes `get("beta_fast") or 32`: 0 also means the default.
      if (r.get_double("beta_fast", 0.0) != 0.0) s.beta_fast = r.get_double("beta_fast", 32.0);
      if (r.get_double("beta_slow", 0.0) != 0.0) s.beta_slow = r.get_double("beta_slow", 1.0);
      s.mscale = r.get_double("mscale", 0.0);
      s.mscale_all_dim = r.get_double("mscale_all_dim", 0.0);
      s.truncate = r.get_bool("truncate", true);
      return;
    case RopeType::LongRope: {
      const int pairs = c.head_dim / 2;
      s.short_factor = factor_list(r, "short_factor", pairs);
      s.long_factor = factor_list(r, "long_factor", pairs);
      s.original_max_positions = original_max(top, r, c);
      // Without a factor, the ratio of the extended to the pretraining context (Phi-3).
      s.factor = r.has("factor") ? positive(r, "factor", where)
                                 : double(c.max_position_embeddings) / s.original_max_positions;
      if (r.has("attention_factor")) s.attention_factor = positive(r, "attention_factor", where);
      return;
    }
  }
}

void refuse_partial_rotary(const FieldReader& r, const std::string& what) {
  if (r.has("partial_rotary_factor") && r.get_double("partial_rotary_factor", 1.0) != 1.0)
    fail("{}: {}partial_rotary_factor {} is not supported (only full rotary embeddings, factor 1)",
         r.source(), what, r.get_double("partial_rotary_factor", 1.0));
}

// rope_parameters keyed by layer type ({"full_attention": {...}, "sliding_attention": {...}})
// gives each kind of layer its own RoPE; the engines have one table for all layers.
void refuse_nested(const json& obj, const std::string& src, const char* key) {
  for (const char* layer_type : {"full_attention", "sliding_attention", "chunked_attention"})
    if (obj.contains(layer_type) && obj.at(layer_type).is_object())
      fail("{}: {} holds one RoPE per layer type ('{}'); only one RoPE for all layers is supported",
           src, key, layer_type);
}

}  // namespace

void parse_rope_fields(const FieldReader& f, const json& root, ModelConfig& c,
                       const std::string& src) {
  bool theta_found = false;
  if (f.has("rope_theta")) {
    c.rope_theta = f.get_float("rope_theta", 10000.0f);
    theta_found = true;
  }
  refuse_partial_rotary(f, "");
  // transformers 5 moves a 4.x rope_scaling into rope_parameters; a non-empty rope_scaling wins.
  const json* scaling = nullptr;
  const char* key = nullptr;
  for (const char* k : {"rope_parameters", "rope_scaling"}) {
    if (!f.has(k)) continue;
    const json& obj = root.at(k);
    if (!obj.is_object())
      fail("{}: field '{}' must be an object or null, found {}", src, k, json_type(obj));
    refuse_nested(obj, src, k);
    if (std::string(k) == "rope_parameters" || !obj.empty()) scaling = &obj, key = k;
  }
  if (scaling != nullptr) {
    const std::string where = fmt::format("{} ({})", src, key);
    const FieldReader r(*scaling, where);
    if (r.has("rope_theta")) {
      c.rope_theta = r.get_float("rope_theta", c.rope_theta);
      theta_found = true;
    } else if (!theta_found && std::string(key) == "rope_parameters") {
      fail("{}: rope_parameters has no 'rope_theta' and there is none at top level", src);
    }
    refuse_partial_rotary(r, std::string(key) + ".");
    c.rope.type = rope_type_of(*scaling, c.arch, src, key);
    // Phi3Config.validate_rope refuses every other type, so no Phi-3 checkpoint carries one.
    if (c.arch == Arch::Phi3 && c.rope.type != RopeType::Default &&
        c.rope.type != RopeType::LongRope)
      fail(
          "{}: {} type '{}' is not valid for phi3 (transformers' Phi3Config accepts only "
          "longrope, or no scaling)",
          src, key, rope_type_name(c.rope.type));
    parse_scaling(f, r, c);
  }
  if (!(c.rope_theta > 0.0f) || !std::isfinite(c.rope_theta))
    fail("{}: rope_theta must be a positive number, found {}", src, c.rope_theta);
}

}  // namespace config_detail
}  // namespace eco::model
