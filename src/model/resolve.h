#pragma once
// Turns a --model argument into a model directory: a path as is, or "synthetic:SHAPE[?...]",
// which writes the synthetic model once into the cache and reuses it afterwards.
#include <filesystem>
#include <string>
#include <string_view>

#include "model/synth.h"

namespace eco::model {

// $ECO_CACHE_DIR, else $XDG_CACHE_HOME/ecocompute, else ~/.cache/ecocompute.
std::filesystem::path cache_root();

bool is_synthetic_spec(std::string_view spec);  // starts with "synthetic:"

// "synthetic:SHAPE" with optional query parameters after '?', joined by '&':
//   seed=S (default 0), outliers=K:SCALE (default none), dtype=f16|bf16|f32 (default f16),
//   weights=scaled|legacy (default scaled).
// e.g. "synthetic:mistral-7b?seed=1&outliers=16:6". Throws eco::Error naming the bad part.
SynthOptions parse_synthetic_spec(const std::string& spec);

// Cache folder name of a synthetic model: <shape>-s<seed>[-o<K>x<SCALE>][-bf16|-f32][-legacy].
std::string synthetic_cache_name(const SynthOptions& opts);

// True when `dir` holds a complete synthetic model written with `opts` (synthetic.json, which
// the writer puts last, records the same options).
bool synthetic_model_complete(const std::filesystem::path& dir, const SynthOptions& opts);

// A directory: returned as is after checking it exists. A synthetic spec: the cache directory,
// written first if it is not complete (serialised between processes with a lock file).
std::filesystem::path resolve_model(const std::string& spec);

}  // namespace eco::model
