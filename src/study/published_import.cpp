#include "study/published_import.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "analysis/published.h"
#include "common/error.h"
#include "common/version.h"
#include "store/sha256.h"

namespace eco::study {

namespace {

std::string read_text(const std::string& path, const std::string& study, const char* key) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  if (!f || !(ss << f.rdbuf()))
    fail(
        "{}: '{}' = '{}' cannot be read (paths are relative to the current directory; run from "
        "the repository root or give an absolute path)",
        study, key, path);
  return ss.str();
}

}  // namespace

bool published_present(const StudyFile& study, store::Store& st) {
  if (study.published_csv.empty()) return true;
  std::ifstream f(study.published_csv, std::ios::binary);
  std::stringstream ss;
  if (!f || !(ss << f.rdbuf())) return false;
  const std::string sha = store::sha256_hex(ss.str());
  for (const auto& p : st.published())
    if (p.sha256 == sha) return true;
  return false;
}

bool import_published(const StudyFile& study, store::Store& st) {
  if (published_present(study, st)) return false;
  store::PublishedImport imp;
  imp.file = study.published_csv;
  imp.csv_text = read_text(study.published_csv, study.path, "published");
  imp.sha256 = store::sha256_hex(imp.csv_text);
  analysis::parse_published_csv(imp.csv_text, imp.file);  // refuses a malformed table
  if (!study.published_claims.empty()) {
    imp.claims_file = study.published_claims;
    imp.claims_text = read_text(study.published_claims, study.path, "published_claims");
    imp.claims_sha256 = store::sha256_hex(imp.claims_text);
    analysis::parse_claims_csv(imp.claims_text, imp.claims_file);
  }
  imp.imported_at = store::utc_now();
  imp.eco_version = fmt::format("{} ({})", eco::version(), eco::git_commit());
  imp.command = fmt::format("ecocompute study run {} (import --csv {}{})", study.path, imp.file,
                            imp.claims_file.empty() ? "" : " --claims " + imp.claims_file);
  st.add_published(imp);
  return true;
}

}  // namespace eco::study
