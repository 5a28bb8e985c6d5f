#include "model/tokenizer_bpe.h"

#include <algorithm>
#include <bit>
#include <queue>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/tokenizer_unicode.h"

namespace eco::model::tok {

void MergeTable::reserve(std::size_t n) {
  std::size_t capacity = 16;
  while (capacity < n * 2) capacity <<= 1;
  shift_ = 64 - std::countr_zero(capacity);
  entries_.assign(capacity, Entry{kEmpty, 0, 0});
  size_ = 0;
}

bool MergeTable::insert(int32_t left, int32_t right, uint32_t rank, int32_t merged) {
  if ((size_ + 1) * 2 > entries_.size()) {
    std::vector<Entry> old = std::move(entries_);
    reserve(std::max<std::size_t>(16, size_ * 2 + 2));
    for (const Entry& e : old) {
      if (e.key != kEmpty) {
        insert(static_cast<int32_t>(e.key >> 32), static_cast<int32_t>(e.key & 0xFFFFFFFF), e.rank,
               e.merged);
      }
    }
  }
  const uint64_t k = key(left, right);
  const std::size_t mask = entries_.size() - 1;
  for (std::size_t i = slot(k);; i = (i + 1) & mask) {
    if (entries_[i].key == k) {
      entries_[i] = Entry{k, rank, merged};
      return false;
    }
    if (entries_[i].key == kEmpty) {
      entries_[i] = Entry{k, rank, merged};
      ++size_;
      return true;
    }
  }
}

const MergeTable::Entry* MergeTable::find(int32_t left, int32_t right) const {
  if (entries_.empty()) return nullptr;
  const uint64_t k = key(left, right);
  const std::size_t mask = entries_.size() - 1;
  for (std::size_t i = slot(k);; i = (i + 1) & mask) {
    if (entries_[i].key == k) return &entries_[i];
    if (entries_[i].key == kEmpty) return nullptr;
  }
}

BpeModel::BpeModel(const json& model, const std::string& where, bool byte_level)
    : byte_level_(byte_level) {
  expect_object(model, where);
  const std::string type = optional_string(model, "type", where);
  if (!type.empty() && type != "BPE") {
    unsupported(where, "model", type, "BPE (byte-level or SentencePiece-style)");
  }
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0)) {
    fail(
        "{}.dropout: BPE dropout is random and only meant for training; ecocompute needs "
        "deterministic tokenization (set it to null)",
        where);
  }
  byte_fallback_ = bool_field(model, "byte_fallback", false, where);
  fuse_unk_ = bool_field(model, "fuse_unk", false, where);
  ignore_merges_ = bool_field(model, "ignore_merges", false, where);
  continuing_subword_prefix_ = optional_string(model, "continuing_subword_prefix", where);
  end_of_word_suffix_ = optional_string(model, "end_of_word_suffix", where);

  load_vocab(field(model, "vocab", where), where);
  const std::string unk = optional_string(model, "unk_token", where);
  if (!unk.empty()) {
    unk_id_ = token_to_id(unk);
    if (unk_id_ < 0) fail("{}.unk_token: \"{}\" is not in the vocabulary", where, unk);
  }
  load_merges(field(model, "merges", where), where + ".merges");
  if (!byte_level_ && continuing_subword_prefix_.empty() && end_of_word_suffix_.empty()) {
    cut_before_marker_ = !marker_after_a_character(id_to_token_);
  }
}

void BpeModel::load_vocab(const json& vocab, const std::string& where) {
  if (!vocab.is_object()) {
    fail("{}.vocab: expected an object of token -> id, found {}", where, vocab.type_name());
  }
  if (vocab.empty()) fail("{}.vocab: the vocabulary is empty", where);
  std::vector<std::pair<int32_t, const std::string*>> entries;
  entries.reserve(vocab.size());
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const json& v = it.value();
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= (1 << 30)) {
      fail("{}.vocab[\"{}\"]: expected a non-negative integer id, found {}", where, it.key(),
           v.dump().substr(0, 40));
    }
    const auto id = static_cast<int32_t>(v.get<int64_t>());
    max_id = std::max<int64_t>(max_id, id);
    entries.emplace_back(id, &it.key());
  }
  if (max_id >= static_cast<int64_t>(entries.size()) * 4 + 1024) {
    fail("{}.vocab: ids run up to {} for {} tokens; the vocabulary is corrupt", where, max_id,
         entries.size());
  }
  id_to_token_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  has_token_.assign(static_cast<std::size_t>(max_id + 1), false);
  vocab_.reserve(entries.size());
  std::string raw;
  for (const auto& [id, token] : entries) {
    if (has_token_[id]) {
      fail("{}.vocab: id {} is given to both \"{}\" and \"{}\"", where, id, id_to_token_[id],
           *token);
    }
    id_to_token_[id] = *token;
    has_token_[id] = true;
    // A byte-level vocabulary entry outside the byte alphabet can never be produced from
    // input bytes; it keeps its text form so it stays addressable by name.
    if (byte_level_ && utf8::chars_to_bytes(*token, raw)) {
      vocab_.emplace(raw, id);
    } else {
      vocab_.emplace(*token, id);
    }
  }
  for (int b = 0; b < 256; ++b) {
    fallback_ids_[b] = token_to_id(fmt::format("<0x{:02X}>", b));
    const auto it = vocab_.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
    byte_ids_[b] = (byte_level_ && it != vocab_.end()) ? it->second : -1;
  }
}

bool BpeModel::marker_after_a_character(const std::vector<std::string>& tokens) {
  return std::any_of(tokens.begin(), tokens.end(), [](const std::string& t) {
    for (std::size_t p = t.find(kMarker, 1); p != std::string::npos; p = t.find(kMarker, p + 1)) {
      if (p < kMarker.size() || t.compare(p - kMarker.size(), kMarker.size(), kMarker) != 0) {
        return true;
      }
    }
    return false;
  });
}

void BpeModel::load_merges(const json& merges, const std::string& where) {
  if (!merges.is_array()) fail("{}: expected an array, found {}", where, merges.type_name());
  merges_.reserve(merges.size());
  std::string left;
  std::string right;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    if (m.is_string()) {
      // "a b": split at the first space (tokens cannot contain one in this form).
      const std::string& s = m.get_ref<const std::string&>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        fail("{}[{}]: expected \"left right\" (two tokens and one space), found \"{}\"", where,
             rank, s);
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      fail("{}[{}]: expected \"left right\" or [\"left\", \"right\"], found {}", where, rank,
           m.dump().substr(0, 80));
    }
    const int32_t a = token_to_id(left);
    const int32_t b = token_to_id(right);
    const int32_t merged = token_to_id(left + right);
    for (const auto& [tok, id] : {std::pair{&left, a}, std::pair{&right, b}}) {
      if (id < 0) {
        fail(
            "{}[{}]: token \"{}\" is not in the vocabulary; the merges do not belong to this "
            "vocabulary (corrupt or mixed-up tokenizer.json)",
            where, rank, *tok);
      }
    }
    if (merged < 0) {
      fail("{}[{}]: the merged token \"{}\" is not in the vocabulary", where, rank, left + right);
    }
    merges_.insert(a, b, static_cast<uint32_t>(rank), merged);
  }
}

int32_t BpeModel::token_to_id(std::string_view token) const {
  if (byte_level_) {
    std::string raw;
    if (utf8::chars_to_bytes(token, raw)) {
      const auto it = vocab_.find(raw);
      return it == vocab_.end() ? -1 : it->second;
    }
  }
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(id_to_token_.size()) || !has_token_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::initial_symbols(std::string_view piece, std::vector<Symbol>& symbols) const {
  const bool affixes = !continuing_subword_prefix_.empty() || !end_of_word_suffix_.empty();
  int32_t pending_unk = -1;  // bytes covered by a pending (fusable) unknown token
  auto push = [&](int32_t id, uint32_t length) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, length});
  };
  auto flush_unk = [&] {
    if (pending_unk > 0) push(unk_id_, static_cast<uint32_t>(pending_unk));
    pending_unk = -1;
  };
  std::string affixed;
  for (std::size_t pos = 0; pos < piece.size();) {
    // A byte-level piece is a sequence of bytes; otherwise of characters (or invalid bytes).
    const uint32_t length = byte_level_ ? 1u : utf8::decode(piece, pos).length;
    std::string_view unit = piece.substr(pos, length);
    const bool first = pos == 0;
    pos += length;
    const bool last = pos == piece.size();
    int32_t id = -1;
    if (byte_level_ && !affixes) {
      id = byte_ids_[static_cast<uint8_t>(unit[0])];
    } else {
      if (affixes) {
        affixed.clear();
        if (!first) affixed += continuing_subword_prefix_;
        affixed.append(unit);
        if (last) affixed += end_of_word_suffix_;
        unit = affixed;
      }
      const auto it = vocab_.find(unit);
      if (it != vocab_.end()) id = it->second;
    }
    if (id >= 0) {
      flush_unk();
      push(id, length);
      continue;
    }
    if (byte_fallback_) {
      const bool all = std::all_of(unit.begin(), unit.end(), [&](char c) {
        return fallback_ids_[static_cast<uint8_t>(c)] >= 0;
      });
      if (all) {
        flush_unk();
        for (char c : unit) push(fallback_ids_[static_cast<uint8_t>(c)], 1);
        continue;
      }
    }
    if (unk_id_ < 0) continue;  // Hugging Face drops characters it cannot represent
    if (fuse_unk_ && pending_unk > 0) {
      pending_unk += static_cast<int32_t>(length);
    } else {
      flush_unk();
      pending_unk = static_cast<int32_t>(length);
    }
  }
  flush_unk();
  if (!symbols.empty()) symbols.back().next = -1;
}

void BpeModel::merge(std::vector<Symbol>& symbols) const {
  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t merged;
    // Lowest rank first, then leftmost: the order Hugging Face's heap pops merges in.
    bool operator<(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    if (const auto* e = merges_.find(symbols[left].id, symbols[right].id)) {
      queue.push({e->rank, left, e->merged});
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.length == 0 || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const auto* e = merges_.find(left.id, right.id);
    if (e == nullptr || e->merged != top.merged) continue;  // stale: a neighbour changed
    left.id = top.merged;
    left.length += right.length;
    left.next = right.next;
    right.length = 0;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> symbols;
  symbols.clear();
  initial_symbols(word, symbols);
  if (symbols.empty()) return;
  merge(symbols);
  for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    const auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (!cut_before_marker_) return encode_word(piece, out);
  // SentencePiece-style text without a pre-tokenizer is one long word; cutting it before each
  // "▁" that follows another character gives the same tokens (no token spans such a point, so
  // no merge can) at a fraction of the cost.
  std::size_t start = 0;
  for (std::size_t pos = piece.find(kMarker, 1); pos != std::string_view::npos;
       pos = piece.find(kMarker, pos + kMarker.size())) {
    const bool after_marker =
        pos >= kMarker.size() && piece.compare(pos - kMarker.size(), kMarker.size(), kMarker) == 0;
    if (!after_marker) {
      encode_word(piece.substr(start, pos - start), out);
      start = pos;
    }
  }
  encode_word(piece.substr(start), out);
}

}  // namespace eco::model::tok
