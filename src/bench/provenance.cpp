#include "bench/provenance.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/version.h"
#include "ecocompute/meter.h"
#include "store/sha256.h"
#include "store/store.h"

namespace eco::bench {

namespace fs = std::filesystem;

namespace {
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  return "";
}
}  // namespace

store::Session collect_session(const std::string& command, const meter::Meter& meter) {
  store::Session s;
  s.started_at = store::utc_now();
  s.command = command;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) s.hostname = host;
  struct utsname u {};
  if (::uname(&u) == 0) s.os = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  s.cpu = cpu_model();
  s.eco_version = eco::version();
  s.eco_git_commit = eco::git_commit();
  if (meter.gpu_available() && !meter.devices().empty()) {
    const auto& d = meter.devices().front();
    s.gpu_name = d.name;
    s.gpu_uuid = d.uuid;
    s.gpu_power_limit_w = d.power_limit_w;
    s.gpu_driver = meter.driver_version();
    s.meter = fmt::format("NVML, {} device(s), energy from {}", meter.devices().size(),
                          d.energy_source.empty() ? "none" : d.energy_source);
  } else {
    s.meter = "no GPU energy: " + meter.gpu_unavailable_reason();
  }
  return s;
}

std::string hash_model_files(const fs::path& dir, bool synthetic) {
  std::map<std::string, std::string> hashes;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    const bool meta = name == "config.json" || name == "synthetic.json";
    const bool weights = name.ends_with(".safetensors") ||
                         name.ends_with(".safetensors.index.json") || name == "tokenizer.json";
    if (meta || (weights && !synthetic)) hashes[name] = store::sha256_file(e.path());
  }
  return nlohmann::json(hashes).dump();
}

}  // namespace eco::bench
