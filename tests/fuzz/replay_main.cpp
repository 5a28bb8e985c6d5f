// Replays a fuzz target without libFuzzer, for the normal test suite: every file of the seed
// corpus, then deterministic pseudo-random mutations of them. A crash, sanitizer report or
// abort fails the test; usage: <target>_replay CORPUS_DIR [--mutations N] [--seed S].
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

// splitmix64: small, deterministic across platforms.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : size_t(next() % n); }
};

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Bytes that matter to JSON and to the safetensors length prefix.
constexpr uint8_t kInteresting[] = {0,   1,   0x7f, 0x80, 0xff, '"', '{', '}',  '[',  ']', ',',
                                    ':', '-', '0',  '9',  'e',  '.', ' ', '\\', 0xc3, 0xed};

void mutate(Bytes& b, const std::vector<Bytes>& corpus, Rng& rng) {
  switch (rng.below(8)) {
    case 0:  // flip a bit
      if (!b.empty()) b[rng.below(b.size())] ^= uint8_t(1u << rng.below(8));
      break;
    case 1:  // overwrite with an interesting byte
      if (!b.empty()) b[rng.below(b.size())] = kInteresting[rng.below(sizeof kInteresting)];
      break;
    case 2:  // insert an interesting byte
      b.insert(b.begin() + std::ptrdiff_t(rng.below(b.size() + 1)),
               kInteresting[rng.below(sizeof kInteresting)]);
      break;
    case 3: {  // erase a range
      if (b.empty()) break;
      const size_t at = rng.below(b.size());
      const size_t n = 1 + rng.below(std::min<size_t>(16, b.size() - at));
      b.erase(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(at + n));
      break;
    }
    case 4:  // truncate
      b.resize(rng.below(b.size() + 1));
      break;
    case 5: {  // write a little-endian 64-bit value (small, huge or near a size) at an offset
      if (b.size() < 8) break;
      const uint64_t choices[] = {
          0, 1, b.size(), b.size() - 8, b.size() - 7, ~uint64_t(0), uint64_t(1) << 32, rng.next()};
      const uint64_t v = choices[rng.below(8)];
      const size_t at = rng.below(2) ? 0 : rng.below(b.size() - 7);
      for (int i = 0; i < 8; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
      break;
    }
    case 6: {  // duplicate a range in place
      if (b.empty()) break;
      const size_t at = rng.below(b.size());
      const size_t n = 1 + rng.below(std::min<size_t>(32, b.size() - at));
      const Bytes piece(b.begin() + std::ptrdiff_t(at), b.begin() + std::ptrdiff_t(at + n));
      b.insert(b.begin() + std::ptrdiff_t(rng.below(b.size() + 1)), piece.begin(), piece.end());
      break;
    }
    default: {  // splice with another corpus entry
      if (corpus.empty()) break;
      const Bytes& other = corpus[rng.below(corpus.size())];
      const size_t cut = rng.below(b.size() + 1);
      const size_t from = rng.below(other.size() + 1);
      b.resize(cut);
      b.insert(b.end(), other.begin() + std::ptrdiff_t(from), other.end());
      break;
    }
  }
  if (b.size() > (1u << 16)) b.resize(1u << 16);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  long mutations = 3000;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mutations" && i + 1 < argc) {
      mutations = std::atol(argv[++i]);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      inputs.emplace_back(a);
    }
  }
  std::vector<Bytes> corpus;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(in, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(in))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());  // same order everywhere
      for (const auto& f : files) corpus.push_back(read_file(f));
    } else if (std::filesystem::is_regular_file(in, ec)) {
      corpus.push_back(read_file(in));
    } else {
      std::fprintf(stderr, "replay: %s: no such file or directory\n", in.c_str());
      return 2;
    }
  }
  for (const auto& b : corpus) LLVMFuzzerTestOneInput(b.data(), b.size());
  Rng rng{seed};
  for (long m = 0; m < mutations; ++m) {
    Bytes b = corpus.empty() ? Bytes{} : corpus[size_t(m) % corpus.size()];
    const size_t rounds = 1 + rng.below(4);
    for (size_t r = 0; r < rounds; ++r) mutate(b, corpus, rng);
    LLVMFuzzerTestOneInput(b.data(), b.size());
  }
  std::printf("replay: %zu corpus inputs and %ld mutations ran without a crash\n", corpus.size(),
              mutations);
  return 0;
}
