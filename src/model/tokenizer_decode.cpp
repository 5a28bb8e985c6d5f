// Decoders (ids -> text) and post-processors (special tokens around an encoded sequence).
//
// One deliberate difference from Hugging Face: ByteLevel and ByteFallback emit the exact bytes
// of the tokens even when they are not valid UTF-8 (Hugging Face substitutes U+FFFD), so that
// decode(encode(s)) == s holds for any byte string and streamed tokens can be joined later.
#include <charconv>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/tokenizer_pipeline.h"
#include "model/tokenizer_unicode.h"

namespace eco::model::tok {

namespace {

class ByteLevel final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    std::string raw;
    for (const std::string& t : tokens) {
      // A token with characters outside the byte alphabet (an added token such as
      // "<|im_start|>" is inside it; CJK text in an added token is not) is kept as it is.
      if (utf8::chars_to_bytes(t, raw)) {
        out += raw;
      } else {
        out += t;
      }
    }
    tokens.assign(1, std::move(out));
  }
};

class Replace final : public Decoder {
 public:
  Replace(const json& j, const std::string& where) : step_(j, where) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = step_.apply(t);
  }

 private:
  ReplaceStep step_;
};

// "<0xAB>" -> 0xAB, or -1.
int fallback_byte(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  int value = 0;
  const auto r = std::from_chars(t.data() + 3, t.data() + 5, value, 16);
  return (r.ec == std::errc() && r.ptr == t.data() + 5) ? value : -1;
}

class ByteFallback final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    for (std::string& t : tokens) {
      const int b = fallback_byte(t);
      if (b >= 0) {
        bytes.push_back(static_cast<char>(b));
        continue;
      }
      if (!bytes.empty()) out.push_back(std::move(bytes)), bytes.clear();
      out.push_back(std::move(t));
    }
    if (!bytes.empty()) out.push_back(std::move(bytes));
    tokens = std::move(out);
  }
};

class Fuse final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens) out += t;
    tokens.assign(1, std::move(out));
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class Strip final : public Decoder {
 public:
  Strip(const json& j, const std::string& where)
      : content_(string_field(j, "content", where)),
        start_(int_field(j, "start", where)),
        stop_(int_field(j, "stop", where)) {
    if (content_.empty() || utf8::decode(content_, 0).length != content_.size()) {
      fail("{}.content: expected one character, found \"{}\"", where, content_);
    }
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::size_t begin = 0;
      for (int64_t i = 0; i < start_ && t.compare(begin, content_.size(), content_) == 0; ++i) {
        begin += content_.size();
      }
      std::size_t end = t.size();
      for (int64_t i = 0; i < stop_ && end >= begin + content_.size() &&
                          t.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i) {
        end -= content_.size();
      }
      t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  int64_t start_, stop_;
};

class Metaspace final : public Decoder {
 public:
  Metaspace(const json& j, const std::string& where)
      : replacement_(string_field(j, "replacement", where)) {
    // One character, as the pre-tokenizer requires (an empty one would match everywhere).
    if (replacement_.empty() || utf8::decode(replacement_ + " ", 0).length != replacement_.size())
      fail("{}.replacement: expected one character, found \"{}\"", where, replacement_);
    const std::string scheme = optional_string(j, "prepend_scheme", where);
    strip_first_ =
        scheme.empty() ? bool_field(j, "add_prefix_space", true, where) : scheme != "never";
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (std::size_t p = 0; p < t.size();) {
        if (t.compare(p, replacement_.size(), replacement_) == 0) {
          out.push_back(' ');
          p += replacement_.size();
        } else {
          out.push_back(t[p++]);
        }
      }
      if (i == 0 && strip_first_ && !out.empty() && out.front() == ' ') out.erase(0, 1);
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_ = true;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& s : steps_) s->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  expect_object(j, where);
  const std::string type = string_field(j, "type", where);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Replace") return std::make_unique<Replace>(j, where);
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") return std::make_unique<Strip>(j, where);
  if (type == "Metaspace") return std::make_unique<Metaspace>(j, where);
  if (type == "Sequence") {
    const json& list = field(j, "decoders", where);
    if (!list.is_array()) fail("{}.decoders: expected an array, found {}", where, list.type_name());
    std::vector<std::unique_ptr<Decoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto step = make_decoder(list[i], fmt::format("{}.decoders[{}]", where, i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  unsupported(where, "decoder", type,
              "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence");
}

namespace {

int32_t resolve(const std::function<int32_t(std::string_view)>& token_id, const std::string& token,
                const std::string& where) {
  const int32_t id = token_id(token);
  if (id < 0) fail("{}: special token \"{}\" is not in the vocabulary", where, token);
  return id;
}

// TemplateProcessing's "single" template: SpecialToken items around one Sequence "A".
void apply_template(const json& j, const std::string& where,
                    const std::function<int32_t(std::string_view)>& token_id, PostProcessor& pp) {
  const json& single = field(j, "single", where);
  if (!single.is_array()) fail("{}.single: expected an array, found {}", where, single.type_name());
  const json* specials = j.contains("special_tokens") ? &j["special_tokens"] : nullptr;
  bool seen_sequence = false;
  for (std::size_t i = 0; i < single.size(); ++i) {
    const std::string item_where = fmt::format("{}.single[{}]", where, i);
    const json& item = single[i];
    expect_object(item, item_where);
    if (item.contains("Sequence")) {
      if (seen_sequence) fail("{}: a single-sequence template holds one Sequence", item_where);
      seen_sequence = true;
      continue;
    }
    const json& special = field(item, "SpecialToken", item_where);
    const std::string name = string_field(special, "id", item_where + ".SpecialToken");
    std::vector<int32_t> ids;
    if (specials && specials->is_object() && specials->contains(name)) {
      const std::string sw = fmt::format("{}.special_tokens[\"{}\"]", where, name);
      const json& entry = (*specials)[name];
      const json& list = field(entry, "ids", sw);
      if (!list.is_array()) fail("{}.ids: expected an array, found {}", sw, list.type_name());
      for (const json& v : list) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
          fail("{}.ids: expected non-negative integers, found {}", sw, v.dump());
        }
        ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
      }
    } else {
      ids.push_back(resolve(token_id, name, item_where));
    }
    auto& target = seen_sequence ? pp.suffix : pp.prefix;
    target.insert(target.end(), ids.begin(), ids.end());
  }
  if (!seen_sequence) fail("{}.single: the template has no Sequence item", where);
}

void apply_post_processor(const json& j, const std::string& where,
                          const std::function<int32_t(std::string_view)>& token_id,
                          PostProcessor& pp) {
  if (j.is_null()) return;
  expect_object(j, where);
  const std::string type = string_field(j, "type", where);
  if (type == "ByteLevel") return;  // adjusts offsets only
  if (type == "TemplateProcessing") return apply_template(j, where, token_id, pp);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const json& pair = field(j, key, where);
      if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer()) {
        fail("{}.{}: expected [token, id], found {}", where, key, pair.dump().substr(0, 80));
      }
      (std::string(key) == "cls" ? pp.prefix : pp.suffix)
          .push_back(static_cast<int32_t>(pair[1].get<int64_t>()));
    }
    return;
  }
  if (type == "Sequence") {
    const json& list = field(j, "processors", where);
    if (!list.is_array()) fail("{}.processors: expected an array", where);
    for (std::size_t i = 0; i < list.size(); ++i) {
      apply_post_processor(list[i], fmt::format("{}.processors[{}]", where, i), token_id, pp);
    }
    return;
  }
  unsupported(where, "post-processor", type,
              "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence");
}

}  // namespace

PostProcessor make_post_processor(const json& j, const std::string& where,
                                  const std::function<int32_t(std::string_view)>& token_id) {
  PostProcessor pp;
  apply_post_processor(j, where, token_id, pp);
  return pp;
}

}  // namespace eco::model::tok
