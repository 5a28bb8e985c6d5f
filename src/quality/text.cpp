#include "quality/text.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eco::quality {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path, std::string_view option) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status))
    fail("{} {}: no such file; give the path of an existing file", option, path.string());
  if (fs::is_directory(status))
    fail("{} {}: is a directory; give the path of a file", option, path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{} {}: cannot open the file (check its permissions)", option, path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{} {}: reading the file failed", option, path.string());
  if (ss.str().empty()) fail("{} {}: the file is empty", option, path.string());
  return ss.str();
}

namespace {

std::vector<int32_t> ids_from_json(const nlohmann::json& j, std::string_view source) {
  const nlohmann::json* arr = &j;
  if (j.is_object()) {
    if (!j.contains("token_ids"))
      fail("{}: a JSON object of tokens needs a \"token_ids\" array", source);
    arr = &j.at("token_ids");
  }
  if (!arr->is_array()) fail("{}: expected a JSON array of token ids", source);
  std::vector<int32_t> ids;
  ids.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    const auto& v = (*arr)[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      fail("{}: element {} ({}) is not a token id (a non-negative integer)", source, i, v.dump());
    ids.push_back(v.get<int32_t>());
  }
  return ids;
}

}  // namespace

std::vector<int32_t> parse_token_ids(std::string_view text, std::string_view source) {
  const size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) fail("{}: no token ids in it", source);
  std::vector<int32_t> ids;
  if (text[start] == '[' || text[start] == '{') {
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) fail("{}: not valid JSON (give a JSON array of token ids)", source);
    ids = ids_from_json(j, source);
  } else {
    size_t pos = start;
    while (pos < text.size()) {
      const char c = text[pos];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',') {
        ++pos;
        continue;
      }
      int32_t v = 0;
      const auto [end, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), v);
      if (ec != std::errc() || v < 0)
        fail(
            "{}: '{}' at byte {} is not a token id; give non-negative integers separated by "
            "spaces, newlines or commas, or a JSON array",
            source, text.substr(pos, std::min<size_t>(16, text.size() - pos)), pos);
      ids.push_back(v);
      pos = size_t(end - text.data());
      if (pos < text.size() &&
          std::string_view(" \t\r\n,").find(text[pos]) == std::string_view::npos)
        fail("{}: unexpected character '{}' after a token id at byte {}", source, text[pos], pos);
    }
  }
  if (ids.empty()) fail("{}: no token ids in it", source);
  return ids;
}

}  // namespace eco::quality
