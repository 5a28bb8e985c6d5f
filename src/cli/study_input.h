#pragma once
// Reads a study database into the plain structs analysis works on: measured configurations
// (their final round of measured runs) and each import of published results, kept apart.
#include <string>
#include <vector>

#include "analysis/published.h"
#include "analysis/study.h"
#include "store/store.h"

namespace eco::cli {

// A format as analyses name it: "int8(t=6,fused)", "nf4", from its stored name and parameters.
std::string format_label(const std::string& name, const std::string& params_json);

// Every configuration the protocol finished (status done), with per-run metric values.
std::vector<analysis::ConfigData> measured_configs(store::Store& st);

struct PublishedSet {
  store::PublishedImport import;
  std::vector<analysis::PublishedRow> rows;
  std::vector<analysis::PublishedClaim> claims;
  std::vector<analysis::ConfigData> configs;
  std::string source;  // "published: FILE (sha256 ...)"
};
std::vector<PublishedSet> published_sets(store::Store& st);

// Opens a study for reading and names the option on failure (exit status 2 in `compare`).
store::Store open_study(const std::string& path, const char* option);

}  // namespace eco::cli
