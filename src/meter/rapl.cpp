#include "meter/rapl.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>

#include "meter/energy_math.h"

namespace eco::meter {

namespace fs = std::filesystem;

namespace {

// Reads a one-line sysfs file; on failure returns nullopt and sets `why`.
std::optional<std::string> read_line(const fs::path& p, std::string& why) {
  std::ifstream in(p);
  if (!in) {
    why = fmt::format("cannot read {}: {}", p.string(), std::strerror(errno));
    if (errno == EACCES) why += " (energy_uj is root-only since Linux 5.10; run as root)";
    return std::nullopt;
  }
  std::string line;
  std::getline(in, line);
  if (in.bad()) {
    why = fmt::format("cannot read {}: {}", p.string(), std::strerror(errno));
    return std::nullopt;
  }
  return line;
}

std::optional<double> parse_number(const std::string& s) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == 0 || v < 0) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

RaplSensor::RaplSensor(const std::string& root_arg) {
  const fs::path root = root_arg.empty() ? "/sys/class/powercap" : root_arg;
  std::vector<fs::path> zones;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    // intel-rapl:N are packages, intel-rapl:N:M their sub-zones (core, uncore, dram).
    if (name.rfind("intel-rapl:", 0) == 0) zones.push_back(entry.path());
  }
  if (ec) {
    unavailable_ = fmt::format("no RAPL powercap tree at {} ({})", root.string(), ec.message());
    return;
  }
  std::sort(zones.begin(), zones.end());
  for (const fs::path& zone : zones) {
    std::string why;
    const auto kind = read_line(zone / "name", why);
    HostDomainInfo d;
    d.path = zone.string();
    const std::string zone_id = zone.filename().string().substr(std::strlen("intel-rapl:"));
    const std::string package = zone_id.substr(0, zone_id.find(':'));
    if (!kind) {
      d.name = "zone-" + zone_id;
      d.reason = why;
    } else if (kind->rfind("package", 0) == 0) {
      d.name = *kind;
    } else if (*kind == "dram") {
      d.name = "dram-" + package;
    } else {
      continue;  // core/uncore are inside the package figure; psys is not per package
    }
    double range = 0;
    if (d.reason.empty()) {
      const auto max_range = read_line(zone / "max_energy_range_uj", why);
      const auto value = read_line(zone / "energy_uj", why);
      if (!max_range || !value) {
        d.reason = why;
      } else if (!parse_number(*max_range) || !parse_number(*value)) {
        d.reason = fmt::format("unexpected contents in {}", zone.string());
      } else {
        range = *parse_number(*max_range);
        d.available = true;
      }
    }
    domains_.push_back(d);
    ranges_.push_back(range);
  }
  if (domains_.empty()) {
    unavailable_ = fmt::format("no RAPL package or dram domain under {}", root.string());
  } else if (std::none_of(domains_.begin(), domains_.end(),
                          [](const HostDomainInfo& d) { return d.available; })) {
    unavailable_ = domains_.front().reason;
  }
}

std::vector<std::optional<double>> RaplSensor::read_uj() const {
  std::vector<std::optional<double>> out(domains_.size());
  for (size_t i = 0; i < domains_.size(); ++i) {
    if (!domains_[i].available) continue;
    std::string why;
    const auto line = read_line(fs::path(domains_[i].path) / "energy_uj", why);
    if (line) out[i] = parse_number(*line);
  }
  return out;
}

RaplAccumulator::RaplAccumulator(const RaplSensor& sensor)
    : sensor_(sensor),
      last_(sensor.domains().size()),
      total_j_(sensor.domains().size(), std::numeric_limits<double>::quiet_NaN()) {}

void RaplAccumulator::update(const std::vector<std::optional<double>>& readings_uj) {
  for (size_t i = 0; i < readings_uj.size() && i < last_.size(); ++i) {
    if (!readings_uj[i]) continue;
    if (!last_[i]) {
      total_j_[i] = 0;
    } else {
      const double delta = wrapped_delta(*last_[i], *readings_uj[i], sensor_.range_uj(i));
      if (std::isfinite(delta)) total_j_[i] += delta / 1e6;
    }
    last_[i] = readings_uj[i];
  }
}

std::vector<double> RaplAccumulator::joules() const {
  return total_j_;
}

}  // namespace eco::meter
