#pragma once
// A compiled PCRE2 pattern for the tokenizer's Split pre-tokenizer and Replace steps. Patterns
// are compiled with UTF + UCP (Unicode \p classes, Unicode \s) and PCRE2_MATCH_INVALID_UTF:
// invalid UTF-8 never matches, so it ends up in the gaps between matches and is kept as bytes.
// JIT-compiled where the platform supports it.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace eco::model {

class TokenizerRegex {
 public:
  // `source` names where the pattern came from (file and field) for error messages.
  TokenizerRegex(const std::string& pattern, const std::string& source);
  // A pattern matching `literal` exactly.
  static TokenizerRegex literal(std::string_view literal, const std::string& source);
  ~TokenizerRegex();
  TokenizerRegex(TokenizerRegex&&) noexcept;
  TokenizerRegex& operator=(TokenizerRegex&&) noexcept;

  // Calls on_match(begin, end) for each non-overlapping match, left to right. Empty matches
  // are reported and the search moves one character on, as Rust's find_iter does.
  void for_each_match(std::string_view text,
                      const std::function<void(std::size_t, std::size_t)>& on_match) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string pattern_;
  std::string source_;
};

}  // namespace eco::model
