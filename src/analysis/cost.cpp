#include "analysis/cost.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "common/error.h"

namespace eco::analysis {

namespace {

constexpr double kJoulesPerKwh = 3.6e6;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower((unsigned char)x) == std::tolower((unsigned char)y);
         });
}

}  // namespace

void validate(const CostInputs& in) {
  if (!(in.usd_per_kwh >= 0) || std::isinf(in.usd_per_kwh))
    fail("--usd-per-kwh must be a non-negative price (got {})", in.usd_per_kwh);
  if (!(in.pue >= 1) || std::isinf(in.pue))
    fail("--pue must be at least 1.0 (1.0 = the GPU alone; got {})", in.pue);
  if (!(in.grid_g_per_kwh >= 0) || std::isinf(in.grid_g_per_kwh))
    fail("--grid-gco2-per-kwh must be a non-negative intensity (got {})", in.grid_g_per_kwh);
  if (!std::isnan(in.gpu_hour_usd) && !(in.gpu_hour_usd >= 0 && std::isfinite(in.gpu_hour_usd)))
    fail("--gpu-hour-usd must be a non-negative price (got {})", in.gpu_hour_usd);
}

CostResult cost_of(double j_per_token, double tokens_per_second, const CostInputs& in) {
  validate(in);
  CostResult r;
  const double facility_j_per_token = j_per_token * in.pue;
  r.kwh_per_million_tokens = facility_j_per_token * 1e6 / kJoulesPerKwh;
  r.usd_energy_per_million_tokens = r.kwh_per_million_tokens * in.usd_per_kwh;
  r.g_co2e_per_1k_tokens = facility_j_per_token * 1e3 / kJoulesPerKwh * in.grid_g_per_kwh;
  r.usd_gpu_per_million_tokens = std::isfinite(in.gpu_hour_usd) && tokens_per_second > 0
                                     ? in.gpu_hour_usd / (tokens_per_second * 3600) * 1e6
                                     : std::numeric_limits<double>::quiet_NaN();
  return r;
}

std::vector<std::string> cost_formulas(const CostInputs& in) {
  std::vector<std::string> f{
      fmt::format("kWh per 1M tokens = J/token x 1e6 x PUE / 3.6e6 J/kWh (PUE = {:g})", in.pue),
      fmt::format("$ energy per 1M tokens = kWh per 1M tokens x {:g} $/kWh", in.usd_per_kwh),
      fmt::format("gCO2e per 1k tokens = J/token x 1e3 x PUE / 3.6e6 J/kWh x {:g} gCO2e/kWh ({})",
                  in.grid_g_per_kwh, in.grid_label)};
  if (std::isfinite(in.gpu_hour_usd))
    f.push_back(fmt::format(
        "$ GPU time per 1M tokens = {:g} $/GPU-hour / (tokens/s x 3600 s) x 1e6", in.gpu_hour_usd));
  return f;
}

std::optional<GridIntensity> find_grid(std::string_view region) {
  for (const auto& g : grid_intensities())
    if (iequals(g.region, region) || iequals(g.name, region)) return g;
  return std::nullopt;
}

}  // namespace eco::analysis
