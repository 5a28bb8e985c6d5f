#pragma once
// Host CPU energy from Linux powercap (RAPL): one domain per package and its DRAM sub-zone.
// A domain that is absent or unreadable is reported unavailable with the reason, never as 0.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ecocompute/meter.h"

namespace eco::meter {

class RaplSensor {
 public:
  // root: the powercap directory ("/sys/class/powercap" when empty); tests pass a fake tree.
  explicit RaplSensor(const std::string& root = "");

  const std::vector<HostDomainInfo>& domains() const { return domains_; }
  // Wrap range in microjoules (max_energy_range_uj) per domain; 0 when unknown.
  double range_uj(size_t domain) const { return ranges_[domain]; }
  // energy_uj of each domain now; nullopt for unavailable or failed reads.
  std::vector<std::optional<double>> read_uj() const;
  // Why this host has no usable domain at all ("" when at least one is available).
  const std::string& unavailable_reason() const { return unavailable_; }

 private:
  std::vector<HostDomainInfo> domains_;
  std::vector<double> ranges_;
  std::string unavailable_;
};

// Accumulates RAPL readings into joules per domain, handling wrap-around. Feed it readings more
// often than the counter can wrap (minutes at full power): the sampler does.
class RaplAccumulator {
 public:
  explicit RaplAccumulator(const RaplSensor& sensor);
  void update(const std::vector<std::optional<double>>& readings_uj);
  // Joules since construction per domain; NaN for domains never read.
  std::vector<double> joules() const;

 private:
  const RaplSensor& sensor_;
  std::vector<std::optional<double>> last_;
  std::vector<double> total_j_;
};

}  // namespace eco::meter
