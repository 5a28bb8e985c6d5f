// Test driver for the tokenizer cross-check (crosscheck.js): encodes each line of a JSONL file
// (one JSON string per line) with model/tokenizer and prints one JSON object per line:
// {"ids": [...], "ids_plain": [...], "decoded": "..."} where ids include the post-processor's
// special tokens, ids_plain do not, and decoded = decode(ids_plain).
// Usage: tokenizer_encode_jsonl TOKENIZER_DIR INPUT.jsonl
// Linked against eco_model only, so it builds whatever state the other layers are in.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "model/tokenizer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR INPUT.jsonl\n", argv[0]);
    return 64;
  }
  try {
    const auto tok = eco::model::Tokenizer::load(argv[1]);
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) eco::fail("cannot read {}", argv[2]);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const std::string text = nlohmann::json::parse(line).get<std::string>();
      const auto plain = tok.encode(text, false);
      nlohmann::json out{
          {"ids", tok.encode(text, true)}, {"ids_plain", plain}, {"decoded", tok.decode(plain)}};
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenizer_encode_jsonl: %s\n", e.what());
    return 1;
  }
  return 0;
}
