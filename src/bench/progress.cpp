#include "bench/progress.h"

#include <unistd.h>

#include <fmt/format.h>

namespace eco::bench {

namespace {

// Progress is advice, the study is the result: a closed or full stderr must not turn a measured
// configuration into a failed one (fmt::print would throw), so write errors are ignored here.
template <typename... Args>
void put(std::FILE* f, fmt::format_string<Args...> format, Args&&... args) {
  const std::string text = fmt::format(format, std::forward<Args>(args)...);
  [[maybe_unused]] const size_t written = std::fwrite(text.data(), 1, text.size(), f);
}

}  // namespace

TerminalProgress::TerminalProgress(std::FILE* out, bool tty) : out_(out), tty_(tty) {}

bool TerminalProgress::is_tty(std::FILE* f) {
  return ::isatty(::fileno(f)) == 1;
}

std::string TerminalProgress::eta_text() const {
  if (!seconds_left_ || total_ <= done_) return "";
  const int s = int(*seconds_left_ + 0.5);
  return fmt::format(" ETA {}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60);
}

void TerminalProgress::eta(std::optional<double> seconds_left) {
  seconds_left_ = seconds_left;
}

void TerminalProgress::draw(const std::string& text) {
  if (tty_) {
    const int width = 24;
    const int filled = total_ > 0 ? width * done_ / total_ : 0;
    put(out_, "\r\033[K[{}{}] {}/{}{} {}", std::string(size_t(filled), '#'),
        std::string(size_t(width - filled), '.'), done_, total_, eta_text(), text);
    line_open_ = true;
  } else {
    put(out_, "{}\n", text);
  }
  std::fflush(out_);
}

void TerminalProgress::sweep_started(int total, int skipped) {
  total_ = total;
  done_ = skipped;
  if (skipped > 0)
    draw(fmt::format("bench: {} configurations, {} already complete (resumed)", total, skipped));
  else
    draw(fmt::format("bench: {} configurations", total));
}

void TerminalProgress::config_started(int position, int total, const std::string& label) {
  position_ = position;
  label_ = label;
  draw(fmt::format("bench: [{}/{}] {}", position, total, label));
}

void TerminalProgress::step(const std::string& name, const std::string& outcome) {
  draw(fmt::format("bench: {} {}: {}", label_, name, outcome));
}

void TerminalProgress::run_started(const RunLabel& label, int planned) {
  if (tty_)
    draw(fmt::format("{} {} {}/{}{}", label_, label.warmup ? "warm-up" : "run", label.index + 1,
                     planned, label.round > 0 ? fmt::format(" (re-run {})", label.round) : ""));
}

void TerminalProgress::run_finished(const store::RunRecord&) {}

void TerminalProgress::config_finished(const std::string& label, store::ConfigStatus status,
                                       const std::string& detail) {
  ++done_;
  if (tty_ && line_open_) {
    put(out_, "\r\033[K");
    line_open_ = false;
  }
  const std::string text =
      fmt::format("bench: {} {}{}", label, status == store::ConfigStatus::Done ? "done" : "FAILED",
                  detail.empty() ? "" : " (" + detail + ")");
  if (tty_) {
    put(out_, "{}\n", text);
    std::fflush(out_);
  } else {
    draw(fmt::format("{} [{}/{}]{}", text, done_, total_, eta_text()));
  }
}

void TerminalProgress::warning(const std::string& text) {
  if (tty_ && line_open_) put(out_, "\r\033[K");
  line_open_ = false;
  put(out_, "bench: warning: {}\n", text);
  std::fflush(out_);
}

}  // namespace eco::bench
