#pragma once
// The results schema: PRAGMA application_id marks a file as an ecocompute study, and
// PRAGMA user_version is the index of the last migration applied.
#include <cstdint>
#include <string_view>
#include <vector>

namespace eco::store {

inline constexpr int32_t kApplicationId = 0x45434f31;  // "ECO1"

// migrations()[i] takes a database from user_version i to i + 1.
const std::vector<std::string_view>& migrations();
inline int schema_version() {
  return int(migrations().size());
}

}  // namespace eco::store
