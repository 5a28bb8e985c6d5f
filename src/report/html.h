#pragma once
// The dashboard page with its data: `ecocompute report` writes it as one self-contained file
// (data, script and styles inline; opens from disk with no network), `serve` sends it with a
// marker telling the page to fetch its data from /api/.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace eco::report {

// JSON text safe inside <script type="application/json">: '<', '>' and '&' are written as
// \u escapes, so no string from a database can close the element or open another one.
std::string json_for_script(const nlohmann::json& value);

// The page with `data` in place of its marker: the document in the element "eco-data", its
// "runs" (when present) as each configuration's rows in "eco-runs-CONFIGKEY" (the column names in
// the document's "run_columns") and each of its "timelines" in "eco-timeline-RUNKEY", which the
// page parses when a view shows them. Throws eco::Error when this build has no front end.
std::string render_page(nlohmann::json data);

// Reads the databases (read-only) and writes the report to `out` (through a temporary file
// renamed into place). Refuses to write over one of the databases or any other SQLite file.
void write_html(const std::vector<std::filesystem::path>& databases,
                const std::filesystem::path& out);

}  // namespace eco::report
