// `ecocompute tokenize --model DIR "text"`: token ids and pieces of a text, with the model's own
// tokenizer.json. --jsonl encodes one JSON string per line (for comparisons with other
// tokenizer implementations); --decode turns ids back into text.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/prompt.h"
#include "cli/command.h"
#include "common/error.h"
#include "model/resolve.h"
#include "model/tokenizer.h"

namespace {

struct Options {
  std::string model;
  std::vector<std::string> texts;
  std::string text_file;
  std::string jsonl_file;
  std::string decode;
  bool no_special = false;
  bool json = false;
  bool skip_special = false;
};

std::string read_text(const std::string& path) {
  if (path == "-") {
    std::ostringstream s;
    s << std::cin.rdbuf();
    return s.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) eco::fail("--text {}: cannot read the file", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Pieces are printed as JSON strings so that spaces, newlines and bytes stay visible.
std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Output is written in bounded pieces as it is formatted: a long text has millions of tokens,
// and building the whole listing (or a JSON document of it) first took ~200 bytes of memory per
// input byte.
class ChunkedOut {
 public:
  template <typename... Args>
  void add(fmt::format_string<Args...> f, Args&&... args) {
    fmt::format_to(std::back_inserter(buffer_), f, std::forward<Args>(args)...);
    if (buffer_.size() >= (1 << 16)) flush();
  }
  void flush() {
    fmt::print("{}", std::string_view(buffer_.data(), buffer_.size()));
    buffer_.clear();
  }

 private:
  fmt::memory_buffer buffer_;
};

void print_encoding(const eco::model::Tokenizer& tok, const std::string& text, const Options& o) {
  const std::vector<int32_t> ids = tok.encode(text, !o.no_special);
  ChunkedOut out;
  auto piece = [&](int32_t id) { return quoted(tok.id_to_token(id).value_or("")); };
  if (o.json) {  // the text nlohmann's dump(-1) gives for {"ids": [...], "pieces": [...]}
    out.add("{{\"ids\":[");
    for (size_t i = 0; i < ids.size(); ++i) out.add("{}{}", i ? "," : "", ids[i]);
    out.add("],\"pieces\":[");
    for (size_t i = 0; i < ids.size(); ++i) out.add("{}{}", i ? "," : "", piece(ids[i]));
    out.add("]}}\n");
    out.flush();
    return;
  }
  out.add("{} tokens: [", ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out.add("{}{}", i ? ", " : "", ids[i]);
  out.add("]\n");
  for (int32_t id : ids) out.add("{:>8}  {}\n", id, piece(id));
  out.flush();
}

void run(const Options& o) {
  // synthetic:SHAPE resolves to its cached directory (written on first use), like --model
  // everywhere else; its tokenizer is the one the synthetic model carries.
  const bool synthetic = eco::model::is_synthetic_spec(o.model);
  const eco::model::Tokenizer tok =
      synthetic ? eco::bench::tokenizer_for_model(eco::model::resolve_model(o.model), true)
                : eco::model::Tokenizer::load(o.model);
  if (!o.decode.empty()) {
    std::vector<int32_t> ids;
    std::istringstream in(o.decode);
    std::string item;
    while (std::getline(in, item, ',')) {
      try {
        ids.push_back(std::stoi(item));
      } catch (const std::exception&) {
        eco::fail("--decode: \"{}\" is not a token id; give ids separated by commas", item);
      }
    }
    fmt::print("{}", tok.decode(ids, o.skip_special));
    if (!o.json) fmt::print("\n");
    return;
  }
  if (!o.jsonl_file.empty()) {
    // One JSON string per input line -> one JSON array of ids per output line.
    std::istringstream lines(read_text(o.jsonl_file));
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error&) {
        eco::fail("--jsonl {}: line {} is not JSON", o.jsonl_file, n);
      }
      if (!j.is_string()) eco::fail("--jsonl {}: line {} is not a JSON string", o.jsonl_file, n);
      fmt::print("{}\n", nlohmann::json(tok.encode(j.get<std::string>(), !o.no_special)).dump());
    }
    return;
  }
  if (!o.text_file.empty()) print_encoding(tok, read_text(o.text_file), o);
  for (const std::string& t : o.texts) print_encoding(tok, t, o);
  if (o.text_file.empty() && o.texts.empty()) {
    eco::fail("tokenize: give a text, --text FILE, --jsonl FILE or --decode IDS");
  }
}

void setup(CLI::App& sub) {
  auto o = std::make_shared<Options>();
  sub.add_option("--model", o->model, "Model directory, tokenizer.json file or synthetic:SHAPE")
      ->required();
  sub.add_option("texts", o->texts, "Text(s) to encode");
  sub.add_option("--text", o->text_file, "Encode the contents of FILE ('-' for stdin)");
  sub.add_option("--jsonl", o->jsonl_file, "Encode each line (a JSON string); print id arrays");
  sub.add_option("--decode", o->decode, "Decode comma-separated ids instead");
  sub.add_flag("--no-special", o->no_special, "Do not add the post-processor's tokens (BOS)");
  sub.add_flag("--skip-special", o->skip_special, "With --decode: leave special tokens out");
  sub.add_flag("--json", o->json, "Print JSON ({\"ids\": [...], \"pieces\": [...]})");
  sub.callback([o] { run(*o); });
}

}  // namespace

ECO_COMMAND("tokenize", "Encode text with a model's tokenizer.json (ids and pieces)", setup);
