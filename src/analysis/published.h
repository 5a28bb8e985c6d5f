#pragma once
// Published results (a study's table of per-configuration means): parsing the CSV of
// data/seed_published_results.csv, checking the table against itself, and checking the study's
// headline claims against the table's own numbers. Nothing here is measured; every check says
// what it compared and by how much the numbers disagree.
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/stats.h"

namespace eco::analysis {

// A published number as printed: its value and half a unit of its last printed digit (the most
// rounding can have moved it). NaN value when the cell is empty.
struct Printed {
  double value = std::numeric_limits<double>::quiet_NaN();
  double half_unit = 0;
  bool known() const { return !std::isnan(value); }
};

struct PublishedRow {
  int line = 0;  // in the CSV, for messages
  std::string gpu, architecture, model, format;
  double params_b = 0;
  double int8_threshold = std::numeric_limits<double>::quiet_NaN();  // int8 only
  int batch = 1, new_tokens = 0, n_runs = 0;
  Printed throughput, throughput_sd;  // tokens/s
  Printed power, power_sd;            // W (mean board power over the run)
  Printed energy_per_1k, energy_sd;   // J per 1k generated tokens
  bool idle_subtracted = false;
  Printed idle_w;
  std::string source, notes;

  // "int8" with its threshold ("int8(t=6)"), or the format name.
  std::string format_label() const;
  // gpu / model / format / bs N / N new tokens
  std::string label() const;
};

// Parses the CSV text (`name` names it in errors): '#' lines are comments, the first other line
// is the header; required columns are named in the error when missing. Throws eco::Error naming
// the file, line and column of any bad cell.
std::vector<PublishedRow> parse_published_csv(std::string_view text, std::string_view name);

enum class Severity { Note, Minor, Major };
std::string_view to_string(Severity s);

struct Finding {
  int line = 0;      // the row's CSV line (0: a finding about several rows)
  std::string kind;  // energy-vs-power | throughput-vs-size | cv-above-gate | ...
  Severity severity = Severity::Note;
  std::string message;
};

// Checks every row against itself and the table against model size:
// - energy-vs-power: J/1k tokens must equal 1000 x (power - idle if subtracted) / throughput
//   within the rounding of the printed digits plus what averaging per-run ratios can add given
//   the published sds (CV_t^2 + CV_p CV_t); beyond that it is Minor under 1 %, Major above, and
//   the message says whether the other idle convention would fit;
// - throughput-vs-size: within one GPU, format, batch and length, a larger model significantly
//   faster (Welch, p < 0.01) than a smaller one;
// - cv-above-gate: a published CV (sd / mean) of throughput, power or energy above `cv_gate`
//   (the study's own gate was 2 %).
std::vector<Finding> check_published(const std::vector<PublishedRow>& rows, double cv_gate = 0.02);

// One of the study's claims, as data/seed_published_claims.csv states it: the change of a metric
// from `denominator` rows to `numerator` rows (paired on every other identity field), over the
// rows selected by `where`, summarised by `aggregate`.
struct PublishedClaim {
  int line = 0;
  std::string id, statement, source;
  std::string metric;                 // energy | throughput | power
  std::string where;                  // key=value;... over gpu, model, format, threshold, batch
  std::string numerator;              // key=value;... that picks the changed rows
  std::string denominator;            // ... and the rows they are compared with
  std::string aggregate;              // each | mean | range
  std::string unit;                   // "%" (percent change) or "x" (ratio)
  Printed claimed_low, claimed_high;  // equal for each / mean
};
std::vector<PublishedClaim> parse_claims_csv(std::string_view text, std::string_view name);

struct PairChange {
  const PublishedRow* numerator = nullptr;
  const PublishedRow* denominator = nullptr;
  double change = 0;     // in the claim's unit
  double tolerance = 0;  // what rounding of the two printed values allows
};

struct ClaimCheck {
  const PublishedClaim* claim = nullptr;
  std::vector<PairChange> pairs;
  double computed_low = 0, computed_high = 0;  // mean: both the mean
  bool consistent = false;
  std::string message;
};
// Evaluates each claim against the rows. A claim whose selections match no pair is reported
// inconsistent with a message saying so (a claim that cannot be checked is not confirmed).
std::vector<ClaimCheck> check_claims(const std::vector<PublishedRow>& rows,
                                     const std::vector<PublishedClaim>& claims);

}  // namespace eco::analysis
