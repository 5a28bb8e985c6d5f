#include "model/tokenizer_unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace eco::model::utf8 {

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
  return utf8proc_unicode_version();
}

namespace {

// Normalizes valid UTF-8 with utf8proc (canonical decomposition, and composition for NFC).
void append_normalized(std::string& out, std::string_view valid, bool compose) {
  if (valid.empty()) return;
  utf8proc_uint8_t* result = nullptr;
  const int options = UTF8PROC_STABLE | (compose ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                   utf8proc_ssize_t(valid.size()), &result, utf8proc_option_t(options));
  if (n < 0) {
    // Only an allocation failure is possible on valid input: keep the text as it is rather
    // than lose it.
    std::free(result);
    out.append(valid);
    return;
  }
  out.append(reinterpret_cast<const char*>(result), size_t(n));
  std::free(result);
}

// Invalid bytes pass through unchanged; they act as starters that never compose, so each run of
// valid text between them is normalized on its own.
std::string normalize(std::string_view s, bool compose) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size();) {
    const Unit u = decode(s, i);
    if (u.valid) {
      i += u.length;
      continue;
    }
    append_normalized(out, s.substr(run, i - run), compose);
    out.push_back(s[i]);
    run = ++i;
  }
  append_normalized(out, s.substr(run), compose);
  return out;
}

bool below_combining_range(std::string_view s) {
  // Lead bytes >= 0xCC start code points >= U+0300; every code point below that is already
  // in NFC and takes no part in any composition.
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) >= 0xCC; });
}

}  // namespace

std::string nfd(std::string_view s) {
  // Unlike NFC, Latin-1 letters such as U+00E9 decompose, so only ASCII is returned as is.
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; })) {
    return std::string(s);
  }
  return normalize(s, false);
}

std::string nfc(std::string_view s) {
  if (below_combining_range(s)) return std::string(s);
  return normalize(s, true);
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
