#pragma once
// The BPE model of a Hugging Face tokenizer.json: vocabulary, ranked merges, unknown token,
// byte fallback (SentencePiece-style "<0xAB>" tokens), ignore_merges (Llama-3: a word that is
// itself a token is not split), continuing_subword_prefix / end_of_word_suffix.
//
// For a byte-level tokenizer the vocabulary is mapped back from GPT-2's byte characters to raw
// bytes once at load, so encoding works on the input bytes directly.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer_pipeline.h"

namespace eco::model::tok {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Open-addressing map from a pair of token ids to (merge rank, merged token id).
class MergeTable {
 public:
  struct Entry {
    uint64_t key;
    uint32_t rank;
    int32_t merged;
  };
  void reserve(std::size_t n);
  // False when the pair was already present; the later entry replaces it, as when Hugging Face
  // collects the merges into its map.
  bool insert(int32_t left, int32_t right, uint32_t rank, int32_t merged);
  const Entry* find(int32_t left, int32_t right) const;
  std::size_t size() const { return size_; }

 private:
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  std::size_t slot(uint64_t k) const {
    return static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  std::vector<Entry> entries_;
  int shift_ = 64;
  std::size_t size_ = 0;
  static constexpr uint64_t kEmpty = ~0ull;
};

class BpeModel {
 public:
  BpeModel(const json& model, const std::string& where, bool byte_level);

  // Appends the ids of one pre-tokenized piece.
  void encode(std::string_view piece, std::vector<int32_t>& out) const;

  int32_t token_to_id(std::string_view token) const;  // original vocabulary form; -1 if absent
  const std::string* id_to_token(int32_t id) const;
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  bool byte_level() const { return byte_level_; }
  std::size_t merge_count() const { return merges_.size(); }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    uint32_t length;  // bytes of the piece covered; 0 once merged into its left neighbour
  };
  void initial_symbols(std::string_view piece, std::vector<Symbol>& symbols) const;
  void merge(std::vector<Symbol>& symbols) const;
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  static constexpr std::string_view kMarker = "\u2581";  // SentencePiece's space, "▁"
  void load_vocab(const json& vocab, const std::string& where);
  void load_merges(const json& merges, const std::string& where);
  // Does some token hold a "▁" right after another character? When none does (and there is
  // no subword prefix or suffix), a piece may be cut before each marker.
  static bool marker_after_a_character(const std::vector<std::string>& tokens);

  TokenMap vocab_;  // keys in the encoding domain (raw bytes for byte-level tokenizers)
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  MergeTable merges_;
  bool byte_level_ = false;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  bool cut_before_marker_ = false;  // see encode()
  int32_t unk_id_ = -1;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  int32_t fallback_ids_[256];  // "<0xAB>" token per byte, -1 when missing
  int32_t byte_ids_[256];      // single-byte token per byte (byte-level), -1 when missing
};

}  // namespace eco::model::tok
