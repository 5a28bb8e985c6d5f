// Pre-tokenizers: Split, ByteLevel, Metaspace, Digits, Sequence. Each one splits the current
// pieces further; empty pieces are dropped, as Hugging Face's PreTokenizedString does.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/tokenizer_pipeline.h"
#include "model/tokenizer_unicode.h"

namespace eco::model::tok {

namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return Behavior::Removed;
  if (name == "Isolated") return Behavior::Isolated;
  if (name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::MergedWithNext;
  if (name == "Contiguous") return Behavior::Contiguous;
  unsupported(where, "split behavior", name,
              "Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

struct Range {
  uint32_t begin, end;
  bool match;  // for Removed: true means "drop"
};

// Hugging Face's NormalizedString::split: the piece is cut into matches and gaps, which the
// behavior then merges or drops.
void split_piece(const TokenizerRegex& regex, bool invert, Behavior behavior, const Pieces& in,
                 std::size_t index, Pieces& out) {
  const std::string_view piece = in.piece(index);
  const uint32_t base = in.spans[index].first;
  std::vector<Range> ranges;
  uint32_t prev = 0;
  regex.for_each_match(piece, [&](std::size_t b, std::size_t e) {
    if (prev != b) ranges.push_back({prev, static_cast<uint32_t>(b), invert});
    ranges.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e), !invert});
    prev = static_cast<uint32_t>(e);
  });
  if (prev != piece.size()) ranges.push_back({prev, static_cast<uint32_t>(piece.size()), invert});

  std::vector<Range> merged;
  merged.reserve(ranges.size());
  switch (behavior) {
    case Behavior::Removed:
      for (const Range& r : ranges) {
        if (!r.match) merged.push_back(r);
      }
      break;
    case Behavior::Isolated:
      merged = ranges;
      break;
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Range& r : ranges) {
        if (r.match && !previous_match && !merged.empty()) {
          merged.back().end = r.end;
        } else {
          merged.push_back(r);
        }
        previous_match = r.match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
        if (it->match && !previous_match && !merged.empty()) {
          merged.back().begin = it->begin;
        } else {
          merged.push_back(*it);
        }
        previous_match = it->match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
    case Behavior::Contiguous: {
      int previous = -1;
      for (const Range& r : ranges) {
        if (previous == static_cast<int>(r.match) && !merged.empty()) {
          merged.back().end = r.end;
        } else {
          merged.push_back(r);
        }
        previous = static_cast<int>(r.match);
      }
      break;
    }
  }
  for (const Range& r : merged) {
    if (r.end > r.begin) out.spans.emplace_back(base + r.begin, base + r.end);
  }
}

void split_all(const TokenizerRegex& regex, bool invert, Behavior behavior, Pieces& pieces) {
  Pieces out;
  out.spans.reserve(pieces.spans.size() * 4 + 4);
  for (std::size_t i = 0; i < pieces.spans.size(); ++i) {
    split_piece(regex, invert, behavior, pieces, i, out);
  }
  pieces.spans = std::move(out.spans);
}

// Rebuilds the buffer with each piece transformed by `fn(piece, index) -> new piece`.
template <typename Fn>
void rewrite(Pieces& pieces, Fn&& fn) {
  Pieces out;
  out.text.reserve(pieces.text.size() + pieces.spans.size() * 3);
  out.spans.reserve(pieces.spans.size());
  for (std::size_t i = 0; i < pieces.spans.size(); ++i) {
    const auto begin = static_cast<uint32_t>(out.text.size());
    fn(pieces.piece(i), i, out.text);
    const auto end = static_cast<uint32_t>(out.text.size());
    if (end > begin) out.spans.emplace_back(begin, end);
  }
  pieces = std::move(out);
}

class Split final : public PreTokenizer {
 public:
  Split(const json& j, const std::string& where)
      : regex_(pattern_regex(field(j, "pattern", where), where + ".pattern")),
        behavior_(parse_behavior(string_field(j, "behavior", where), where + ".behavior")),
        invert_(bool_field(j, "invert", false, where)) {}
  void pre_tokenize(Pieces& pieces, bool) const override {
    split_all(regex_, invert_, behavior_, pieces);
  }

 private:
  TokenizerRegex regex_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's pre-tokenization regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The byte -> character mapping itself is not applied: the BPE model of a byte-level tokenizer
// works on raw bytes (its vocabulary is mapped back once at load), which is equivalent and
// cheaper.
class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(const json& j, const std::string& where)
      : add_prefix_space_(bool_field(j, "add_prefix_space", true, where)),
        regex_(bool_field(j, "use_regex", true, where)
                   ? std::make_unique<TokenizerRegex>(kGpt2Pattern, where + " (GPT-2 regex)")
                   : nullptr) {}
  void pre_tokenize(Pieces& pieces, bool) const override {
    if (add_prefix_space_) {
      rewrite(pieces, [](std::string_view p, std::size_t, std::string& out) {
        if (p.front() != ' ') out.push_back(' ');
        out.append(p);
      });
    }
    if (regex_) split_all(*regex_, false, Behavior::Isolated, pieces);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<TokenizerRegex> regex_;
};

class Metaspace final : public PreTokenizer {
 public:
  enum class Scheme { Always, First, Never };
  Metaspace(const json& j, const std::string& where)
      : replacement_(string_field(j, "replacement", where)),
        split_(bool_field(j, "split", true, where)) {
    if (utf8::decode(replacement_ + " ", 0).length != replacement_.size()) {
      fail("{}.replacement: expected one character, found \"{}\"", where, replacement_);
    }
    const std::string scheme = optional_string(j, "prepend_scheme", where);
    if (scheme.empty()) {
      // Files written before prepend_scheme existed carry add_prefix_space instead.
      scheme_ = bool_field(j, "add_prefix_space", true, where) ? Scheme::Always : Scheme::Never;
    } else if (scheme == "always") {
      scheme_ = Scheme::Always;
    } else if (scheme == "first") {
      scheme_ = Scheme::First;
    } else if (scheme == "never") {
      scheme_ = Scheme::Never;
    } else {
      unsupported(where + ".prepend_scheme", "Metaspace prepend_scheme", scheme,
                  "always, first, never");
    }
    if (split_)
      splitter_ = std::make_unique<TokenizerRegex>(TokenizerRegex::literal(replacement_, where));
  }
  void pre_tokenize(Pieces& pieces, bool first) const override {
    rewrite(pieces, [&](std::string_view p, std::size_t index, std::string& out) {
      const bool at_start = first && index == 0;
      const bool starts = p.substr(0, replacement_.size()) == replacement_ ||
                          (p.front() == ' ');  // the space becomes the replacement below
      if (!starts && (scheme_ == Scheme::Always || (scheme_ == Scheme::First && at_start))) {
        out += replacement_;
      }
      for (char c : p) {
        if (c == ' ') {
          out += replacement_;
        } else {
          out.push_back(c);
        }
      }
    });
    if (splitter_) split_all(*splitter_, false, Behavior::MergedWithNext, pieces);
  }

 private:
  std::string replacement_;
  bool split_;
  Scheme scheme_ = Scheme::Always;
  std::unique_ptr<TokenizerRegex> splitter_;
};

class Digits final : public PreTokenizer {
 public:
  Digits(const json& j, const std::string& where)
      : regex_(bool_field(j, "individual_digits", false, where) ? R"(\p{N})" : R"(\p{N}+)", where) {
  }
  void pre_tokenize(Pieces& pieces, bool) const override {
    split_all(regex_, false, Behavior::Isolated, pieces);
  }

 private:
  TokenizerRegex regex_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(Pieces& pieces, bool first) const override {
    for (const auto& s : steps_) s->pre_tokenize(pieces, first);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

std::unique_ptr<PreTokenizer> make_step(const json& j, const std::string& where, bool& byte_level,
                                        bool last) {
  expect_object(j, where);
  const std::string type = string_field(j, "type", where);
  if (type == "ByteLevel") {
    if (!last) {
      unsupported(where, "pre-tokenizer", "ByteLevel followed by further pre-tokenizers",
                  "ByteLevel as the last step");
    }
    byte_level = true;
    return std::make_unique<ByteLevel>(j, where);
  }
  if (type == "Split") return std::make_unique<Split>(j, where);
  if (type == "Metaspace") return std::make_unique<Metaspace>(j, where);
  if (type == "Digits") return std::make_unique<Digits>(j, where);
  if (type == "Sequence") {
    const json& list = field(j, "pretokenizers", where);
    if (!list.is_array()) {
      fail("{}.pretokenizers: expected an array, found {}", where, list.type_name());
    }
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      steps.push_back(make_step(list[i], fmt::format("{}.pretokenizers[{}]", where, i), byte_level,
                                last && i + 1 == list.size()));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  unsupported(where, "pre-tokenizer", type, "ByteLevel, Split, Metaspace, Digits, Sequence");
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& where,
                                                 bool& byte_level) {
  byte_level = false;
  if (j.is_null()) return nullptr;
  return make_step(j, where, byte_level, true);
}

}  // namespace eco::model::tok
