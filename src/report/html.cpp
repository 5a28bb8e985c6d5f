#include "report/html.h"

#include <unistd.h>

#include <cstring>
#include <fstream>

#include "common/error.h"
#include "report/asset.h"
#include "report/study.h"

namespace eco::report {

namespace fs = std::filesystem;

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

std::string render_page(const nlohmann::json& data) {
  const std::string_view page = dashboard_page();
  if (page.empty())
    fail(
        "this ecocompute was built without the dashboard front end (Node.js or its npm packages "
        "were missing at build time): run `npm ci` in the source tree, then build again");
  const size_t at = page.find(kDataMarker);
  if (at == std::string_view::npos) fail("internal: the dashboard page has no data marker");
  std::string out;
  const std::string json = json_for_script(data);
  out.reserve(page.size() + json.size() + 64);
  out.append(page.substr(0, at));
  out += "<script id=\"eco-data\" type=\"application/json\">";
  out += json;
  out += "</script>";
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
