#pragma once
// A small reader for the bundled CSV tables (published results, claims): RFC 4180 quoting,
// '#' comment lines, a header row, and errors that name the file, line and column.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eco::analysis {

struct CsvCursor {
  std::string name;  // the file, for messages
  int line = 0;      // 1-based line of the current record
};

class CsvRecord {
 public:
  CsvRecord(const std::map<std::string, size_t>* columns, std::vector<std::string> cells,
            const CsvCursor* at)
      : columns_(columns), cells_(std::move(cells)), at_(at) {}
  // The cell of a column the header has (required columns are checked when reading starts).
  const std::string& get(std::string_view column) const;
  // The cell, or `fallback` when the header has no such column.
  std::string get_or(std::string_view column, std::string fallback) const;

 private:
  const std::map<std::string, size_t>* columns_;
  std::vector<std::string> cells_;
  const CsvCursor* at_;
};

class CsvReader {
 public:
  // Reads the header; throws eco::Error naming any of `required` it lacks.
  CsvReader(std::string_view text, std::string_view name, std::vector<std::string> required);
  // The next data record; nullopt at the end.
  std::optional<CsvRecord> next();
  const CsvCursor& cursor() const { return at_; }

 private:
  std::optional<std::vector<std::string>> next_cells();
  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 0;
  CsvCursor at_;
  std::map<std::string, size_t> columns_;
};

}  // namespace eco::analysis
