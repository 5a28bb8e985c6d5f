#include "model/tokenizer_added.h"

#include <algorithm>

#include "model/tokenizer_unicode.h"

namespace eco::model::tok {

namespace {

// Word characters for single_word: letters and digits (non-ASCII counts unless whitespace).
bool is_word_char(char32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  return !utf8::is_whitespace(cp);
}

utf8::Unit unit_before(std::string_view s, std::size_t end) {
  std::size_t start = end - 1;
  while (start > 0 && end - start < 4 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
  const utf8::Unit u = utf8::decode(s, start);
  if (start + u.length == end) return u;
  return utf8::Unit{static_cast<uint8_t>(s[end - 1]), 1, false};
}

bool whitespace_unit(const utf8::Unit& u) {
  return u.valid && utf8::is_whitespace(u.code_point);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) {
  nodes_.emplace_back();
  for (const AddedToken& t : tokens) {
    if (t.content.empty()) continue;
    int32_t node = 0;
    for (char c : t.content) {
      const auto byte = static_cast<uint8_t>(c);
      int32_t next = child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& kids = nodes_[node].children;
        kids.insert(
            std::lower_bound(kids.begin(), kids.end(), std::pair<uint8_t, int32_t>{byte, -1}),
            {byte, next});
      }
      node = next;
    }
    if (nodes_[node].token < 0) {
      nodes_[node].token = static_cast<int32_t>(tokens_.size());
      tokens_.push_back(t);
      first_byte_[static_cast<uint8_t>(t.content[0])] = true;
    }
  }
}

int32_t AddedTokenMatcher::child(int32_t node, uint8_t byte) const {
  for (const auto& [b, next] : nodes_[node].children) {
    if (b == byte) return next;
    if (b > byte) break;
  }
  return -1;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  std::size_t start_offset = 0;  // end of the last emitted segment
  std::size_t pos = 0;
  auto emit_text = [&](std::size_t b, std::size_t e) {
    if (e > b) out.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e), -1});
  };
  while (pos < text.size()) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t node = 0;
    int32_t found = -1;
    std::size_t found_end = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) found = nodes_[node].token, found_end = i + 1;
    }
    if (found < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[found];
    std::size_t begin = pos;
    std::size_t end = found_end;
    if (token.single_word) {
      const bool space_before = begin == 0 || !is_word_char(unit_before(text, begin).code_point);
      const bool space_after =
          end == text.size() || !is_word_char(utf8::decode(text, end).code_point);
      if (!space_before || !space_after) {
        pos = end;
        continue;
      }
    }
    if (token.lstrip) {
      while (begin > start_offset && whitespace_unit(unit_before(text, begin))) {
        begin -= unit_before(text, begin).length;
      }
    }
    if (token.rstrip) {
      while (end < text.size() && whitespace_unit(utf8::decode(text, end))) {
        end += utf8::decode(text, end).length;
      }
    }
    emit_text(start_offset, begin);
    out.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(end), token.id});
    start_offset = end;
    pos = end;
  }
  emit_text(start_offset, text.size());
}

}  // namespace eco::model::tok
