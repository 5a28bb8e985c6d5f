#include "bench/protocol.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "bench/json_read.h"
#include "common/error.h"

namespace eco::bench {

std::string_view to_string(WindowMode m) {
  return m == WindowMode::Aligned ? "aligned" : "plain";
}

nlohmann::json ProtocolOptions::to_json() const {
  return {{"idle_seconds", idle_seconds},
          {"idle_recheck_s", idle_recheck_s},
          {"stabilise_tolerance", stabilise_tolerance},
          {"stabilise_max_slope_c_per_min", stabilise_max_slope_c_per_min},
          {"stabilise_slope_span_s", stabilise_slope_span_s},
          {"stabilise_max_s", stabilise_max_s},
          {"warmup", warmup},
          {"runs", runs},
          {"max_runs", max_runs},
          {"ci_target", ci_target},
          {"min_counter_updates", min_counter_updates},
          {"prefill_counter_updates", prefill_counter_updates},
          {"max_repetitions", max_repetitions},
          {"decode_window_s", decode_window_s},
          {"windows", std::string(to_string(windows))},
          {"reuse_change_s", reuse_change_s},
          {"max_cv_decode_tok_s", max_cv_decode_tok_s},
          {"max_cv_decode_j_per_token", max_cv_decode_j_per_token},
          {"max_reruns", max_reruns},
          {"cooldown_s", cooldown_s},
          {"sample_interval_s", sample_interval_s},
          {"store_timeline", store_timeline},
          {"prompt_seed", prompt_seed}};
}

namespace {

using Reader = std::function<void(ProtocolOptions&, const nlohmann::json&, const std::string&)>;

Reader number(double ProtocolOptions::*field) {
  return [field](ProtocolOptions& o, const nlohmann::json& v, const std::string& what) {
    o.*field = json_number(v, what);
  };
}

Reader integer(int ProtocolOptions::*field) {
  return [field](ProtocolOptions& o, const nlohmann::json& v, const std::string& what) {
    o.*field = json_integer<int>(v, what);
  };
}

// Every key of to_json() and how to read it.
const std::vector<std::pair<const char*, Reader>>& readers() {
  using P = ProtocolOptions;
  static const std::vector<std::pair<const char*, Reader>> r = {
      {"idle_seconds", number(&P::idle_seconds)},
      {"idle_recheck_s", number(&P::idle_recheck_s)},
      {"stabilise_tolerance", number(&P::stabilise_tolerance)},
      {"stabilise_max_slope_c_per_min", number(&P::stabilise_max_slope_c_per_min)},
      {"stabilise_slope_span_s", number(&P::stabilise_slope_span_s)},
      {"stabilise_max_s", number(&P::stabilise_max_s)},
      {"warmup", integer(&P::warmup)},
      {"runs", integer(&P::runs)},
      {"max_runs", integer(&P::max_runs)},
      {"ci_target", number(&P::ci_target)},
      {"min_counter_updates", integer(&P::min_counter_updates)},
      {"prefill_counter_updates", integer(&P::prefill_counter_updates)},
      {"max_repetitions", integer(&P::max_repetitions)},
      {"decode_window_s", number(&P::decode_window_s)},
      {"windows",
       [](P& o, const nlohmann::json& v, const std::string& what) {
         if (v == "aligned")
           o.windows = WindowMode::Aligned;
         else if (v == "plain")
           o.windows = WindowMode::Plain;
         else
           fail("{} must be \"aligned\" or \"plain\" (got {})", what, v.dump());
       }},
      {"reuse_change_s", number(&P::reuse_change_s)},
      {"max_cv_decode_tok_s", number(&P::max_cv_decode_tok_s)},
      {"max_cv_decode_j_per_token", number(&P::max_cv_decode_j_per_token)},
      {"max_reruns", integer(&P::max_reruns)},
      {"cooldown_s", number(&P::cooldown_s)},
      {"sample_interval_s", number(&P::sample_interval_s)},
      {"store_timeline",
       [](P& o, const nlohmann::json& v, const std::string& what) {
         if (!v.is_boolean()) fail("{} must be true or false, a boolean (got {})", what, v.dump());
         o.store_timeline = v.get<bool>();
       }},
      {"prompt_seed",
       [](P& o, const nlohmann::json& v, const std::string& what) {
         o.prompt_seed = json_integer<uint64_t>(v, what);
       }},
  };
  return r;
}

}  // namespace

ProtocolOptions ProtocolOptions::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: 'protocol' must be an object", source);
  ProtocolOptions o;
  for (const auto& [key, value] : j.items()) {
    const Reader* reader = nullptr;
    for (const auto& [name, r] : readers())
      if (key == name) reader = &r;
    if (!reader) {
      std::string names;
      for (const auto& [name, r] : readers())
        names += (names.empty() ? "" : ", ") + std::string(name);
      fail("{}: unknown protocol key '{}' (known: {})", source, key, names);
    }
    (*reader)(o, value, fmt::format("{}: protocol key '{}'", source, key));
  }
  if (!j.contains("max_runs") && o.max_runs < o.runs) o.max_runs = o.runs;
  o.validate();
  return o;
}

void ProtocolOptions::validate() const {
  auto non_negative = [](double v, const char* what) {
    if (!(v >= 0) || !std::isfinite(v)) fail("{} must be a finite number >= 0 (got {})", what, v);
  };
  non_negative(idle_seconds, "idle baseline seconds (--idle)");
  non_negative(idle_recheck_s, "idle_recheck_s");
  non_negative(stabilise_tolerance, "stabilise_tolerance");
  non_negative(stabilise_max_slope_c_per_min, "stabilise_max_slope_c_per_min");
  non_negative(stabilise_slope_span_s, "stabilise_slope_span_s");
  non_negative(stabilise_max_s, "stabilisation seconds (--stabilise-max)");
  non_negative(cooldown_s, "--cooldown");
  non_negative(sample_interval_s, "sample interval");
  non_negative(ci_target, "ci_target (--ci-target)");
  non_negative(decode_window_s, "decode_window_s");
  non_negative(reuse_change_s, "reuse_change_s");
  if (runs < 1 || (runs == 1 && max_runs != 1))
    fail(
        "--runs must be at least 2 to compute a CV and a CI (got {}), or 1 with --max-runs 1 for "
        "a single run whose gates are not evaluated",
        runs);
  if (max_runs < runs)
    fail("max_runs ({}) must be at least runs ({}): it caps the adaptive repetitions", max_runs,
         runs);
  if (warmup < 0) fail("--warmup must not be negative (got {})", warmup);
  if (min_counter_updates < 0) fail("min_counter_updates must not be negative");
  if (prefill_counter_updates < 0)
    fail("prefill_counter_updates must not be negative (0: half of min_counter_updates)");
  if (max_repetitions < 1) fail("max_repetitions must be at least 1");
  if (!(max_cv_decode_tok_s > 0) || !(max_cv_decode_j_per_token > 0) ||
      !std::isfinite(max_cv_decode_tok_s) || !std::isfinite(max_cv_decode_j_per_token))
    fail("CV gate thresholds must be positive fractions (e.g. 0.01 for 1 %)");
  if (max_reruns < 0) fail("max_reruns must not be negative (got {})", max_reruns);
}

int prefill_min_counter_updates(const ProtocolOptions& p) {
  if (p.min_counter_updates <= 0) return 0;
  return p.prefill_counter_updates > 0 ? p.prefill_counter_updates
                                       : std::max(1, p.min_counter_updates / 2);
}

}  // namespace eco::bench
