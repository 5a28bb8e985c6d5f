// `ecocompute import`: published results (a study's table of means) into a study database as
// their own source, with every internal inconsistency the table shows reported, not hidden.
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "analysis/published.h"
#include "cli/command.h"
#include "common/error.h"
#include "common/version.h"
#include "store/sha256.h"
#include "store/store.h"

namespace {

struct ImportArgs {
  std::string csv, db, claims;
  double cv_gate = 0.02;
};

std::string read_text(const std::string& path, const char* option) {
  std::ifstream f(path, std::ios::binary);
  if (!f) eco::fail("{}: cannot read '{}' (check the path and its permissions)", option, path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void print_checks(const std::vector<eco::analysis::PublishedRow>& rows,
                  const std::vector<eco::analysis::PublishedClaim>& claims, double cv_gate) {
  using namespace eco::analysis;
  const auto findings = check_published(rows, cv_gate);
  fmt::print("\nInternal consistency ({} findings):\n", findings.size());
  for (const auto& f : findings)
    fmt::print("  [{}] {} (line {}): {}\n", to_string(f.severity), f.kind, f.line, f.message);
  if (claims.empty()) return;
  const auto checks = check_claims(rows, claims);
  const auto bad = std::count_if(checks.begin(), checks.end(),
                                 [](const ClaimCheck& c) { return !c.consistent; });
  fmt::print("\nClaims against the table ({} of {} inconsistent):\n", bad, checks.size());
  for (const auto& c : checks)
    fmt::print("  {} \"{}\": {}\n", c.claim->id, c.claim->statement, c.message);
}

void run(const ImportArgs& a) {
  using namespace eco;
  // Everything is read and checked before the database is opened: a bad file changes nothing.
  store::PublishedImport imp;
  imp.file = a.csv;
  imp.csv_text = read_text(a.csv, "--csv");
  imp.sha256 = store::sha256_hex(imp.csv_text);
  const auto rows = analysis::parse_published_csv(imp.csv_text, a.csv);
  std::vector<analysis::PublishedClaim> claims;
  if (!a.claims.empty()) {
    imp.claims_file = a.claims;
    imp.claims_text = read_text(a.claims, "--claims");
    imp.claims_sha256 = store::sha256_hex(imp.claims_text);
    claims = analysis::parse_claims_csv(imp.claims_text, a.claims);
  }
  if (!(a.cv_gate > 0 && a.cv_gate < 1))
    fail("--cv-gate must be a fraction in (0, 1) (got {})", a.cv_gate);
  auto st = store::Store::open(a.db);
  for (const auto& prev : st.published())
    if (prev.sha256 == imp.sha256)
      fail(
          "'{}' is already in {} (import {} of {} at {}, same SHA-256); importing it again "
          "would count every row twice",
          a.csv, a.db, prev.id, prev.file, prev.imported_at);
  imp.imported_at = store::utc_now();
  imp.eco_version = fmt::format("{} ({})", eco::version(), eco::git_commit());
  imp.command = fmt::format("ecocompute import --csv {} --db {}{}", a.csv, a.db,
                            a.claims.empty() ? "" : " --claims " + a.claims);
  const int64_t id = st.add_published(imp);
  fmt::print(
      "Imported {} published configurations from {} into {} as source 'published: {}' "
      "(import {}, sha256 {}).\nThey are analysed beside measured runs, never pooled "
      "with them.\n",
      rows.size(), a.csv, a.db, a.csv, id, imp.sha256);
  print_checks(rows, claims, a.cv_gate);
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<ImportArgs>();
  sub.add_option("--csv", a->csv, "Published results (columns as data/seed_published_results.csv)")
      ->required();
  sub.add_option("--db", a->db, "Study database to add them to (created when absent)")->required();
  sub.add_option("--claims", a->claims,
                 "The study's claims to check against its own table (as "
                 "data/seed_published_claims.csv)");
  sub.add_option("--cv-gate", a->cv_gate, "CV above which a published sd is flagged (fraction)")
      ->capture_default_str();
  sub.callback([a] { run(*a); });
}

}  // namespace

ECO_COMMAND("import", "Import published results as their own source, flagging inconsistencies",
            setup);
