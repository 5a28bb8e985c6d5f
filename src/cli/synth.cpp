// `ecocompute synth`: writes a synthetic Hugging Face model directory for a named shape.
#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include "cli/command.h"
#include "common/error.h"
#include "engine/cpu/outlier_census.h"
#include "model/json_input.h"
#include "model/synth.h"
#include "model/weights.h"

namespace {

struct SynthArgs {
  std::string shape;
  std::string out;
  uint64_t seed = 0;
  std::string outliers;
  std::string dtype = "f16";
  std::string tokenizer;
  std::string weights = "scaled";
  bool list = false;
  bool force = false;
  bool census = false;
  std::vector<int> census_batches = {1, 8, 64};
  int census_prompt = 32;
  int census_steps = 32;
  float census_threshold = 6.0f;
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

const std::vector<int>& planted_columns(const eco::model::SynthOutlierColumns& p,
                                        eco::engine::cpu::MatmulInput kind) {
  using eco::engine::cpu::MatmulInput;
  if (kind == MatmulInput::O) return p.attn;
  if (kind == MatmulInput::Down) return p.mlp;
  return p.hidden;
}

// The outlier columns of the model just written, per matmul kind and batch, on the CPU engine.
void print_census(const SynthArgs& a, const eco::model::SynthOptions& opts) {
  namespace cpu = eco::engine::cpu;
  const auto weights = eco::model::load_model(a.out);
  const auto plan = eco::model::make_synth_plan(weights.config, opts);
  cpu::OutlierCensusOptions co;
  co.batches = a.census_batches;
  co.prompt_len = a.census_prompt;
  co.decode_steps = a.census_steps;
  co.threshold = a.census_threshold;
  const auto census = cpu::outlier_census(weights, co);
  fmt::print(
      "outlier columns (|x| >= {:g}) per matmul input, CPU engine, fp16, {} random prompt tokens "
      "then {} greedy decode steps (counted), over steps x {} layers:\n",
      co.threshold, co.prompt_len, co.decode_steps, weights.config.num_layers);
  fmt::print("{:<8} {:>5} {:>7} {:>5} {:>7} {:>8} {:>16} {:>13} {:>11}\n", "matmul", "batch",
             "median", "max", "columns", "planted", "planted rows %", "other cols", "other max");
  for (const auto& m : census.matmuls) {
    const auto& planted = planted_columns(plan.columns, m.kind);
    double min_share = 1.0, sum_share = 0.0;
    for (int col : planted) {
      const double share =
          double(m.column_rows[size_t(col)]) / double(std::max<int64_t>(1, m.rows));
      min_share = std::min(min_share, share);
      sum_share += share;
    }
    int other = 0;
    float other_max = 0.0f;
    for (int col = 0; col < m.cols; ++col) {
      if (std::binary_search(planted.begin(), planted.end(), col)) continue;
      other += m.column_matmuls[size_t(col)] > 0 ? 1 : 0;
      other_max = std::max(other_max, m.column_max[size_t(col)]);
    }
    const std::string share = planted.empty()
                                  ? "-"
                                  : fmt::format("{:.1f} / {:.1f}", 100.0 * min_share,
                                                100.0 * sum_share / double(planted.size()));
    fmt::print("{:<8} {:>5} {:>7} {:>5} {:>7} {:>8} {:>16} {:>13} {:>11.2f}\n",
               cpu::matmul_input_name(m.kind), m.batch, cpu::median_count(m),
               *std::max_element(m.counts.begin(), m.counts.end()), m.cols, planted.size(), share,
               other, other_max);
  }
  fmt::print(
      "  planted rows %: min / mean over the planted columns of the share of rows with |x| >= "
      "{:g}; other cols: distinct columns outside the planted set that were ever outliers; "
      "other max: largest |x| outside the planted set\n",
      co.threshold);
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
  opts.weights = eco::model::parse_synth_weights(a.weights);
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
  const auto plan = eco::model::make_synth_plan(config, opts);
  fmt::print("  weights {}; planted outlier columns per matmul input: q/k/v and gate/up {}",
             eco::model::synth_weights_name(opts.weights), plan.columns.hidden.size());
  if (opts.weights == eco::model::SynthWeights::Scaled)
    fmt::print(", o {}, down {}", plan.columns.attn.size(), plan.columns.mlp.size());
  fmt::print("\n");
  if (a.census) print_census(a, opts);
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
                 "K:SCALE: K planted outlier columns of magnitude ~SCALE at every matmul input "
                 "(legacy weights: K hidden dimensions with RMSNorm weight SCALE)");
  sub.add_option("--weights", args->weights,
                 "scaled (per-kind scales, no chance outliers) or legacy (uniform std 0.02)")
      ->default_val("scaled");
  sub.add_option("--tokenizer", args->tokenizer,
                 "Model directory whose tokenizer.json to copy (default: a byte-level one)");
  sub.add_option("--dtype", args->dtype, "Storage dtype: f16, bf16 or f32")->default_val("f16");
  sub.add_flag("--list", args->list, "List the shapes with their parameter counts");
  sub.add_flag("--census", args->census,
               "Then count LLM.int8() outlier columns per matmul input on the CPU engine");
  sub.add_option("--census-batch", args->census_batches, "Census batch sizes, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  sub.add_option("--census-prompt", args->census_prompt, "Census prompt tokens per sequence")
      ->capture_default_str();
  sub.add_option("--census-steps", args->census_steps, "Census greedy decode steps")
      ->capture_default_str();
  sub.add_option("--census-threshold", args->census_threshold, "Census outlier threshold")
      ->capture_default_str();
  sub.callback([args] { run(*args); });
}

}  // namespace

ECO_COMMAND("synth", "Write a synthetic Hugging Face model (config.json + safetensors)", setup);
