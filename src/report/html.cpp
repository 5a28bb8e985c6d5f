#include "report/html.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "report/asset.h"
#include "report/study.h"

namespace eco::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view kDataMarker = "<!--ECO_DATA-->";

bool is_sqlite_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char head[16] = {};
  in.read(head, sizeof head);
  return in.gcount() == 16 && std::memcmp(head, "SQLite format 3", 16) == 0;
}

void check_output(const std::vector<fs::path>& databases, const fs::path& out) {
  std::error_code ec;
  if (fs::is_directory(out, ec))
    fail("-o {}: is a directory; give a file path such as {}/report.html", out.string(),
         out.string());
  for (const auto& db : databases)
    if (fs::exists(out, ec) && fs::equivalent(db, out, ec))
      fail("-o {}: is the database --db {}; give the report its own file name", out.string(),
           db.string());
  if (fs::exists(out, ec) && is_sqlite_file(out))
    fail("-o {}: is an SQLite database, not a report; it was left unchanged. Choose another path",
         out.string());
  const fs::path folder = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  if (!fs::is_directory(folder, ec))
    fail("-o {}: the folder {} does not exist; create it or choose another path", out.string(),
         folder.string());
}

// The columns {"name": [one value per run]} as rows grouped by the run's configuration, in the
// order the configurations first appear; `names` receives the column names in row order.
std::vector<std::pair<std::string, json>> runs_by_config(json& columns, json& names) {
  names = json::array();
  std::vector<json*> cols;
  for (auto& [name, values] : columns.items()) {
    names.push_back(name);
    cols.push_back(&values);
  }
  std::vector<std::pair<std::string, json>> out;
  if (!columns.contains("config")) return out;
  std::map<std::string, size_t> index;
  const json& config = columns["config"];
  for (size_t i = 0; i < config.size(); ++i) {
    const std::string key = config[i].get<std::string>();
    auto [it, added] = index.emplace(key, out.size());
    if (added) out.emplace_back(key, json::array());
    json row = json::array();
    for (json* col : cols) row.push_back((*col)[i]);
    out[it->second].second.push_back(std::move(row));
  }
  return out;
}

}  // namespace

std::string json_for_script(const nlohmann::json& value) {
  const std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 64);
  // '<', '>' and '&' occur in JSON only inside strings, where \u escapes mean the same.
  for (char c : text) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_page(nlohmann::json data) {
  const std::string_view page = dashboard_page();
  if (page.empty())
    fail(
        "this ecocompute was built without the dashboard front end (Node.js or its npm packages "
        "were missing at build time): run `npm ci` in the source tree, then build again");
  const size_t at = page.find(kDataMarker);
  if (at == std::string_view::npos) fail("internal: the dashboard page has no data marker");
  // The runs and the power timelines, most of a large study's bytes, go into elements of their
  // own that the page parses only when a view shows them: each configuration's runs in one (as
  // rows in the order of "run_columns"), each run's timeline in one. Keys are "DB:ID", safe in
  // an id.
  std::vector<std::pair<std::string, std::string>> parts;
  if (data.is_object() && data.contains("runs")) {
    for (auto& [config, rows] : runs_by_config(data["runs"], data["run_columns"]))
      parts.emplace_back("eco-runs-" + config, json_for_script(rows));
    data.erase("runs");
  }
  if (data.is_object() && data.contains("timelines")) {
    for (const auto& [run, timeline] : data["timelines"].items())
      parts.emplace_back("eco-timeline-" + run, json_for_script(timeline));
    data.erase("timelines");
  }
  parts.emplace(parts.begin(), "eco-data", json_for_script(data));
  size_t size = page.size();
  for (const auto& [id, text] : parts) size += text.size() + 64;
  std::string out;
  out.reserve(size);
  out.append(page.substr(0, at));
  for (const auto& [id, text] : parts) {
    out += fmt::format("<script id=\"{}\" type=\"application/json\">", id);
    out += text;
    out += "</script>";
  }
  out.append(page.substr(at + kDataMarker.size()));
  return out;
}

void write_html(const std::vector<fs::path>& databases, const fs::path& out) {
  if (databases.empty()) fail("report: give at least one --db");
  check_output(databases, out);
  const std::string page = render_page(build_study(databases));
  const fs::path tmp = out.string() + fmt::format(".writing-{}", ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail("-o {}: cannot write in its folder (check permissions)", out.string());
    f << page;
    f.close();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      fail("-o {}: writing the report failed (disk full?)", out.string());
    }
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail("-o {}: cannot move the report into place: {}", out.string(), ec.message());
  }
}

}  // namespace eco::report
