// The grid carbon-intensity table of data/grid_carbon_intensity.csv (source and year there),
// compiled in so that the binary needs no data files; a unit test checks the two agree.
#include "analysis/cost.h"

namespace eco::analysis {

const std::vector<GridIntensity>& grid_intensities() {
  static const std::vector<GridIntensity> table{
      {"WORLD", "World", 481, 2023},   {"AR", "Argentina", 354, 2023},
      {"AT", "Austria", 111, 2023},    {"AU", "Australia", 549, 2023},
      {"BD", "Bangladesh", 691, 2023}, {"BE", "Belgium", 138, 2023},
      {"BG", "Bulgaria", 335, 2023},   {"BR", "Brazil", 98, 2023},
      {"CA", "Canada", 170, 2023},     {"CL", "Chile", 291, 2023},
      {"CN", "China", 582, 2023},      {"CO", "Colombia", 260, 2023},
      {"CR", "Costa Rica", 53, 2023},  {"CY", "Cyprus", 534, 2023},
      {"CZ", "Czechia", 450, 2023},    {"DE", "Germany", 381, 2023},
      {"DK", "Denmark", 152, 2023},    {"EC", "Ecuador", 150, 2023},
      {"EE", "Estonia", 417, 2023},    {"EG", "Egypt", 570, 2023},
      {"FI", "Finland", 79, 2023},     {"FR", "France", 56, 2023},
      {"GR", "Greece", 337, 2023},     {"HR", "Croatia", 205, 2023},
      {"HU", "Hungary", 204, 2023},    {"IE", "Ireland", 291, 2023},
      {"IN", "India", 713, 2023},      {"IR", "Iran", 655, 2023},
      {"NO", "Norway", 30, 2023},
  };
  return table;
}

}  // namespace eco::analysis
