#include "bench/protocol.h"

#include "common/error.h"

namespace eco::bench {

nlohmann::json ProtocolOptions::to_json() const {
  return {{"idle_seconds", idle_seconds},
          {"stabilise_delta_c", stabilise_delta_c},
          {"stabilise_window_s", stabilise_window_s},
          {"stabilise_max_s", stabilise_max_s},
          {"warmup", warmup},
          {"runs", runs},
          {"min_counter_updates", min_counter_updates},
          {"max_repetitions", max_repetitions},
          {"max_cv_decode_tok_s", max_cv_decode_tok_s},
          {"max_cv_decode_j_per_token", max_cv_decode_j_per_token},
          {"max_reruns", max_reruns},
          {"cooldown_s", cooldown_s},
          {"sample_interval_s", sample_interval_s},
          {"store_timeline", store_timeline},
          {"prompt_seed", prompt_seed}};
}

ProtocolOptions ProtocolOptions::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: 'protocol' must be an object", source);
  ProtocolOptions o;
  const nlohmann::json known = o.to_json();
  for (const auto& [key, value] : j.items()) {
    if (!known.contains(key))
      fail("{}: unknown protocol key '{}' (known: {})", source, key, [&] {
        std::string names;
        for (const auto& [k, v] : known.items()) names += (names.empty() ? "" : ", ") + k;
        return names;
      }());
    const bool ok = key == "store_timeline" ? value.is_boolean() : value.is_number();
    if (!ok)
      fail("{}: protocol key '{}' must be a {}", source, key,
           key == "store_timeline" ? "boolean" : "number");
  }
  auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) field = j.at(key).get<std::decay_t<decltype(field)>>();
  };
  get("idle_seconds", o.idle_seconds);
  get("stabilise_delta_c", o.stabilise_delta_c);
  get("stabilise_window_s", o.stabilise_window_s);
  get("stabilise_max_s", o.stabilise_max_s);
  get("warmup", o.warmup);
  get("runs", o.runs);
  get("min_counter_updates", o.min_counter_updates);
  get("max_repetitions", o.max_repetitions);
  get("max_cv_decode_tok_s", o.max_cv_decode_tok_s);
  get("max_cv_decode_j_per_token", o.max_cv_decode_j_per_token);
  get("max_reruns", o.max_reruns);
  get("cooldown_s", o.cooldown_s);
  get("sample_interval_s", o.sample_interval_s);
  get("store_timeline", o.store_timeline);
  get("prompt_seed", o.prompt_seed);
  o.validate();
  return o;
}

void ProtocolOptions::validate() const {
  if (runs < 2) fail("--runs must be at least 2 to compute a CV and a CI (got {})", runs);
  if (warmup < 0) fail("--warmup must not be negative (got {})", warmup);
  if (idle_seconds < 0) fail("idle baseline seconds must not be negative (got {})", idle_seconds);
  if (stabilise_max_s < 0 || stabilise_window_s < 0 || stabilise_delta_c < 0)
    fail("thermal stabilisation settings must not be negative");
  if (min_counter_updates < 0) fail("min_counter_updates must not be negative");
  if (max_repetitions < 1) fail("max_repetitions must be at least 1");
  if (!(max_cv_decode_tok_s > 0) || !(max_cv_decode_j_per_token > 0))
    fail("CV gate thresholds must be positive fractions (e.g. 0.02 for 2 %)");
  if (max_reruns < 0) fail("max_reruns must not be negative (got {})", max_reruns);
  if (cooldown_s < 0) fail("--cooldown must not be negative (got {})", cooldown_s);
  if (sample_interval_s < 0) fail("sample interval must not be negative");
}

}  // namespace eco::bench
