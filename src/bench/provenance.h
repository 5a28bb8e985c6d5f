#pragma once
// What a study records about where it ran: host, OS, GPU, driver, versions, model hashes.
#include <filesystem>
#include <string>

#include "store/records.h"

namespace eco::meter {
class Meter;
}

namespace eco::bench {

store::Session collect_session(const std::string& command, const meter::Meter& meter);

// {"file": "sha256", ...} of config.json, tokenizer.json and every *.safetensors /
// *.safetensors.index.json in `dir` (sorted by name). Synthetic models hash only config.json
// and synthetic.json: their weights follow from shape and seed.
std::string hash_model_files(const std::filesystem::path& dir, bool synthetic);

}  // namespace eco::bench
