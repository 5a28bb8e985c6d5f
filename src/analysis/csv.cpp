#include "analysis/csv.h"

#include <fmt/ranges.h>

#include "common/error.h"

namespace eco::analysis {

const std::string& CsvRecord::get(std::string_view column) const {
  const auto it = columns_->find(std::string(column));
  if (it == columns_->end())
    fail("{} line {}: no column '{}' in the header", at_->name, at_->line, column);
  return cells_[it->second];
}

std::string CsvRecord::get_or(std::string_view column, std::string fallback) const {
  const auto it = columns_->find(std::string(column));
  return it == columns_->end() ? fallback : cells_[it->second];
}

CsvReader::CsvReader(std::string_view text, std::string_view name,
                     std::vector<std::string> required)
    : text_(text) {
  at_.name = std::string(name);
  const auto header = next_cells();
  if (!header) fail("{}: empty file (no header row)", name);
  for (size_t i = 0; i < header->size(); ++i) {
    if (!columns_.emplace((*header)[i], i).second)
      fail("{} line {}: column '{}' appears twice in the header", name, at_.line, (*header)[i]);
  }
  for (const auto& c : required)
    if (!columns_.count(c))
      fail("{}: the header has no '{}' column (line {}); required columns: {}", name, c, at_.line,
           fmt::join(required, ", "));
}

std::optional<CsvRecord> CsvReader::next() {
  auto cells = next_cells();
  if (!cells) return std::nullopt;
  if (cells->size() != columns_.size())
    fail(
        "{} line {}: {} cells but the header has {} columns (a stray comma, or a cell with a "
        "comma that needs \"quotes\")",
        at_.name, at_.line, cells->size(), columns_.size());
  return CsvRecord(&columns_, std::move(*cells), &at_);
}

// One record: skips blank and '#' lines; a quoted cell may hold commas, quotes ("") and newlines.
std::optional<std::vector<std::string>> CsvReader::next_cells() {
  while (pos_ < text_.size()) {
    ++line_;
    const size_t eol = text_.find('\n', pos_);
    const std::string_view raw =
        text_.substr(pos_, eol == std::string_view::npos ? std::string_view::npos : eol - pos_);
    if (raw.empty() || raw == "\r" || raw.front() == '#') {
      pos_ = eol == std::string_view::npos ? text_.size() : eol + 1;
      continue;
    }
    at_.line = line_;
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (; pos_ < text_.size(); ++pos_) {
      const char c = text_[pos_];
      if (quoted) {
        if (c == '"' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          cells.back() += '"';
          ++pos_;
        } else if (c == '"') {
          quoted = false;
        } else {
          if (c == '\n') ++line_;
          cells.back() += c;
        }
      } else if (c == '"' && cells.back().empty()) {
        quoted = true;
      } else if (c == ',') {
        cells.emplace_back();
      } else if (c == '\n') {
        ++pos_;
        break;
      } else if (c != '\r') {
        cells.back() += c;
      }
    }
    if (quoted) fail("{} line {}: a quoted cell is not closed", at_.name, at_.line);
    return cells;
  }
  return std::nullopt;
}

}  // namespace eco::analysis
