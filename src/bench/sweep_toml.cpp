#include "bench/sweep_toml.h"

// toml++ as a header-only library (Debian's libtomlplusplus-dev): no shared library to carry
// to the GPU host.
#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 1
#include <toml++/toml.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eco::bench {
namespace {

nlohmann::json to_json(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [key, value] : *t) o[std::string(key.str())] = to_json(value);
    return o;
  }
  if (const auto* a = node.as_array()) {
    nlohmann::json o = nlohmann::json::array();
    for (const auto& value : *a) o.push_back(to_json(value));
    return o;
  }
  if (const auto* v = node.as_string()) return v->get();
  if (const auto* v = node.as_integer()) return v->get();
  if (const auto* v = node.as_floating_point()) return v->get();
  if (const auto* v = node.as_boolean()) return v->get();
  std::ostringstream text;  // dates, times, date-times
  node.visit([&](const auto& n) { text << n; });
  return text.str();
}

}  // namespace

nlohmann::json toml_to_json(const std::string& text, const std::string& source) {
  try {
    const toml::table table = toml::parse(text, source);
    return to_json(table);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    fail("{}: not valid TOML at line {}, column {}: {}", source, at.line, at.column,
         e.description());
  }
}

}  // namespace eco::bench
