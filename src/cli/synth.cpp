// `ecocompute synth`: writes a synthetic Hugging Face model directory for a named shape.
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include "cli/command.h"
#include "common/error.h"

#include "model/json_input.h"
#include "model/synth.h"

namespace {

struct SynthArgs {
  std::string shape;
  std::string out;
  uint64_t seed = 0;
  std::string outliers;
  std::string dtype = "f16";
  std::string tokenizer;
  bool list = false;
  bool force = false;
};

// What `dir` holds already: "" when no model, else a description for the messages below.
std::string existing_model(const std::filesystem::path& dir, bool& written_by_synth) {
  namespace fs = std::filesystem;
  written_by_synth = false;
  std::error_code ec;
  bool any = false;
  for (const char* name : {"config.json", "model.safetensors", "model.safetensors.index.json"})
    any = any || fs::exists(dir / name, ec);
  if (!any) return {};
  try {
    const auto record =
        eco::model::read_json_file(dir / "synthetic.json", 1 << 20, "synthetic.json");
    if (record.is_object() && record.value("generator", "") == "ecocompute synth") {
      written_by_synth = true;
      return fmt::format("a synthetic model (shape {}, seed {})", record.value("shape", "?"),
                         record.value("seed", uint64_t(0)));
    }
  } catch (const std::exception&) {
  }
  return "a model that synth did not write";
}

// Writing over a real model would destroy it: that needs --force. A synthetic model is
// replaced, and stderr says so.
void check_output_dir(const SynthArgs& a) {
  bool ours = false;
  const std::string existing = existing_model(a.out, ours);
  if (existing.empty()) return;
  if (!ours && !a.force)
    eco::fail(
        "--out {} already holds {}; it was left unchanged. Choose an empty directory, or pass "
        "--force to replace its files",
        a.out, existing);
  fmt::print(stderr, "synth: note: replacing {} in {}\n", existing, a.out);
}

void list_shapes() {
  fmt::print("{:<12} {:>8} {:>7} {:>6} {:>6} {:>4} {:>8} {:>16}\n", "shape", "type", "hidden",
             "inter", "layers", "kv", "vocab", "parameters");
  for (const auto& name : eco::model::synth_shape_names()) {
    const auto c = eco::model::synth_shape(name);
    fmt::print("{:<12} {:>8} {:>7} {:>6} {:>6} {:>4} {:>8} {:>16L}\n", name, c.model_type,
               c.hidden_size, c.intermediate_size, c.num_layers, c.num_kv_heads, c.vocab_size,
               c.parameter_count());
  }
}

void run(const SynthArgs& a) {
  if (a.list) {
    list_shapes();
    return;
  }
  if (a.shape.empty() || a.out.empty())
    eco::fail("synth: --shape and --out are required (or --list to see the shapes)");
  eco::model::SynthOptions opts;
  opts.shape = a.shape;
  opts.seed = a.seed;
  opts.dtype = eco::model::parse_synth_dtype(a.dtype);
  if (!a.outliers.empty()) eco::model::parse_outliers(a.outliers, opts);
  opts.tokenizer_from = a.tokenizer;
  check_output_dir(a);
  const auto t0 = std::chrono::steady_clock::now();
  const auto config = eco::model::write_synthetic_model(opts, a.out);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto file = std::filesystem::path(a.out) / "model.safetensors";
  const auto bytes = std::filesystem::file_size(file);
  fmt::print("wrote {} ({} {}, {} parameters, seed {}", a.out, a.shape, config.model_type,
             config.parameter_count(), opts.seed);
  if (opts.outlier_dims > 0)
    fmt::print(", outliers {} dims x {}", opts.outlier_dims, opts.outlier_scale);
  fmt::print(")\n  {}: {} bytes ({:.2f} GB) in {:.2f} s ({:.2f} GB/s)\n", file.string(), bytes,
             double(bytes) / 1e9, seconds, double(bytes) / 1e9 / std::max(seconds, 1e-9));
  fmt::print("  config.json, tokenizer.json ({}), synthetic.json\n",
             a.tokenizer.empty() ? "byte-level" : "from " + a.tokenizer);
}

void setup(CLI::App& sub) {
  auto args = std::make_shared<SynthArgs>();
  sub.add_option("--shape", args->shape, "Named shape (see --list)");
  sub.add_option("--out", args->out,
                 "Output directory (created). A synthetic model already there is replaced (with a "
                 "note on stderr); any other model is kept unless --force");
  sub.add_flag("--force", args->force,
               "Replace the model files in --out even if synth did not "
               "write them");
  sub.add_option("--seed", args->seed, "Seed of the random weights")->default_val(0);
  sub.add_option("--outliers", args->outliers,
                 "K:SCALE: K hidden dimensions whose activations are SCALE times larger");
  sub.add_option("--tokenizer", args->tokenizer,
                 "Model directory whose tokenizer.json to copy (default: a byte-level one)");
  sub.add_option("--dtype", args->dtype, "Storage dtype: f16, bf16 or f32")->default_val("f16");
  sub.add_flag("--list", args->list, "List the shapes with their parameter counts");
  sub.callback([args] { run(*args); });
}

}  // namespace

ECO_COMMAND("synth", "Write a synthetic Hugging Face model (config.json + safetensors)", setup);
