#pragma once
// Added tokens (special tokens such as "<|im_start|>" and user-added ones) are found in the text
// before normalization and pre-tokenization, leftmost-longest as Hugging Face's
// AddedVocabulary does, honouring lstrip / rstrip / single_word.
#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "model/tokenizer.h"

namespace eco::model::tok {

struct Segment {
  uint32_t begin;
  uint32_t end;
  int32_t id;  // the added token's id, or -1 for text between added tokens
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);
  bool empty() const { return tokens_.empty(); }
  // Cuts `text` into text segments and added-token segments, in order; empty text segments are
  // left out.
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;                                 // index into tokens_
  };
  int32_t child(int32_t node, uint8_t byte) const;
  std::vector<Node> nodes_;
  std::vector<AddedToken> tokens_;
  std::array<bool, 256> first_byte_{};
};

}  // namespace eco::model::tok
