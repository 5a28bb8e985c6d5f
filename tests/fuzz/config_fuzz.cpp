// Fuzz target: the config.json reader. Any input must either be rejected with eco::Error or give
// a config that survives a write/read round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  eco::model::ModelConfig config;
  try {
    config = eco::model::parse_config(text, "fuzz/config.json");
  } catch (const eco::Error&) {
    return 0;  // rejected with a message
  }
  (void)config.parameter_count();
  // A config we accepted must be written back to something that reads as the same config.
  const eco::model::ModelConfig again =
      eco::model::parse_config(eco::model::config_to_json(config), "round-trip");
  if (!(again == config)) std::abort();
  return 0;
}
