#pragma once
// What measured energy costs in money and carbon, and what the GPU's time costs. Every figure
// comes with the formula that made it (cost_formulas) so a reader can redo it by hand.
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eco::analysis {

struct CostInputs {
  // Electricity price. The default is a round illustrative figure, not a sourced tariff:
  // pass the price you pay.
  double usd_per_kwh = 0.15;
  // Power usage effectiveness of the facility: 1.0 counts the GPU's energy only.
  double pue = 1.0;
  // Grid carbon intensity, gCO2e per kWh (default: the bundled WORLD figure).
  double grid_g_per_kwh = 481;
  std::string grid_label = "WORLD (Ember 2023)";
  // Rental or amortised price of one GPU hour; NaN leaves the GPU-time cost out.
  double gpu_hour_usd = std::numeric_limits<double>::quiet_NaN();
};

struct CostResult {
  double kwh_per_million_tokens = 0;
  double usd_energy_per_million_tokens = 0;
  double g_co2e_per_1k_tokens = 0;
  double usd_gpu_per_million_tokens = 0;  // NaN without a GPU-hour price or a throughput
};

// `j_per_token` from the meter (the facility overhead is added through the PUE);
// `tokens_per_second` is the configuration's throughput (NaN leaves the GPU-time cost out).
CostResult cost_of(double j_per_token, double tokens_per_second, const CostInputs& in);
// The formulas with the inputs filled in, one per line.
std::vector<std::string> cost_formulas(const CostInputs& in);
// Checks the inputs (positive price, PUE >= 1, non-negative intensity); throws eco::Error
// naming the option to fix.
void validate(const CostInputs& in);

struct GridIntensity {
  std::string_view region;  // ISO 3166-1 alpha-2 code, or WORLD
  std::string_view name;
  double g_co2e_per_kwh;
  int year;
};
// The bundled table (data/grid_carbon_intensity.csv, with its source).
const std::vector<GridIntensity>& grid_intensities();
// Case-insensitive lookup by code or name; nullopt when the region is not in the table.
std::optional<GridIntensity> find_grid(std::string_view region);

}  // namespace eco::analysis
