// `ecocompute quality`: perplexity of weight formats over a text and their KL divergence, top-1
// agreement and delta-p against a base format (fp16) on the same tokens (docs/QUALITY.md),
// printed as a table and stored in a study database beside the energy of the same model and
// format.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "bench/progress.h"
#include "bench/prompt.h"
#include "bench/provenance.h"
#include "bench/quality_store.h"
#include "bench/sweep.h"
#include "cli/command.h"
#include "common/error.h"
#include "ecocompute/meter.h"
#include "model/resolve.h"
#include "model/weights.h"
#include "quality/evaluate.h"
#include "quality/text.h"
#include "store/export.h"
#include "store/store.h"

namespace {

using eco::quality::EvalResult;
using eco::quality::FormatScore;

struct QualityArgs {
  std::string model, formats = "fp16", base = "fp16";
  std::string text, tokens;
  int ctx = 512, chunks = 0, batch = 0;
  float int8_threshold = -1.0f;
  bool threshold_given = false;
  std::string device = "auto", db, output = "md";
  std::string command;
};

// The scored text's token ids and where they came from.
struct Tokens {
  std::vector<int32_t> ids;
  std::string source;
};

Tokens load_tokens(const QualityArgs& a, const std::filesystem::path& dir, bool synthetic) {
  if (!a.tokens.empty())
    return {eco::quality::parse_token_ids(eco::quality::read_file(a.tokens, "--tokens"),
                                          "--tokens " + a.tokens),
            "--tokens " + a.tokens};
  const std::string text = a.text.empty() ? std::string(eco::quality::default_text())
                                          : eco::quality::read_file(a.text, "--text");
  const auto tok = [&] {
    try {
      return eco::bench::tokenizer_for_model(dir, synthetic);
    } catch (const eco::Error& e) {
      eco::fail("{} (with `quality`: --tokens FILE)", e.what());
    }
  }();
  Tokens t{tok.encode(text, true), a.text.empty()
                                       ? "bundled " + std::string(eco::quality::kDefaultTextName)
                                       : "--text " + a.text};
  if (t.ids.empty()) eco::fail("{}: the text gives no tokens with the model's tokenizer", t.source);
  return t;
}

// One updating bar on a terminal; otherwise a line at every tenth of the chunks.
class ChunkProgress {
 public:
  explicit ChunkProgress(std::FILE* out)
      : out_(out), tty_(eco::bench::TerminalProgress::is_tty(out)) {}
  void operator()(int done, int total) {
    const double s = std::chrono::duration<double>(Clock::now() - start_).count();
    const double eta = done > 0 ? s * double(total - done) / double(done) : 0;
    if (tty_) {
      constexpr int kWidth = 30;
      const int fill = total > 0 ? done * kWidth / total : kWidth;
      fmt::print(out_, "\rquality [{:#<{}}{:-<{}}] {}/{} chunks, {:.0f} s, ETA {:.0f} s ", "", fill,
                 "", kWidth - fill, done, total, s, eta);
      if (done == total) fmt::print(out_, "\n");
    } else if (done * 10 / total > last_tenth_ || done == total) {
      last_tenth_ = done * 10 / total;
      fmt::print(out_, "quality: {}/{} chunks, {:.1f} s\n", done, total, s);
    }
    std::fflush(out_);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool tty_;
  int last_tenth_ = 0;
  Clock::time_point start_ = Clock::now();
};

std::string pm(const eco::quality::Estimate& e, const char* spec = "{:.4f}") {
  if (std::isnan(e.value)) return "";
  const std::string v = fmt::format(fmt::runtime(spec), e.value);
  return std::isnan(e.err) ? v : v + " ± " + fmt::format(fmt::runtime(spec), e.err);
}

eco::store::Table result_table(const EvalResult& r, bool numeric) {
  using eco::store::Cell;
  eco::store::Table t;
  t.columns = {"format",           "ppl",         "ppl_err",       "ln_ppl_ratio",
               "ln_ppl_ratio_err", "kld",         "kld_err",       "kld_p99",
               "kld_max",          "same_top1",   "same_top1_err", "delta_p",
               "delta_p_err",      "delta_p_rms", "tokens_scored", "seconds"};
  if (!numeric)
    t.columns = {"format",   "PPL",     "ln(PPL/PPL base)", "KLD (nats/token)",
                 "KLD p99",  "KLD max", "same top-1 %",     "Δp %",
                 "Δp RMS %", "s"};
  for (const FormatScore& s : r.formats) {
    std::vector<Cell> row;
    if (numeric) {
      row = {s.format.name(),    s.ppl.value,       s.ppl.err,         s.ln_ppl_ratio.value,
             s.ln_ppl_ratio.err, s.kld.value,       s.kld.err,         s.kld_pct.p99,
             s.kld_pct.max,      s.same_top1.value, s.same_top1.err,   s.delta_p.value,
             s.delta_p.err,      s.delta_p_rms,     int64_t(s.tokens), s.seconds};
      for (auto& c : row)
        if (const auto* d = std::get_if<double>(&c); d && std::isnan(*d)) c = std::monostate{};
    } else {
      const auto pct = [](eco::quality::Estimate e) { return e.value *= 100, e.err *= 100, e; };
      row = {s.format.name(),
             pm(s.ppl),
             pm(s.ln_ppl_ratio, "{:.4g}"),
             pm(s.kld, "{:.4g}"),
             fmt::format("{:.4g}", s.kld_pct.p99),
             fmt::format("{:.4g}", s.kld_pct.max),
             pm(pct(s.same_top1), "{:.2f}"),
             pm(pct(s.delta_p), "{:.3g}"),
             fmt::format("{:.3g}", s.delta_p_rms * 100),
             fmt::format("{:.1f}", s.seconds)};
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

// Stores every scored format in one transaction, with the model and format identities of bench.
void store_results(eco::store::Store& st, const QualityArgs& a, const std::filesystem::path& dir,
                   const eco::model::ModelConfig& cfg, const Tokens& tokens, const EvalResult& r) {
  eco::bench::store_quality(st, eco::bench::model_record(a.model, dir, cfg),
                            {tokens.ids, tokens.source}, r, a.command);
}

// The formats to score, base first (its own perplexity is the reference of every ratio), each
// with --int8-threshold applied as bench applies it.
std::vector<eco::quant::FormatSpec> format_list(const QualityArgs& a,
                                                eco::quant::FormatSpec& base) {
  eco::bench::SweepSpec spec;
  if (a.threshold_given) spec.int8_threshold = a.int8_threshold;
  base = spec.format_spec(a.base);
  std::vector<eco::quant::FormatSpec> out{base};
  bool any_int8 = false;
  std::stringstream ss(a.formats);
  for (std::string name; std::getline(ss, name, ',');) {
    if (name.empty()) continue;
    const auto f = spec.format_spec(name);
    any_int8 = any_int8 || (f.format == eco::quant::WeightFormat::Int8 && f.int8_threshold != 0);
    if (eco::quality::same_format(f, base)) continue;
    for (const auto& g : out)
      if (eco::quality::same_format(f, g))
        eco::fail("--format lists {} twice: give each format once", f.name());
    out.push_back(f);
  }
  if (a.threshold_given && !any_int8)
    eco::fail("--int8-threshold applies to the int8 format, and --format lists none: add int8");
  return out;
}

void run_quality(QualityArgs& a) {
  using namespace eco;
  if (!a.text.empty() && !a.tokens.empty())
    fail("quality: give --text or --tokens, not both (without either, the bundled text is used)");
  if (a.threshold_given && !(a.int8_threshold >= 0))
    fail("--int8-threshold {}: give a threshold >= 0 (0 = pure int8; default 6)", a.int8_threshold);
  quality::EvalOptions o;
  o.formats = format_list(a, o.base);
  o.device = engine::parse_device(a.device);
  if (o.device == engine::DeviceKind::Cuda && !engine::cuda_available())
    fail("--device cuda: no CUDA device is available; use --device cpu, or auto");
  o.ctx = a.ctx;
  o.max_chunks = a.chunks;
  if (a.batch < 0)
    fail("--batch {}: give a positive number of chunks, or 0 for automatic", a.batch);
  o.batch = a.batch;
  const auto out_format = store::parse_export_format(a.output);

  // The database is opened (and checked) before anything is computed.
  std::optional<store::Store> st;
  if (!a.db.empty()) st.emplace(store::Store::open(a.db));
  const auto dir = model::resolve_model(a.model);
  const bool synthetic = model::is_synthetic_spec(a.model);
  const auto weights = model::load_model(dir);
  const Tokens tokens = load_tokens(a, dir, synthetic);
  const auto plan = quality::plan_chunks(tokens.ids.size(), o.ctx, o.max_chunks,
                                         weights.config.max_position_embeddings);
  fmt::print(stderr, "quality: {} ({} tokens), {} chunks of {} tokens, {} scored per format\n",
             tokens.source, tokens.ids.size(), plan.chunks, plan.ctx, plan.tokens_scored());
  ChunkProgress progress(stderr);
  const EvalResult r = quality::evaluate(weights, tokens.ids, o, std::ref(progress));
  if (st) store_results(*st, a, dir, weights.config, tokens, r);

  const bool md = out_format == store::ExportFormat::Md;
  fmt::print("{}", store::render(result_table(r, !md), out_format));
  fmt::print(stderr, "quality: {} on {} (batch {}), base {}, {:.1f} s{}\n", a.model, r.device,
             r.batch, r.base.format.name(), r.seconds,
             st ? fmt::format("; stored in {}", a.db) : std::string());
}

void setup(CLI::App& sub) {
  auto a = std::make_shared<QualityArgs>();
  sub.add_option("--model", a->model, "Model directory or synthetic:SHAPE[?seed=S&outliers=K:X]")
      ->required();
  sub.add_option("--format", a->formats,
                 "Formats to score, comma-separated (fp16,int8,int8-pure,nf4,...); the base is "
                 "always scored too")
      ->capture_default_str();
  sub.add_option("--base", a->base, "Format the others are compared with")->capture_default_str();
  sub.add_option("--text", a->text,
                 "Text file to score, tokenized by the model's tokenizer (default: the bundled "
                 "held-out KJV text, data/kjv/heldout.txt)");
  sub.add_option("--tokens", a->tokens,
                 "File of token ids to score instead of a text (integers, or a JSON array)");
  sub.add_option("--ctx", a->ctx, "Tokens per chunk; each chunk's second half is scored")
      ->capture_default_str();
  sub.add_option("--chunks", a->chunks, "Score only the first N chunks (0 = all)")
      ->capture_default_str();
  sub.add_option("--batch", a->batch,
                 "Chunks per prefill (0 = automatic: 1 on the CPU, up to 1 GiB of logits on CUDA)")
      ->capture_default_str();
  sub.add_option("--int8-threshold", a->int8_threshold,
                 "LLM.int8() outlier threshold of the int8 format (default 6; 0 = pure int8)");
  sub.add_option("--device", a->device, "auto, cpu or cuda")->capture_default_str();
  sub.add_option("--db", a->db, "Study database to store the scores in (created when absent)");
  sub.add_option("-o,--output", a->output, "Table on stdout: md, csv, json or jsonl")
      ->capture_default_str();
  sub.callback([a, &sub] {
    std::string cmd = fmt::format("ecocompute quality --model {} --format {} --base {} --ctx {}",
                                  a->model, a->formats, a->base, a->ctx);
    if (sub.count("--text")) cmd += " --text " + a->text;
    if (sub.count("--tokens")) cmd += " --tokens " + a->tokens;
    if (a->chunks) cmd += fmt::format(" --chunks {}", a->chunks);
    if (a->batch) cmd += fmt::format(" --batch {}", a->batch);
    a->threshold_given = sub.count("--int8-threshold") > 0;
    if (a->threshold_given) cmd += fmt::format(" --int8-threshold {}", a->int8_threshold);
    cmd += " --device " + a->device;
    if (!a->db.empty()) cmd += " --db " + a->db;
    a->command = cmd;
    run_quality(*a);
  });
}

}  // namespace

ECO_COMMAND("quality",
            "Perplexity and KL divergence of weight formats against fp16 over a text (stored "
            "beside the energy of the same model and format)",
            setup);
