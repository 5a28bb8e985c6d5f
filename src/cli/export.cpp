// `ecocompute export`: a study database as CSV, JSON, JSON Lines or Markdown.
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "cli/command.h"
#include "common/error.h"
#include "store/export.h"
#include "store/output_guard.h"

namespace {

struct ExportArgs {
  std::string db, format = "csv", out;
  bool runs = false, configs = false, quality = false;
};

void setup(CLI::App& sub) {
  auto a = std::make_shared<ExportArgs>();
  sub.add_option("--db", a->db, "Study database written by `ecocompute bench`")->required();
  sub.add_option("--format", a->format,
                 "csv, json, jsonl or md (csv: text a spreadsheet would run as a formula, such as "
                 "a model named =HYPERLINK(...), gets a leading apostrophe)")
      ->capture_default_str();
  auto* runs = sub.add_flag("--runs", a->runs, "One row per run (default)");
  sub.add_flag("--configs", a->configs, "One row per configuration with mean, sd, CV, 95 % CI")
      ->excludes(runs);
  sub.add_flag("--quality", a->quality,
               "One row per quality score (`ecocompute quality`: perplexity, KL divergence)")
      ->excludes(runs)
      ->excludes("--configs");
  sub.add_option("--out", a->out, "Write to this file instead of stdout");
  sub.callback([a] {
    using namespace eco::store;
    const auto format = parse_export_format(a->format);
    if (!a->out.empty()) refuse_output_over_database(a->out, a->db, "--out");
    auto st = Store::open_read_only(a->db);
    const ExportTable which = a->quality   ? ExportTable::Quality
                              : a->configs ? ExportTable::Configs
                                           : ExportTable::Runs;
    const std::string text = render(export_table(st, which), format);
    if (a->out.empty()) {
      fmt::print("{}", text);
      return;
    }
    std::ofstream f(a->out, std::ios::binary | std::ios::trunc);
    if (!f)
      eco::fail("--out: cannot write '{}' (check the directory exists and is writable)", a->out);
    f << text;
    f.close();
    if (!f) eco::fail("--out: error while writing '{}' (is the disk full?)", a->out);
  });
}

}  // namespace

ECO_COMMAND("export", "Export a study database as csv, json, jsonl or md", setup);
