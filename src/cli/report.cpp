// `ecocompute report`: one self-contained HTML dashboard from one or more study databases.
#include <fmt/format.h>

#include "cli/command.h"
#include "report/html.h"
#include "store/output_guard.h"

namespace {

struct ReportArgs {
  std::vector<std::string> dbs;
  std::string out = "ecocompute-report.html";
};

void setup(CLI::App& sub) {
  auto a = std::make_shared<ReportArgs>();
  sub.add_option("--db", a->dbs, "Study database (repeat for several studies)")->required();
  sub.add_option("-o,--out", a->out, "HTML file to write (data and assets inline; opens offline)")
      ->capture_default_str();
  sub.callback([a] {
    std::vector<std::filesystem::path> dbs(a->dbs.begin(), a->dbs.end());
    for (const auto& db : dbs) eco::store::refuse_output_over_database(a->out, db, "--out");
    eco::report::write_html(dbs, a->out);
    fmt::print("report: wrote {}\n", a->out);
  });
}

}  // namespace

ECO_COMMAND("report", "Write an interactive HTML dashboard (one self-contained file) from studies",
            setup);
