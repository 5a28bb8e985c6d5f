// Tokenizer files of a model directory: loading with a helpful error, and writing one for a
// synthetic model (a small byte-level BPE, or a copy of a real model's files).
#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "common/file.h"
#include "model/tokenizer.h"
#include "model/tokenizer_unicode.h"

namespace eco::model {

namespace {

// Training text for the synthetic tokenizer's first merges, so that English comes out in
// word-sized pieces (the rest of the vocabulary is filled deterministically).
constexpr const char* kSampleText =
    "The model reads the text and the tokenizer splits it into pieces. Each piece is a token, "
    "and each token has an id. The energy of a model is measured while it generates tokens: "
    "the power of the card is sampled, the idle power is subtracted, and the result is given "
    "in joules per token. A larger batch shares the cost of reading the weights between more "
    "requests, so the energy per request falls as the batch grows. Quantized weights are "
    "smaller, but they must be converted back before use, and that conversion has a cost of "
    "its own. We measure, we compare, and we report what we found, with the units stated.";

// Llama-3's pre-tokenization pattern: the synthetic tokenizer behaves like a modern byte-level
// one.
constexpr const char* kSplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Vocab {
  std::vector<std::string> tokens;  // raw bytes, index = id
  std::map<std::string, int> ids;
  std::vector<std::pair<int, int>> merges;
  bool add_merge(int a, int b) {
    std::string merged = tokens[a] + tokens[b];
    if (ids.count(merged)) return false;
    ids[merged] = static_cast<int>(tokens.size());
    tokens.push_back(std::move(merged));
    merges.emplace_back(a, b);
    return true;
  }
};

// A few rounds of BPE training on kSampleText (words split at spaces, the space kept in front).
void train_merges(Vocab& v, std::size_t limit) {
  std::vector<std::vector<int>> words;
  const std::string text = kSampleText;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t j = text.find(' ', i + 1);
    if (j == std::string::npos) j = text.size();
    std::vector<int> w;
    for (std::size_t k = i; k < j; ++k) w.push_back(static_cast<uint8_t>(text[k]));
    words.push_back(std::move(w));
    i = j;
  }
  while (v.merges.size() < limit) {
    std::map<std::pair<int, int>, int> counts;
    for (const auto& w : words) {
      for (std::size_t k = 0; k + 1 < w.size(); ++k) ++counts[{w[k], w[k + 1]}];
    }
    // Most frequent pair; ties go to the smallest ids (std::map order) for determinism.
    std::pair<int, int> best{-1, -1};
    int best_count = 1;
    for (const auto& [pair, count] : counts) {
      if (count > best_count) best = pair, best_count = count;
    }
    if (best.first < 0 || !v.add_merge(best.first, best.second)) break;
    const int merged = static_cast<int>(v.tokens.size()) - 1;
    for (auto& w : words) {
      std::vector<int> out;
      for (std::size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == best.first && w[k + 1] == best.second) {
          out.push_back(merged), ++k;
        } else {
          out.push_back(w[k]);
        }
      }
      w = std::move(out);
    }
  }
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) fail("cannot write {}: check that the directory is writable", path.string());
}

struct BpeJson {
  nlohmann::json vocab, merges;
};

// The vocabulary and merges of a byte-level BPE model of model_size tokens: the 256 bytes, merges
// learned from the sample text, then existing tokens extended by a letter. The tokens take the
// ids in order, stepping over the two the model gives BOS and EOS.
BpeJson byte_level_bpe(std::size_t model_size, int bos, int eos) {
  Vocab v;
  for (int b = 0; b < 256; ++b) {
    v.tokens.emplace_back(1, static_cast<char>(b));
    v.ids[v.tokens.back()] = b;
  }
  train_merges(v, std::min<std::size_t>(model_size - 256, 400));
  // Fill the rest: existing tokens extended by a lower-case letter, in id order.
  for (std::size_t base = 0; v.tokens.size() < model_size; ++base) {
    for (int letter = 'a'; letter <= 'z' && v.tokens.size() < model_size; ++letter) {
      v.add_merge(static_cast<int>(base), letter);
    }
  }
  BpeJson out{nlohmann::json::object(), nlohmann::json::array()};
  int next_id = 0;
  for (const std::string& token : v.tokens) {
    while (next_id == bos || next_id == eos) ++next_id;
    out.vocab[utf8::bytes_to_chars(token)] = next_id++;
  }
  for (const auto& [a, b] : v.merges) {
    out.merges.push_back({utf8::bytes_to_chars(v.tokens[a]), utf8::bytes_to_chars(v.tokens[b])});
  }
  return out;
}

}  // namespace

bool has_tokenizer(const std::filesystem::path& model_dir) {
  return file_kind(model_dir / "tokenizer.json") != "missing";
}

Tokenizer load_tokenizer_for_model(const std::filesystem::path& model_dir) {
  if (!has_tokenizer(model_dir)) {
    fail(
        "{} has no tokenizer.json, so text cannot be turned into tokens: copy tokenizer.json "
        "(and tokenizer_config.json) from the model's Hugging Face repository, write a "
        "synthetic model again (it includes one), or pass token ids instead of text",
        model_dir.string());
  }
  return Tokenizer::load(model_dir);
}

std::string byte_level_tokenizer_json(int vocab_size, int bos_id, int eos_id) {
  const int bos = bos_id >= 0 ? bos_id : vocab_size - 2;
  const int eos = eos_id >= 0 ? eos_id : vocab_size - 1;
  if (bos >= vocab_size || eos >= vocab_size) {
    fail("synthetic tokenizer: BOS id {} and EOS id {} must lie below the vocabulary size {}", bos,
         eos, vocab_size);
  }
  // Qwen2 models give BOS and EOS one id (<|endoftext|>) and prepend nothing to a text; the
  // synthetic tokenizer of such a shape does the same, so a prompt has the real model's length.
  const bool shared = bos == eos;
  if (vocab_size < 258) {
    fail(
        "a synthetic byte-level tokenizer needs a vocabulary of at least 258 ids (256 bytes, "
        "BOS, EOS); the model has {}",
        vocab_size);
  }
  const auto model_size = static_cast<std::size_t>(vocab_size - (shared ? 1 : 2));
  const BpeJson bpe = byte_level_bpe(model_size, bos, eos);
  auto special = [](int id, const char* content) {
    return nlohmann::json{{"id", id},        {"content", content}, {"single_word", false},
                          {"lstrip", false}, {"rstrip", false},    {"normalized", false},
                          {"special", true}};
  };
  const nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", shared ? nlohmann::json{special(eos, "<|endoftext|>")}
                              : nlohmann::json{special(bos, "<|bos|>"), special(eos, "<|eos|>")}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", kSplitPattern}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"},
           {"add_prefix_space", false},
           {"trim_offsets", true},
           {"use_regex", false}}}}}},
      {"post_processor",
       shared ? nlohmann::json(nullptr)
              : nlohmann::json{{"type", "TemplateProcessing"},
                               {"single",
                                {{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}},
                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                               {"pair", nlohmann::json::array()},
                               {"special_tokens",
                                {{"<|bos|>",
                                  {{"id", "<|bos|>"}, {"ids", {bos}}, {"tokens", {"<|bos|>"}}}}}}}},
      {"decoder",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", bpe.vocab},
        {"merges", bpe.merges}}}};
  return tokenizer.dump(1);
}

std::string byte_level_tokenizer_config_json(bool shared_bos_eos) {
  const nlohmann::json config = {
      {"tokenizer_class", "PreTrainedTokenizerFast"},
      {"bos_token", shared_bos_eos ? nlohmann::json(nullptr) : nlohmann::json("<|bos|>")},
      {"eos_token", shared_bos_eos ? "<|endoftext|>" : "<|eos|>"},
      {"clean_up_tokenization_spaces", false},
      {"model_max_length", 1 << 20}};
  return config.dump(1);
}

void write_byte_level_tokenizer(const std::filesystem::path& dir, int vocab_size, int bos_id,
                                int eos_id) {
  const std::string tokenizer = byte_level_tokenizer_json(vocab_size, bos_id, eos_id);
  std::filesystem::create_directories(dir);
  write_text(dir / "tokenizer.json", tokenizer);
  write_text(dir / "tokenizer_config.json",
             byte_level_tokenizer_config_json(bos_id >= 0 && bos_id == eos_id));
}

void copy_tokenizer(const std::filesystem::path& from_dir, const std::filesystem::path& dir,
                    int vocab_size) {
  const Tokenizer tok = load_tokenizer_for_model(from_dir);
  if (tok.vocab_size() > vocab_size) {
    fail(
        "the tokenizer in {} has {} ids but the synthetic model's embedding has {} rows; pick "
        "a shape of the same family as the tokenizer (or leave the tokenizer out for a "
        "byte-level one)",
        from_dir.string(), tok.vocab_size(), vocab_size);
  }
  std::filesystem::create_directories(dir);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    std::error_code ec;
    if (!std::filesystem::exists(from_dir / name, ec)) continue;
    std::filesystem::copy_file(from_dir / name, dir / name,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec)
      fail("cannot copy {} to {}: {}", (from_dir / name).string(), dir.string(), ec.message());
  }
}

}  // namespace eco::model
