#pragma once
// `analyze` builds one JSON document per study (the -o json output) and renders the Markdown
// report from it, so the two outputs cannot disagree.
#include <string>

#include <nlohmann/json.hpp>

namespace eco::cli {

std::string render_analysis_markdown(const nlohmann::json& doc);

// Numbers for people: `digits` significant digits, "n/a" for NaN or null.
std::string num(const nlohmann::json& v, int digits = 4);
std::string num(double v, int digits = 4);

}  // namespace eco::cli
