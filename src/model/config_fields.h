#pragma once
// Typed reading of config.json fields (config.cpp, rope_config.cpp): every failure names the
// file and the field.
#include <cfloat>
#include <climits>
#include <cmath>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/config.h"

namespace eco::model::config_detail {

using json = nlohmann::json;

inline std::string_view json_type(const json& v) {
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
  double get_double(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = at(key);
    if (!v.is_number())
      fail("{}: field '{}' must be a number, found {}", source_, key, json_type(v));
    const double d = v.get<double>();
    if (!std::isfinite(d)) fail("{}: field '{}' is out of range ({})", source_, key, d);
    return d;
  }
  float get_float(const char* key, float fallback) const {
    if (!has(key)) return fallback;
    const double d = get_double(key, fallback);
    if (std::fabs(d) > double(FLT_MAX))
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

  const std::string& source() const { return source_; }

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

// Parses the rope_theta / rope_parameters / rope_scaling / partial_rotary_factor fields into
// c.rope_theta and c.rope (needs c.arch, head_dim and max_position_embeddings already read).
void parse_rope_fields(const FieldReader& f, const json& root, ModelConfig& c,
                       const std::string& source);

}  // namespace eco::model::config_detail
