#pragma once
// UTF-8 and Unicode helpers for the tokenizer: decoding that tolerates invalid bytes (they come
// back as single "raw byte" units so no input is ever lost), canonical normalization (NFC, NFD)
// and the GPT-2 byte <-> printable character mapping that byte-level BPE vocabularies use.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace eco::model::utf8 {

// One decoded unit: a code point, or (valid == false) one byte that is not part of a valid
// UTF-8 sequence (overlong forms, surrogates, truncated sequences, stray continuation bytes).
struct Unit {
  char32_t code_point;  // the byte value when !valid
  uint8_t length;       // bytes consumed (1 for an invalid byte)
  bool valid;
};

// Decodes the unit starting at s[pos] (pos < s.size()).
Unit decode(std::string_view s, std::size_t pos);
void append(std::string& out, char32_t cp);
bool is_valid(std::string_view s);

// Unicode White_Space (what Hugging Face's `char::is_whitespace` tests).
bool is_whitespace(char32_t cp);

// Canonical composition / decomposition. Invalid bytes pass through unchanged and block
// composition across them. Text whose code points are all below U+0300 is returned as is.
std::string nfc(std::string_view s);
std::string nfd(std::string_view s);
const char* unicode_version();

// GPT-2's reversible byte -> printable code point mapping (printable Latin-1 bytes map to
// themselves, the others to U+0100 + n) and its inverse.
char32_t byte_to_char(uint8_t b);
// Returns -1 when `cp` is not one of the 256 byte characters.
int char_to_byte(char32_t cp);
// Maps every byte of `raw` to its character (UTF-8 encoded).
std::string bytes_to_chars(std::string_view raw);
// Inverse of bytes_to_chars; false when `text` holds a character outside the mapping.
bool chars_to_bytes(std::string_view text, std::string& raw);

}  // namespace eco::model::utf8
