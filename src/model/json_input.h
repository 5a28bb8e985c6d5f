#pragma once
// JSON from files a user gives us (config.json, tokenizer.json, the shard index, safetensors
// headers), parsed with limits: the nesting depth is checked before parsing, because the code
// that walks or prints a document recurses once per level (a 50 000-deep array would overflow
// the stack), and every nlohmann exception becomes an eco::Error that names the file.
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace eco::model {

// Deeper than any real model file (tokenizer.json nests about 6 levels).
constexpr int kMaxJsonDepth = 128;

// Size limits of the JSON files of a model directory.
constexpr size_t kMaxConfigBytes = size_t(16) << 20;
constexpr size_t kMaxIndexBytes = size_t(64) << 20;
constexpr size_t kMaxTokenizerBytes = size_t(512) << 20;

// Nesting depth of the arrays and objects in `text` (brackets inside strings do not count).
int json_depth(std::string_view text);

// Parses `text`; throws eco::Error "<source>: not valid JSON (...)<hint>" for bad syntax, a
// number out of range (1E400) or nesting deeper than kMaxJsonDepth.
nlohmann::json parse_json_text(std::string_view text, const std::string& source,
                               std::string_view hint = {});

// read_regular_file (common/file.h) with `max_bytes`, then parse_json_text.
nlohmann::json read_json_file(const std::filesystem::path& path, size_t max_bytes,
                              std::string_view what, std::string_view hint = {});

}  // namespace eco::model
