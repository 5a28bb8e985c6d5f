#include "bench/sweep_spec.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <tuple>

#include "bench/json_read.h"
#include "bench/sweep_toml.h"
#include "common/error.h"
#include "engine/engine.h"
#include "model/resolve.h"

namespace eco::bench {

namespace fs = std::filesystem;

std::string format_params(const quant::FormatSpec& f) {
  nlohmann::json j = nlohmann::json::object();
  if (f.format == quant::WeightFormat::Int8) {
    j["threshold"] = f.int8_threshold;
    j["impl"] = f.int8_impl == quant::Int8Impl::Fused ? "fused" : "reference-bnb";
  }
  if (f.format == quant::WeightFormat::NF4 || f.format == quant::WeightFormat::NF4DQ)
    j["block"] = 64;
  if (f.format == quant::WeightFormat::NF4DQ) j["absmax_block"] = 256;
  return j.dump();
}

quant::Int8Impl parse_int8_impl(const std::string& name, const std::string& source) {
  if (name == "fused") return quant::Int8Impl::Fused;
  if (name == "reference-bnb") return quant::Int8Impl::ReferenceBnb;
  fail("{} '{}': use fused or reference-bnb", source, name);
}

namespace {

// "int8?threshold=T&impl=I": LLM.int8() settings of one format of a list, so that one sweep can
// hold several thresholds and both implementations. Returns whether each was given.
std::pair<bool, bool> read_format_params(std::string_view query, const std::string& name,
                                         quant::FormatSpec& f) {
  if (f.format != quant::WeightFormat::Int8)
    fail("format '{}': only int8 takes parameters (threshold=T, impl=fused|reference-bnb)", name);
  bool threshold = false, impl = false;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = item.find('=');
    const std::string key(item.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? "" : item.substr(eq + 1));
    if (key == "threshold") {
      char* end = nullptr;
      const double t = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(t >= 0 && t < 1e30))
        fail("format '{}': threshold must be a number >= 0 (0 = pure int8)", name);
      f.int8_threshold = float(t);
      threshold = true;
    } else if (key == "impl") {
      f.int8_impl = parse_int8_impl(value, fmt::format("format '{}': impl", name));
      impl = true;
    } else {
      fail("format '{}': unknown parameter '{}' (int8 takes threshold=T and impl=I)", name, key);
    }
  }
  return {threshold, impl};
}

}  // namespace

quant::FormatSpec SweepSpec::format_spec(const std::string& name) const {
  const size_t q = name.find('?');
  quant::FormatSpec f = quant::parse_format(std::string_view(name).substr(0, q));
  bool own_threshold = false, own_impl = false;
  if (q != std::string::npos)
    std::tie(own_threshold, own_impl) =
        read_format_params(std::string_view(name).substr(q + 1), name, f);
  if (f.format == quant::WeightFormat::Int8) {
    if (!own_threshold && int8_threshold >= 0 && f.int8_threshold != 0.0f)
      f.int8_threshold = int8_threshold;
    if (!own_impl && int8_impl) f.int8_impl = *int8_impl;
  }
  return f;
}

namespace {

template <typename T>
void drop_repeats(std::vector<T>& v) {
  std::vector<T> out;
  for (const auto& x : v)
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  v = std::move(out);
}

// One spelling per model directory: "tiny", "tiny/" and "./tiny" are the same model.
std::string normal_model(const std::string& m) {
  if (model::is_synthetic_spec(m) || m.empty()) return m;
  std::string s = fs::path(m).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

void SweepSpec::normalize() {
  for (auto& m : models) m = normal_model(m);
  drop_repeats(models);
  drop_repeats(formats);
  drop_repeats(batches);
  drop_repeats(prompt_lens);
  drop_repeats(gen_lens);
}

void SweepSpec::validate() const {
  if (models.empty()) fail("--model: give at least one model directory or synthetic:SHAPE");
  if (formats.empty()) fail("--format: give at least one format (e.g. fp16)");
  if (batches.empty() || (prompt_lens.empty() && !prompt_text) || gen_lens.empty())
    fail("--batch, --prompt-len and --gen-len each need at least one value");
  if (prompt_text && prompt_text->text.empty())
    fail("{}: the prompt is empty; give some text", prompt_text->origin);
  for (int b : batches)
    if (b < 1) fail("--batch: batch sizes must be at least 1 (got {})", b);
  for (int p : prompt_lens)
    if (p < 1) fail("--prompt-len must be at least 1 (got {})", p);
  for (int g : gen_lens)
    if (g < 2)
      fail(
          "--gen-len must be at least 2: the first token comes from prefill, decode makes the "
          "rest (got {})",
          g);
  bool has_int8 = false, has_int8_family = false;
  std::vector<std::string> seen;
  for (const auto& f : formats) {
    const quant::FormatSpec parsed =
        SweepSpec{}.format_spec(f);  // without the sweep's int8 settings
    has_int8_family = has_int8_family || parsed.format == quant::WeightFormat::Int8;
    has_int8 =
        has_int8 || (parsed.format == quant::WeightFormat::Int8 && parsed.int8_threshold != 0);
    const quant::FormatSpec applied = format_spec(f);
    const std::string key = applied.name() + format_params(applied);
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      fail("--format lists {} twice{}: give each format once", applied.name(),
           applied.name() == "int8-pure" && has_int8
               ? " (int8 with --int8-threshold 0 is int8-pure)"
               : "");
    seen.push_back(key);
  }
  if (int8_threshold >= 0 && !has_int8)
    fail("--int8-threshold applies to the int8 format, and --format lists none: add int8");
  if (int8_impl && !has_int8_family)
    fail("--int8-impl applies to int8 and int8-pure, and --format lists neither: add one");
  if (engine::parse_device(device) == engine::DeviceKind::Cuda && !engine::cuda_available())
    fail(
        "--device cuda: no CUDA device is available (this build has no CUDA engine, or no GPU "
        "is visible); use --device cpu, or auto to take CUDA when present");
  protocol.validate();
}

int SweepSpec::configuration_count() const {
  return int(models.size() * formats.size() * batches.size() *
             (prompt_text ? 1 : prompt_lens.size()) * gen_lens.size());
}

namespace {

// A string or a list of strings.
std::vector<std::string> read_strings(const nlohmann::json& v, const std::string& what) {
  if (v.is_string()) return {v.get<std::string>()};
  if (v.is_array() && std::all_of(v.begin(), v.end(), [](auto& x) { return x.is_string(); }))
    return v.get<std::vector<std::string>>();
  fail("{} must be a string or a list of strings", what);
}

// An integer or a list of integers, each range-checked before it becomes an int.
std::vector<int> read_ints(const nlohmann::json& v, const std::string& what, int lo) {
  std::vector<int> out;
  if (!v.is_array()) return {json_integer<int>(v, what, lo)};
  for (const auto& x : v) out.push_back(json_integer<int>(x, what + " (each value)", lo));
  return out;
}

void set_prompt(SweepSpec& s, TextPrompt p, const std::string& source) {
  if (s.prompt_text) fail("{}: give 'prompt' or 'text', not both", source);
  s.prompt_text = std::move(p);
}

void read_key(SweepSpec& s, const std::string& key, const nlohmann::json& value,
              const std::string& source) {
  const std::string what = fmt::format("{}: '{}'", source, key);
  if (key == "models") {
    s.models = read_strings(value, what);
  } else if (key == "formats") {
    s.formats = read_strings(value, what);
  } else if (key == "batches") {
    s.batches = read_ints(value, what, 1);
  } else if (key == "prompt_lens") {
    s.prompt_lens = read_ints(value, what, 1);
  } else if (key == "gen_lens") {
    s.gen_lens = read_ints(value, what, 2);
  } else if (key == "prompt") {
    if (!value.is_string()) fail("{} must be a string (the prompt's text)", what);
    set_prompt(s, TextPrompt{value.get<std::string>(), source + ": prompt"}, source);
  } else if (key == "text") {
    if (!value.is_string()) fail("{} must be a string (a text file's path)", what);
    set_prompt(s, read_text_prompt(value.get<std::string>()), source);
  } else if (key == "int8_threshold") {
    s.int8_threshold = float(json_number(value, what + " (0 = pure int8)", 0.0, 1e30));
  } else if (key == "int8_impl") {
    if (!value.is_string()) fail("{} must be \"fused\" or \"reference-bnb\"", what);
    s.int8_impl = parse_int8_impl(value.get<std::string>(), source + ": int8_impl");
  } else if (key == "device") {
    if (!value.is_string()) fail("{} must be a string", what);
    s.device = value.get<std::string>();
  } else if (key == "protocol") {
    s.protocol = ProtocolOptions::from_json(value, source);
  } else {
    fail(
        "{}: unknown key '{}' (known: models, formats, batches, prompt_lens, gen_lens, prompt, "
        "text, int8_threshold, int8_impl, device, protocol)",
        source, key);
  }
}

}  // namespace

SweepSpec parse_sweep_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", source, e.what());
  }
  if (!j.is_object()) fail("{}: a sweep file is a JSON object", source);
  SweepSpec s;
  for (const auto& [key, value] : j.items()) read_key(s, key, value, source);
  return s;
}

SweepSpec load_sweep_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    fail("sweep file '{}': not found or not a regular file", path);
  std::ifstream in(path);
  if (!in) fail("cannot read sweep file '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".toml") return parse_sweep_json(toml_to_json(ss.str(), path).dump(), path);
  if (ext == ".json") return parse_sweep_json(ss.str(), path);
  fail("sweep file '{}': name it .toml or .json so that its format is known", path);
}

}  // namespace eco::bench
