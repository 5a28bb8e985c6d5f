#pragma once
// Typed reads of sweep-file values: the type is checked, and integers are range-checked as
// 64-bit values before they are narrowed, so 4294967297 is refused rather than read as 1.
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eco::bench {

// An integer in [lo, hi]; `what` names the key and its file in the error.
template <typename T>
T json_integer(const nlohmann::json& v, const std::string& what,
               T lo = std::numeric_limits<T>::min(), T hi = std::numeric_limits<T>::max()) {
  if (!v.is_number_integer()) fail("{} must be an integer (got {})", what, v.dump());
  // std::cmp_* compare across signedness: a uint64 above INT64_MAX, a negative int64.
  auto check = [&](auto x) {
    if (std::cmp_less(x, lo) || std::cmp_greater(x, hi))
      fail("{} must be an integer from {} to {} (got {})", what, lo, hi, v.dump());
    return T(x);
  };
  return v.is_number_unsigned() ? check(v.get<uint64_t>()) : check(v.get<int64_t>());
}

// A finite number (integer or not) in [lo, hi].
inline double json_number(const nlohmann::json& v, const std::string& what,
                          double lo = -std::numeric_limits<double>::max(),
                          double hi = std::numeric_limits<double>::max()) {
  if (!v.is_number()) fail("{} must be a number (got {})", what, v.dump());
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi))
    fail("{} must be a number from {:g} to {:g} (got {})", what, lo, hi, v.dump());
  return x;
}

}  // namespace eco::bench
