#include "model/tokenizer_unicode.h"

#include <algorithm>
#include <vector>

#include "model/tokenizer_unicode_tables.h"

namespace eco::model::utf8 {

namespace tables = unicode_tables;

Unit decode(std::string_view s, std::size_t pos) {
  const auto b0 = static_cast<uint8_t>(s[pos]);
  if (b0 < 0x80) return {b0, 1, true};
  const Unit bad{b0, 1, false};
  int need = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07, min = 0x10000;
  } else {
    return bad;
  }
  if (pos + need >= s.size()) return bad;
  for (int i = 1; i <= need; ++i) {
    const auto b = static_cast<uint8_t>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return bad;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return bad;
  return {cp, static_cast<uint8_t>(need + 1), true};
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const Unit u = decode(s, i);
    if (!u.valid) return false;
    i += u.length;
  }
  return true;
}

bool is_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

const char* unicode_version() {
  return tables::kUnicodeVersion;
}

namespace {

// Hangul syllables compose and decompose algorithmically (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr char32_t kSCount = kLCount * kNCount;

uint8_t combining_class(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto* end = tables::kCombiningClasses + tables::kCombiningClassCount;
  const auto* it = std::upper_bound(tables::kCombiningClasses, end, cp,
                                    [](char32_t c, const auto& r) { return c < r.first; });
  if (it == tables::kCombiningClasses) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

// A normalization unit: a code point, or an invalid byte (ccc 0, never composes).
struct NormUnit {
  char32_t cp;
  uint8_t ccc;
  bool valid;
};

void push_decomposed(std::vector<NormUnit>& out, char32_t cp) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back({kLBase + s / kNCount, 0, true});
    out.push_back({kVBase + (s % kNCount) / kTCount, 0, true});
    if (s % kTCount != 0) out.push_back({kTBase + s % kTCount, 0, true});
    return;
  }
  if (cp >= 0xC0) {
    const auto* end = tables::kDecompositions + tables::kDecompositionCount;
    const auto* it = std::lower_bound(tables::kDecompositions, end, cp,
                                      [](const auto& d, char32_t c) { return d.code_point < c; });
    if (it != end && it->code_point == cp) {
      for (int i = 0; i < it->length; ++i) {
        const char32_t part = tables::kDecompositionPool[it->offset + i];
        out.push_back({part, combining_class(part), true});
      }
      return;
    }
  }
  out.push_back({cp, combining_class(cp), true});
}

// Decomposes and puts each run of non-starters in canonical (stable, by class) order.
std::vector<NormUnit> decompose(std::string_view s) {
  std::vector<NormUnit> units;
  units.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const Unit u = decode(s, i);
    i += u.length;
    if (!u.valid) {
      units.push_back({u.code_point, 0, false});
      continue;
    }
    push_decomposed(units, u.code_point);
  }
  for (std::size_t i = 0; i < units.size();) {
    if (units[i].ccc == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < units.size() && units[j].ccc != 0) ++j;
    std::stable_sort(units.begin() + static_cast<std::ptrdiff_t>(i),
                     units.begin() + static_cast<std::ptrdiff_t>(j),
                     [](const NormUnit& a, const NormUnit& b) { return a.ccc < b.ccc; });
    i = j;
  }
  return units;
}

// The primary composite of (first, second), or 0.
char32_t compose_pair(char32_t first, char32_t second) {
  if (first >= kLBase && first < kLBase + kLCount && second >= kVBase &&
      second < kVBase + kVCount) {
    return kSBase + ((first - kLBase) * kVCount + (second - kVBase)) * kTCount;
  }
  if (first >= kSBase && first < kSBase + kSCount && (first - kSBase) % kTCount == 0 &&
      second > kTBase && second < kTBase + kTCount) {
    return first + (second - kTBase);
  }
  const auto* end = tables::kCompositions + tables::kCompositionCount;
  const auto* it =
      std::lower_bound(tables::kCompositions, end, std::pair{first, second},
                       [](const auto& c, const std::pair<char32_t, char32_t>& k) {
                         return c.first != k.first ? c.first < k.first : c.second < k.second;
                       });
  return (it != end && it->first == first && it->second == second) ? it->composite : 0;
}

std::string encode_units(const std::vector<NormUnit>& units) {
  std::string out;
  out.reserve(units.size() * 2);
  for (const NormUnit& u : units) {
    if (u.valid) {
      append(out, u.cp);
    } else {
      out.push_back(static_cast<char>(u.cp));
    }
  }
  return out;
}

bool below_combining_range(std::string_view s) {
  // Lead bytes >= 0xCC start code points >= U+0300; every code point below that is already
  // in NFC and NFD and takes no part in any composition.
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) >= 0xCC; });
}

}  // namespace

std::string nfd(std::string_view s) {
  // Unlike NFC, Latin-1 letters such as U+00E9 decompose, so only ASCII is returned as is.
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; })) {
    return std::string(s);
  }
  return encode_units(decompose(s));
}

std::string nfc(std::string_view s) {
  if (below_combining_range(s)) return std::string(s);
  std::vector<NormUnit> units = decompose(s);
  // Canonical composition: each unit composes with the last starter unless a unit between them
  // has a combining class >= its own (it is "blocked").
  std::size_t starter = SIZE_MAX;
  std::size_t out = 0;
  int last_ccc = -1;
  for (std::size_t i = 0; i < units.size(); ++i) {
    const NormUnit u = units[i];
    if (u.valid && starter != SIZE_MAX) {
      // last_ccc == -1: the unit follows the starter directly.
      const bool blocked = last_ccc != -1 && last_ccc >= u.ccc;
      if (!blocked) {
        const char32_t c = compose_pair(units[starter].cp, u.cp);
        if (c != 0) {
          units[starter].cp = c;
          continue;
        }
      }
    }
    if (u.ccc == 0) {
      starter = u.valid ? out : SIZE_MAX;
      last_ccc = -1;
    } else {
      last_ccc = u.ccc;
    }
    units[out++] = u;
  }
  units.resize(out);
  return encode_units(units);
}

namespace {

constexpr char32_t kByteCharLimit = 256 + 68;  // the 68 non-printable bytes map above 255

struct ByteCharTables {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8{};
  std::array<int16_t, kByteCharLimit> to_byte{};
};

const ByteCharTables& byte_tables() {
  static const ByteCharTables t = [] {
    ByteCharTables r;
    r.to_byte.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      r.to_char[b] = printable ? static_cast<char32_t>(b) : next++;
      append(r.to_utf8[b], r.to_char[b]);
      r.to_byte[r.to_char[b]] = static_cast<int16_t>(b);
    }
    return r;
  }();
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t b) {
  return byte_tables().to_char[b];
}

int char_to_byte(char32_t cp) {
  return cp < kByteCharLimit ? byte_tables().to_byte[cp] : -1;
}

std::string bytes_to_chars(std::string_view raw) {
  const auto& t = byte_tables();
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) out += t.to_utf8[static_cast<uint8_t>(c)];
  return out;
}

bool chars_to_bytes(std::string_view text, std::string& raw) {
  raw.clear();
  for (std::size_t i = 0; i < text.size();) {
    const Unit u = decode(text, i);
    if (!u.valid) return false;
    const int b = char_to_byte(u.code_point);
    if (b < 0) return false;
    raw.push_back(static_cast<char>(b));
    i += u.length;
  }
  return true;
}

}  // namespace eco::model::utf8
