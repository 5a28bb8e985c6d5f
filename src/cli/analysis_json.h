#pragma once
// `analyze` builds one JSON document per study (the -o json output) and renders the Markdown
// report from it, so the two outputs cannot disagree.
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace eco::cli {

std::string render_analysis_markdown(const nlohmann::json& doc);

// `analyze`'s document of a study with its default options (baseline fp16, J/token, cost and
// carbon defaults). Throws eco::Error when the study holds nothing to analyse.
nlohmann::json analysis_document(const std::string& db);

// Numbers for people: `digits` significant digits, "n/a" for NaN or null.
std::string num(const nlohmann::json& v, int digits = 4);
std::string num(double v, int digits = 4);

}  // namespace eco::cli
