// UTF-8 decoding of invalid input, NFC/NFD, and GPT-2's byte <-> character mapping.
#include <gtest/gtest.h>

#include "model/tokenizer_unicode.h"

namespace eco::model::utf8 {
namespace {

TEST(TokenizerUtf8, DecodesValidSequences) {
  const std::string s = "a\u00e9\u20ac\U0001F600";
  std::vector<char32_t> cps;
  for (std::size_t i = 0; i < s.size();) {
    const Unit u = decode(s, i);
    ASSERT_TRUE(u.valid);
    cps.push_back(u.code_point);
    i += u.length;
  }
  EXPECT_EQ(cps, (std::vector<char32_t>{'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_TRUE(is_valid(s));
}

TEST(TokenizerUtf8, InvalidBytesComeBackOneByOne) {
  for (const std::string bad : {"\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\xF5\x80\x80\x80", "\x80",
                                "\xF4\x90\x80\x80", "\xE0\x80\xAF"}) {
    const Unit u = decode(bad, 0);
    EXPECT_FALSE(u.valid) << "input " << testing::PrintToString(bad);
    EXPECT_EQ(u.length, 1);
    EXPECT_EQ(u.code_point, static_cast<uint8_t>(bad[0]));
    EXPECT_FALSE(is_valid(bad));
  }
}

TEST(TokenizerUtf8, NfcComposes) {
  EXPECT_EQ(nfc("cafe\u0301"), "caf\u00e9");
  EXPECT_EQ(nfc("A\u030Angstro\u0308m"), "\u00C5ngstr\u00F6m");
  // Marks in either order end up canonically ordered, then composed: U+1ED9.
  EXPECT_EQ(nfc("o\u0323\u0302"), "\u1ED9");
  EXPECT_EQ(nfc("o\u0302\u0323"), "\u1ED9");
  // Hangul jamo compose algorithmically; a syllable plus a trailing consonant too.
  EXPECT_EQ(nfc("\u1100\u1161\u11A8"), "\uAC01");
  EXPECT_EQ(nfc("\uAC00\u11A8"), "\uAC01");
  // Singletons decompose for good (Angstrom sign -> A with ring).
  EXPECT_EQ(nfc("\u212B"), "\u00C5");
  // Composition exclusions stay decomposed (Devanagari QA).
  EXPECT_EQ(nfc("\u0958"), "\u0915\u093C");
  // A second acute cannot compose (blocked by the first, same class).
  EXPECT_EQ(nfc("e\u0301\u0301"), "\u00e9\u0301");
  // Already NFC text is unchanged, including text below U+0300 (the fast path).
  EXPECT_EQ(nfc("na\u00efve r\u00e9sum\u00e9 \u4e2d\u6587 \U0001F600"),
            "na\u00efve r\u00e9sum\u00e9 \u4e2d\u6587 \U0001F600");
}

TEST(TokenizerUtf8, NfcKeepsInvalidBytesAndDoesNotComposeAcrossThem) {
  EXPECT_EQ(nfc("e\xFF\u0301"), "e\xFF\u0301");
  EXPECT_EQ(nfc("\xC3"
                "e\u0301"),
            "\xC3\u00e9");
}

TEST(TokenizerUtf8, NfdDecomposes) {
  EXPECT_EQ(nfd("caf\u00e9"), "cafe\u0301");
  EXPECT_EQ(nfd("\uAC01"), "\u1100\u1161\u11A8");
  EXPECT_EQ(nfd("\u1ED9"), "o\u0323\u0302");
  EXPECT_EQ(nfd("plain ascii"), "plain ascii");
}

TEST(TokenizerUtf8, ByteCharactersRoundTrip) {
  EXPECT_EQ(byte_to_char(' '), U'\u0120');   // "Ġ"
  EXPECT_EQ(byte_to_char('\n'), U'\u010A');  // "Ċ"
  EXPECT_EQ(byte_to_char('A'), U'A');
  EXPECT_EQ(char_to_byte(U'\u0120'), ' ');
  EXPECT_EQ(char_to_byte(U'\u4e2d'), -1);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(chars_to_bytes(bytes_to_chars(all), back));
  EXPECT_EQ(back, all);
  EXPECT_FALSE(chars_to_bytes("\u4e2d", back));
}

TEST(TokenizerUtf8, WhitespaceIsUnicodeWhiteSpace) {
  for (char32_t c : {U' ', U'\t', U'\n', U'\u00A0', U'\u3000', U'\u2028', U'\u0085'}) {
    EXPECT_TRUE(is_whitespace(c)) << static_cast<uint32_t>(c);
  }
  for (char32_t c : {U'a', U'\u200B', U'\uFEFF', U'_'}) {
    EXPECT_FALSE(is_whitespace(c)) << static_cast<uint32_t>(c);
  }
}

}  // namespace
}  // namespace eco::model::utf8
