#include "analysis/cost.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"

namespace eco::analysis {
namespace {

TEST(Cost, HandComputedFigures) {
  // 0.36 J/token, PUE 1.5: 0.54 J/token at the meter of the facility; 1M tokens = 540 kJ =
  // 0.15 kWh; at 0.20 $/kWh 0.03 $; 1k tokens = 540 J = 1.5e-4 kWh, x 400 g = 0.06 g.
  CostInputs in;
  in.usd_per_kwh = 0.20;
  in.pue = 1.5;
  in.grid_g_per_kwh = 400;
  in.gpu_hour_usd = 2.0;
  const CostResult r = cost_of(0.36, 500, in);
  EXPECT_NEAR(r.kwh_per_million_tokens, 0.15, 1e-15);
  EXPECT_NEAR(r.usd_energy_per_million_tokens, 0.03, 1e-15);
  EXPECT_NEAR(r.g_co2e_per_1k_tokens, 0.06, 1e-15);
  // 500 tokens/s = 1.8M tokens per hour: 2 $ / 1.8 per 1M tokens.
  EXPECT_NEAR(r.usd_gpu_per_million_tokens, 2.0 / 1.8, 1e-12);
  EXPECT_TRUE(std::isnan(cost_of(0.36, NAN, in).usd_gpu_per_million_tokens));
  EXPECT_EQ(cost_formulas(in).size(), 4u);
  EXPECT_NE(cost_formulas(in)[2].find("400 gCO2e/kWh"), std::string::npos);
}

TEST(Cost, DefaultsAreStatedAndBadInputsNamed) {
  const CostInputs d;
  EXPECT_EQ(d.pue, 1.0);
  EXPECT_EQ(d.usd_per_kwh, 0.15);
  EXPECT_EQ(cost_formulas(d).size(), 3u);  // no GPU-hour price, no GPU-time line
  CostInputs bad;
  bad.pue = 0.8;
  try {
    cost_of(1, 1, bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--pue"), std::string::npos);
  }
  bad = {};
  bad.usd_per_kwh = -1;
  EXPECT_THROW(cost_of(1, 1, bad), Error);
}

TEST(GridTable, CompiledTableMatchesTheCitedCsv) {
  std::ifstream f(std::string(ECO_SOURCE_DIR) + "/data/grid_carbon_intensity.csv");
  ASSERT_TRUE(f) << "data/grid_carbon_intensity.csv missing";
  std::string line;
  size_t rows = 0;
  bool header = true, cited = false;
  while (std::getline(f, line)) {
    if (line.rfind("# Source:", 0) == 0) cited = true;
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    std::stringstream ss(line);
    std::string code, name, value, year;
    std::getline(ss, code, ',');
    std::getline(ss, name, ',');
    std::getline(ss, value, ',');
    std::getline(ss, year, ',');
    const auto g = find_grid(code);
    ASSERT_TRUE(g) << code;
    EXPECT_EQ(g->name, name);
    EXPECT_EQ(g->g_co2e_per_kwh, std::stod(value)) << code;
    EXPECT_EQ(g->year, std::stoi(year)) << code;
    ++rows;
  }
  EXPECT_TRUE(cited);
  EXPECT_EQ(rows, grid_intensities().size());
  EXPECT_EQ(find_grid("france")->g_co2e_per_kwh, 56);
  EXPECT_FALSE(find_grid("Atlantis"));
}

}  // namespace
}  // namespace eco::analysis
