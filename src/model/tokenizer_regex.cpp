#include "model/tokenizer_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/error.h"
#include "model/tokenizer_unicode.h"

namespace eco::model {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

// The JIT stack for long runs of whitespace: patterns such as \s+(?!\S) backtrack over the
// whole run. One per thread, grown on demand up to 64 MiB.
pcre2_jit_stack* thread_jit_stack() {
  struct Holder {
    pcre2_jit_stack* stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, nullptr);
    ~Holder() { pcre2_jit_stack_free(stack); }
  };
  thread_local Holder holder;
  return holder.stack;
}

}  // namespace

struct TokenizerRegex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() { pcre2_code_free(code); }
};

TokenizerRegex::TokenizerRegex(const std::string& pattern, const std::string& source)
    : impl_(std::make_unique<Impl>()), pattern_(pattern), source_(source) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  impl_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (impl_->code == nullptr) {
    fail(
        "{}: regex /{}/ does not compile at offset {}: {}; the tokenizer file uses a pattern "
        "PCRE2 cannot read",
        source, pattern, offset, pcre2_message(error));
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

TokenizerRegex TokenizerRegex::literal(std::string_view literal, const std::string& source) {
  std::string quoted = "\\Q";
  for (std::size_t i = 0; i < literal.size(); ++i) {
    // \Q...\E cannot hold "\E" itself: end the quote, escape it, and start again.
    if (literal.substr(i, 2) == "\\E") {
      quoted += "\\E\\\\E\\Q";
      ++i;
    } else {
      quoted.push_back(literal[i]);
    }
  }
  quoted += "\\E";
  return TokenizerRegex(quoted, source);
}

TokenizerRegex::~TokenizerRegex() = default;
TokenizerRegex::TokenizerRegex(TokenizerRegex&&) noexcept = default;
TokenizerRegex& TokenizerRegex::operator=(TokenizerRegex&&) noexcept = default;

void TokenizerRegex::for_each_match(
    std::string_view text, const std::function<void(std::size_t, std::size_t)>& on_match) const {
  const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
  const std::unique_ptr<pcre2_match_context, decltype(&pcre2_match_context_free)> context(
      pcre2_match_context_create(nullptr), &pcre2_match_context_free);
  if (!data || !context) fail("{}: out of memory for regex /{}/", source_, pattern_);
  if (impl_->jit) pcre2_jit_stack_assign(context.get(), nullptr, thread_jit_stack());
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const int status =
        impl_->jit
            ? pcre2_jit_match(impl_->code, subject, text.size(), pos, 0, data.get(), context.get())
            : pcre2_match(impl_->code, subject, text.size(), pos, 0, data.get(), context.get());
    if (status == PCRE2_ERROR_NOMATCH) return;
    if (status < 0) {
      fail("{}: regex /{}/ failed on a {}-byte input: {}; split the text into smaller pieces",
           source_, pattern_, text.size(), pcre2_message(status));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
    const std::size_t begin = ov[0];
    const std::size_t end = ov[1];
    on_match(begin, end);
    if (end > begin) {
      pos = end;
    } else if (end >= text.size()) {
      return;
    } else {
      pos = end + utf8::decode(text, end).length;
    }
  }
}

}  // namespace eco::model
