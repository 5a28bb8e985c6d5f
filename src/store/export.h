#pragma once
// Export of a study as CSV, JSON (one array), JSON Lines or a Markdown table. CSV and JSON
// carry every stored value exactly (shortest round-trip decimal form); NULL is an empty CSV
// field, JSON null, and "not measured" in Markdown. In CSV, a text cell that a spreadsheet would
// run as a formula (it starts with = + - @, a tab or a carriage return, and is not a plain
// number such as -1.5) is written with a leading apostrophe; numbers are written as numbers.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/store.h"

namespace eco::store {

enum class ExportFormat { Csv, Json, Jsonl, Md };
enum class ExportTable { Runs, Configs, Quality };

ExportFormat parse_export_format(std::string_view name);  // csv | json | jsonl | md

using Cell = std::variant<std::monostate, int64_t, double, std::string>;

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

// Metrics summarised per configuration (config_stats.metric), in display order.
const std::vector<std::string>& summary_metrics();

// Runs: one row per stored run (warm-ups included, flagged), joined with its configuration.
// Configs: one row per configuration with mean, sd, cv, ci_low, ci_high of each summary metric,
// then quality_* columns: the latest quality score of the same model and format (NULL if none).
// Quality: one row per stored quality score (`ecocompute quality`).
Table export_table(Store& store, ExportTable which);
std::string render(const Table& table, ExportFormat format);

// The llama-bench-like table printed after a sweep: one row per configuration, mean +/- sd.
std::string render_summary(Store& store);

}  // namespace eco::store
