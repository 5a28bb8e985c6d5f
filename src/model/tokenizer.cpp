#include "model/tokenizer.h"

#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "model/json_input.h"
#include "model/tokenizer_added.h"
#include "model/tokenizer_bpe.h"
#include "model/tokenizer_pipeline.h"

namespace eco::model {

using tok::json;

struct Tokenizer::Impl {
  std::string source;
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::BpeModel> model;
  std::unique_ptr<tok::Decoder> decoder;
  tok::PostProcessor post;
  std::vector<AddedToken> added;
  std::unordered_map<int32_t, std::size_t> added_by_id;
  tok::TokenMap added_by_content;
  tok::AddedTokenMatcher raw_matcher;         // tokens matched on the input as given
  tok::AddedTokenMatcher normalized_matcher;  // tokens matched after normalization
  int32_t bos = -1;
  int32_t eos = -1;

  int32_t lookup(std::string_view token) const {
    const auto it = added_by_content.find(token);
    if (it != added_by_content.end()) return it->second;
    return model->token_to_id(token);
  }
  void encode_text(std::string_view text, bool first, std::vector<int32_t>& ids) const;
};

namespace {

json parse_json(const std::string& text, const std::string& source) {
  return parse_json_text(text, source, "; the file is truncated or corrupt, download it again");
}

std::vector<AddedToken> parse_added_tokens(const json& root, const std::string& source) {
  std::vector<AddedToken> tokens;
  if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return tokens;
  const json& list = root["added_tokens"];
  if (!list.is_array()) {
    fail("{}: added_tokens: expected an array, found {}", source, list.type_name());
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = fmt::format("{}: added_tokens[{}]", source, i);
    const json& t = list[i];
    AddedToken a;
    const int64_t id = tok::int_field(t, "id", where);
    if (id < 0 || id >= (1 << 30)) fail("{}.id: {} is out of range", where, id);
    a.id = static_cast<int32_t>(id);
    a.content = tok::string_field(t, "content", where);
    a.special = tok::bool_field(t, "special", false, where);
    a.lstrip = tok::bool_field(t, "lstrip", false, where);
    a.rstrip = tok::bool_field(t, "rstrip", false, where);
    a.single_word = tok::bool_field(t, "single_word", false, where);
    a.normalized = tok::bool_field(t, "normalized", !a.special, where);
    tokens.push_back(std::move(a));
  }
  return tokens;
}

// tokenizer_config.json names tokens either as "text" or as {"content": "text", ...}.
std::string config_token(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return {};
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return {};
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(const std::string& tokenizer_json, const std::string& source,
                               const std::string& config_json) {
  try {
    return build(tokenizer_json, source, config_json);
  } catch (const json::exception& e) {
    // The field readers check types first; this names the file should a lookup slip past them.
    fail("{}: unexpected content ({}); the file is not a tokenizer.json ecocompute can read",
         source, e.what());
  }
}

Tokenizer Tokenizer::build(const std::string& tokenizer_json, const std::string& source,
                           const std::string& config_json) {
  const json root = parse_json(tokenizer_json, source);
  tok::expect_object(root, source);
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  auto section = [&](const char* key) -> const json& {
    static const json null_json;
    return root.contains(key) ? root[key] : null_json;
  };
  // "truncation" and "padding" only shape batched training inputs; they are ignored.
  impl->normalizer = tok::make_normalizer(section("normalizer"), source + ": normalizer");
  bool byte_level = false;
  impl->pre_tokenizer =
      tok::make_pre_tokenizer(section("pre_tokenizer"), source + ": pre_tokenizer", byte_level);
  impl->model = std::make_unique<tok::BpeModel>(tok::field(root, "model", source),
                                                source + ": model", byte_level);
  impl->decoder = tok::make_decoder(section("decoder"), source + ": decoder");
  impl->added = parse_added_tokens(root, source);
  std::vector<AddedToken> raw;
  std::vector<AddedToken> normalized;
  for (std::size_t i = 0; i < impl->added.size(); ++i) {
    const AddedToken& a = impl->added[i];
    impl->added_by_id[a.id] = i;
    impl->added_by_content.emplace(a.content, a.id);
    (a.normalized ? normalized : raw).push_back(a);
  }
  impl->raw_matcher = tok::AddedTokenMatcher(raw);
  impl->normalized_matcher = tok::AddedTokenMatcher(normalized);
  const Impl& ref = *impl;
  auto token_id = [&ref](std::string_view t) { return ref.lookup(t); };
  impl->post =
      tok::make_post_processor(section("post_processor"), source + ": post_processor", token_id);

  if (!config_json.empty()) {
    const std::string config_source = "tokenizer_config.json beside " + source;
    const json config = parse_json(config_json, config_source);
    tok::expect_object(config, config_source);
    const std::string bos = config_token(config, "bos_token");
    const std::string eos = config_token(config, "eos_token");
    if (!bos.empty()) impl->bos = impl->lookup(bos);
    if (!eos.empty()) impl->eos = impl->lookup(eos);
    // transformers' LlamaTokenizerFast rebuilds the post-processor from add_bos_token /
    // add_eos_token; other classes keep the one in tokenizer.json.
    const std::string cls = config.value("tokenizer_class", std::string());
    const bool llama_class = cls.rfind("LlamaTokenizer", 0) == 0 ||
                             cls.rfind("CodeLlamaTokenizer", 0) == 0 ||
                             cls.rfind("GemmaTokenizer", 0) == 0;
    if (llama_class && (config.contains("add_bos_token") || config.contains("add_eos_token"))) {
      const bool add_bos = tok::bool_field(config, "add_bos_token", true, config_source);
      const bool add_eos = tok::bool_field(config, "add_eos_token", false, config_source);
      if (add_bos && impl->bos < 0)
        fail("{}: add_bos_token is set but bos_token is not a token", config_source);
      if (add_eos && impl->eos < 0)
        fail("{}: add_eos_token is set but eos_token is not a token", config_source);
      impl->post.prefix.clear();
      impl->post.suffix.clear();
      if (add_bos) impl->post.prefix.push_back(impl->bos);
      if (add_eos) impl->post.suffix.push_back(impl->eos);
    }
  }
  if (impl->bos < 0 && impl->post.prefix.size() == 1) impl->bos = impl->post.prefix[0];
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  std::filesystem::path file = path;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) file = path / "tokenizer.json";
  if (file_kind(file) == "missing") {
    fail(
        "{} not found: the model directory has no tokenizer.json; copy it from the model's "
        "Hugging Face repository, or pass token ids instead of text",
        file.string());
  }
  const std::filesystem::path config_file = file.parent_path() / "tokenizer_config.json";
  const std::string config =
      file_kind(config_file) == "missing"
          ? std::string()
          : read_regular_file(config_file, kMaxConfigBytes, "tokenizer_config.json");
  return from_json(read_regular_file(file, kMaxTokenizerBytes, "tokenizer.json"), file.string(),
                   config);
}

void Tokenizer::Impl::encode_text(std::string_view text, bool first,
                                  std::vector<int32_t>& ids) const {
  std::string normalized(text);
  if (normalizer) normalizer->normalize(normalized);
  std::vector<tok::Segment> parts;
  if (normalized_matcher.empty()) {
    if (!normalized.empty()) {
      parts.push_back({0, static_cast<uint32_t>(normalized.size()), -1});
    }
  } else {
    normalized_matcher.split(normalized, parts);
  }
  for (const tok::Segment& part : parts) {
    if (part.id >= 0) {
      ids.push_back(part.id);
      continue;
    }
    tok::Pieces pieces;
    pieces.text.assign(normalized, part.begin, part.end - part.begin);
    pieces.spans.emplace_back(0, static_cast<uint32_t>(pieces.text.size()));
    if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces, first && part.begin == 0);
    for (std::size_t i = 0; i < pieces.spans.size(); ++i) model->encode(pieces.piece(i), ids);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_special_tokens) ids.insert(ids.end(), m.post.prefix.begin(), m.post.prefix.end());
  std::vector<tok::Segment> segments;
  if (m.raw_matcher.empty()) {
    if (!text.empty()) segments.push_back({0, static_cast<uint32_t>(text.size()), -1});
  } else {
    m.raw_matcher.split(text, segments);
  }
  for (const tok::Segment& s : segments) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else {
      m.encode_text(text.substr(s.begin, s.end - s.begin), s.begin == 0, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), m.post.suffix.begin(), m.post.suffix.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    const auto added = m.added_by_id.find(id);
    if (added != m.added_by_id.end()) {
      const AddedToken& a = m.added[added->second];
      if (!(skip_special_tokens && a.special)) tokens.push_back(a.content);
      continue;
    }
    if (const std::string* t = m.model->id_to_token(id)) tokens.push_back(*t);
  }
  if (!m.decoder) {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  m.decoder->decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  const auto added = impl_->added_by_id.find(id);
  if (added != impl_->added_by_id.end()) return impl_->added[added->second].content;
  if (const std::string* t = impl_->model->id_to_token(id)) return *t;
  return std::nullopt;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  const int32_t id = impl_->lookup(token);
  if (id < 0) return std::nullopt;
  return id;
}

int32_t Tokenizer::vocab_size() const {
  int32_t max_id = impl_->model->max_id();
  for (const AddedToken& a : impl_->added) max_id = std::max(max_id, a.id);
  return max_id + 1;
}

bool Tokenizer::is_special(int32_t id) const {
  const auto added = impl_->added_by_id.find(id);
  return added != impl_->added_by_id.end() && impl_->added[added->second].special;
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return impl_->added;
}
int32_t Tokenizer::bos_id() const {
  return impl_->bos;
}
int32_t Tokenizer::eos_id() const {
  return impl_->eos;
}

std::string Tokenizer::description() const {
  return fmt::format("{} ({} ids, {} merges, {} added tokens)",
                     impl_->model->byte_level() ? "byte-level BPE" : "BPE", vocab_size(),
                     impl_->model->merge_count(), impl_->added.size());
}

}  // namespace eco::model
