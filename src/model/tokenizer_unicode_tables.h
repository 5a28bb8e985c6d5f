#pragma once
// Unicode data for canonical normalization (NFC/NFD), generated into
// tokenizer_unicode_tables.cpp by tests/tokenizer/gen_unicode_tables.py. All arrays are sorted
// by their first field so lookups are binary searches.
#include <cstddef>
#include <cstdint>

namespace eco::model::unicode_tables {

struct CombiningClassRange {
  char32_t first;
  char32_t last;
  uint8_t ccc;
};
struct Decomposition {
  char32_t code_point;
  uint16_t offset;  // into kDecompositionPool; the full (recursive) canonical decomposition
  uint8_t length;
};
struct Composition {
  char32_t first;
  char32_t second;
  char32_t composite;
};

extern const char* const kUnicodeVersion;
extern const CombiningClassRange kCombiningClasses[];
extern const std::size_t kCombiningClassCount;
extern const char32_t kDecompositionPool[];
extern const Decomposition kDecompositions[];
extern const std::size_t kDecompositionCount;
extern const Composition kCompositions[];
extern const std::size_t kCompositionCount;

}  // namespace eco::model::unicode_tables
