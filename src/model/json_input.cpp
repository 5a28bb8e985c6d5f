#include "model/json_input.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"

namespace eco::model {

int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

nlohmann::json parse_json_text(std::string_view text, const std::string& source,
                               std::string_view hint) {
  const int depth = json_depth(text);
  if (depth > kMaxJsonDepth)
    fail("{}: JSON nested {} levels deep, more than the {} any model file needs{}", source, depth,
         kMaxJsonDepth, hint);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({}){}", source, e.what(), hint);
  }
}

nlohmann::json read_json_file(const std::filesystem::path& path, size_t max_bytes,
                              std::string_view what, std::string_view hint) {
  return parse_json_text(read_regular_file(path, max_bytes, what), path.string(), hint);
}

}  // namespace eco::model
