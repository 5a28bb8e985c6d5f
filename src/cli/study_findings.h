#pragma once
// The tables of docs/FINDINGS.md, generated from a study database (`ecocompute study findings`):
// one per claim of the EcoCompute study, every figure with its 95 % CI and Welch p-value from
// analysis/, so the document's numbers are never typed.
#include <string>

namespace eco::cli {

// Markdown: a provenance line, then for each claim a heading and its table(s). Throws
// eco::Error when the database cannot be read or holds no measured configuration.
std::string render_findings(const std::string& db);

}  // namespace eco::cli
