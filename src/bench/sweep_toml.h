#pragma once
// TOML sweep files: the same keys as the JSON form (docs/METHODOLOGY.md), read with toml++ and
// handed to the JSON reader as the equivalent JSON value, so both forms share one validator.
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace eco::bench {

// Parses TOML text into the equivalent JSON value (tables -> objects, arrays -> arrays,
// integers, floats, booleans and strings as themselves; dates and times as ISO strings). A
// syntax error names `source`, the line and the column.
nlohmann::json toml_to_json(const std::string& text, const std::string& source);

}  // namespace eco::bench
