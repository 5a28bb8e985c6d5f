// Normalizers: NFC, NFD, Prepend, Replace, Strip, Sequence.
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/tokenizer_pipeline.h"
#include "model/tokenizer_unicode.h"

namespace eco::model::tok {

namespace {

class Nfc final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = utf8::nfc(text); }
};

class Nfd final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = utf8::nfd(text); }
};

// Hugging Face prepends only to non-empty text.
class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string p) : prefix_(std::move(p)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    std::size_t begin = 0;
    std::size_t end = text.size();
    if (left_) {
      while (begin < end) {
        const utf8::Unit u = utf8::decode(text, begin);
        if (!u.valid || !utf8::is_whitespace(u.code_point)) break;
        begin += u.length;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t start = end - 1;
        while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
        const utf8::Unit u = utf8::decode(text, start);
        if (!u.valid || start + u.length != end || !utf8::is_whitespace(u.code_point)) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& s : steps_) s->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

ReplaceStep::ReplaceStep(const json& j, const std::string& where)
    : regex_(pattern_regex(field(j, "pattern", where), where + ".pattern")),
      content_(string_field(j, "content", where)) {}

std::string ReplaceStep::apply(std::string_view text) const {
  std::string out;
  std::size_t last = 0;
  regex_.for_each_match(text, [&](std::size_t b, std::size_t e) {
    if (e == b) return;  // Hugging Face replaces non-empty matches only
    out.append(text.substr(last, b - last));
    out += content_;
    last = e;
  });
  out.append(text.substr(last));
  return out;
}

TokenizerRegex pattern_regex(const json& pattern, const std::string& where) {
  if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
    return TokenizerRegex::literal(pattern["String"].get<std::string>(), where);
  }
  if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
    return TokenizerRegex(pattern["Regex"].get<std::string>(), where);
  }
  fail("{}: expected {{\"String\": ...}} or {{\"Regex\": ...}}, found {}", where,
       pattern.dump().substr(0, 120));
}

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  expect_object(j, where);
  const std::string type = string_field(j, "type", where);
  if (type == "NFC") return std::make_unique<Nfc>();
  if (type == "NFD") return std::make_unique<Nfd>();
  if (type == "Prepend") return std::make_unique<Prepend>(string_field(j, "prepend", where));
  if (type == "Replace") return std::make_unique<ReplaceStep>(j, where);
  if (type == "Strip") {
    return std::make_unique<Strip>(bool_field(j, "strip_left", false, where),
                                   bool_field(j, "strip_right", false, where));
  }
  if (type == "Sequence") {
    const json& list = field(j, "normalizers", where);
    if (!list.is_array())
      fail("{}.normalizers: expected an array, found {}", where, list.type_name());
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto step = make_normalizer(list[i], fmt::format("{}.normalizers[{}]", where, i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  unsupported(where, "normalizer", type, "NFC, NFD, Prepend, Replace, Strip, Sequence");
}

}  // namespace eco::model::tok
