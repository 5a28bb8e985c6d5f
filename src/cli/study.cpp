// `ecocompute study`: the EcoCompute study (or any study file) run end to end into one database
// on the device present, resumable across calls and bounded by a time budget, then its analysis,
// dashboard and findings tables; `study findings` prints the tables of docs/FINDINGS.md.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/progress.h"
#include "cli/analysis_json.h"
#include "cli/command.h"
#include "cli/study_findings.h"
#include "common/error.h"
#include "report/asset.h"
#include "report/html.h"
#include "study/budget.h"
#include "study/runner.h"

namespace {

namespace fs = std::filesystem;
using namespace eco;

struct StudyArgs {
  std::string action, file, db, budget, out_dir, device, out;
  bool smoke = false, evict_synthetic = false;
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f || !(f << text).flush()) fail("cannot write '{}'", path.string());
}

std::string minutes(double s) {
  return s >= 90 ? fmt::format("{:.1f} min", s / 60) : fmt::format("{:.0f} s", s);
}

void print_status(const study::StudyFile& s, const study::RunOutcome& o) {
  fmt::print("\nStudy {} ({}): {} distinct configurations, {} done, {} failed, {} to measure\n\n",
             s.name, s.path, o.status.configurations, o.status.done, o.status.failed,
             o.status.remaining);
  fmt::print("| part | configurations | done | failed | to measure |\n|---|---|---|---|---|\n");
  for (const auto& p : o.status.parts)
    fmt::print("| {} | {} | {} | {} | {} |\n", p.title.empty() ? p.name : p.title, p.configurations,
               p.done, p.failed, p.remaining);
  fmt::print(
      "\nQuality: {} of {} (model, format) scores; published results: {}\n", o.status.quality_done,
      o.status.quality_formats,
      s.published_csv.empty() ? "none named" : (o.status.published ? "imported" : "missing"));
}

// The analysis, the dashboard and the findings of the database, beside it (or in --out-dir).
// Returns the problems met (each output is attempted).
std::vector<std::string> write_outputs(const StudyArgs& a) {
  const fs::path db(a.db);
  const fs::path dir = a.out_dir.empty() ? db.parent_path() : fs::path(a.out_dir);
  const std::string stem = db.stem().string();
  std::vector<std::string> problems;
  auto attempt = [&](const fs::path& path, const std::function<void()>& write) {
    try {
      write();
      fmt::print(stderr, "study: wrote {}\n", path.string());
    } catch (const std::exception& e) {
      problems.push_back(fmt::format("{}: {}", path.string(), e.what()));
    }
  };
  const fs::path md = dir / (stem + "-analysis.md"), html = dir / (stem + "-report.html"),
                 findings = dir / (stem + "-findings.md");
  attempt(md, [&] { write_text(md, cli::render_analysis_markdown(cli::analysis_document(a.db))); });
  if (report::dashboard_page().empty())
    fmt::print(stderr,
               "study: {} not written: this build has no dashboard front end (npm ci, then "
               "build again; or run `ecocompute report --db {}` with a build that has it)\n",
               html.string(), a.db);
  else
    attempt(html, [&] { report::write_html({db}, html); });
  attempt(findings, [&] { write_text(findings, cli::render_findings(a.db)); });
  return problems;
}

std::string command_line(const StudyArgs& a) {
  std::string c = fmt::format("ecocompute study run {} --db {}", a.file, a.db);
  if (a.smoke) c += " --smoke";
  if (!a.budget.empty()) c += " --budget " + a.budget;
  if (!a.device.empty()) c += " --device " + a.device;
  if (a.evict_synthetic) c += " --evict-synthetic";
  return c;
}

void run(const StudyArgs& a) {
  if (a.file.empty()) fail("study run: give the study file (e.g. studies/eco-2026.toml)");
  study::StudyFile s = study::load_study_file(a.file);
  if (a.smoke) study::make_smoke(s);
  if (!a.device.empty()) s.sweep.device = a.device;
  s.validate();
  study::RunOptions opt;
  opt.budget_s = a.budget.empty() ? 0 : study::parse_duration(a.budget, "--budget");
  opt.evict_synthetic = a.evict_synthetic;
  opt.command = command_line(a);
  if (!a.out_dir.empty() && !fs::is_directory(a.out_dir))
    fail("--out-dir {}: not a directory; create it first", a.out_dir);
  study::RunOutcome o;
  {
    auto st = store::Store::open(a.db);
    bench::TerminalProgress progress(stderr, bench::TerminalProgress::is_tty(stderr));
    o = study::run_study(s, st, progress, opt);
  }
  print_status(s, o);
  const auto problems = write_outputs(a);
  std::fflush(stdout);
  if (o.status.remaining > 0 || o.status.quality_done < o.status.quality_formats)
    fmt::print(
        stderr,
        "study: {} configuration(s) and {} quality score(s) left{}{}; run the same command "
        "again to continue (done work is kept, failed configurations are retried)\n",
        o.status.remaining + o.status.failed, o.status.quality_formats - o.status.quality_done,
        o.remaining_s ? fmt::format(", about {} at this call's pace", minutes(*o.remaining_s)) : "",
        o.stopped_by_budget ? " (stopped by --budget)" : "");
  else
    fmt::print(stderr, "study: complete ({} configurations, {} quality scores) in {}\n",
               o.status.configurations, o.status.quality_formats, a.db);
  fmt::print(stderr, "study: this call measured {} configuration(s), {} failed, scored {} in {}\n",
             o.measured_now, o.failed_now, o.scored_now, minutes(o.seconds));
  if (!o.energy_note.empty()) fmt::print(stderr, "study: energy not measured: {}\n", o.energy_note);
  std::vector<std::string> errors = problems;
  for (const auto& q : o.quality_errors) errors.push_back("quality of " + q);
  if (o.energy_faults > 0)
    errors.push_back(fmt::format("energy readings failed in {} configuration(s)", o.energy_faults));
  if (o.status.failed > 0)
    errors.push_back(
        fmt::format("{} configuration(s) failed (errors in the database; the next "
                    "call retries them)",
                    o.status.failed));
  if (!errors.empty()) fail("study: {}", fmt::join(errors, "; "));
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<StudyArgs>();
  sub.add_option("action", a->action,
                 "run: measure the study FILE into --db (resumes it), then write its analysis, "
                 "dashboard and findings beside it; findings: print the findings tables of --db")
      ->required()
      ->check(CLI::IsMember({"run", "findings"}));
  sub.add_option("file", a->file, "Study file, .toml or .json (e.g. studies/eco-2026.toml)");
  sub.add_option("--db", a->db, "Study database (created when absent; a later run continues it)")
      ->required();
  sub.add_option("--budget", a->budget,
                 "Stop before a step expected to end past this time (8m, 90s, 1h30m): leave the "
                 "rest to the next call");
  sub.add_flag("--smoke", a->smoke,
               "The same study scaled down: tiny synthetic models, batch sizes up to 4, short "
               "runs, CPU engine (energy from whatever NVML library is found)");
  sub.add_option("--device", a->device, "auto, cpu or cuda (default: the study file's)");
  sub.add_flag("--evict-synthetic", a->evict_synthetic,
               "Delete each synthetic model's cached files once this call is done with it (a "
               "7B model is 14.5 GB)");
  sub.add_option("--out-dir", a->out_dir,
                 "Folder of DB-analysis.md, DB-report.html and DB-findings.md (default: the "
                 "database's)");
  sub.add_option("-o,--out", a->out, "findings: write to this file instead of stdout");
  sub.callback([a] {
    if (a->action == "findings") {
      const std::string text = cli::render_findings(a->db);
      if (a->out.empty())
        fmt::print("{}", text);
      else
        write_text(a->out, text);
      return;
    }
    run(*a);
  });
}

}  // namespace

ECO_COMMAND("study",
            "Run a study file (parts of sweeps, quality, published results) resumably within a "
            "time budget; print its findings tables",
            setup);
