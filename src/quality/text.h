#pragma once
// The text a quality run scores: a text file (tokenized by the model's tokenizer, in the CLI), a
// file of token ids, or the bundled default, the held-out part of the King James Version corpus
// of data/kjv/ (data/kjv/README.md), built into the binary.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace eco::quality {

// data/kjv/heldout.txt as it was when this binary was built.
std::string_view default_text();
inline constexpr std::string_view kDefaultTextName = "data/kjv/heldout.txt";

// The whole file, bytes as they are. `option` (e.g. "--text") names the input in errors:
// missing, a directory, unreadable, empty.
std::string read_file(const std::filesystem::path& path, std::string_view option);

// Token ids from text: a JSON array of integers, a JSON object whose "token_ids" is one (as in
// tests/fixtures/trained/perplexity.json), or integers separated by whitespace or commas.
// `source` names the input in errors.
std::vector<int32_t> parse_token_ids(std::string_view text, std::string_view source);

}  // namespace eco::quality
