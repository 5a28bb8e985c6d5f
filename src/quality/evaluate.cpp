#include "quality/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>

#include "common/error.h"
#include "common/parallel.h"

namespace eco::quality {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Host memory for one batch of one format's logits when the batch is chosen automatically.
constexpr double kAutoBatchLogitBytes = 1024.0 * 1024.0 * 1024.0;
constexpr int kAutoBatchMax = 16;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A scored position: its row in a batch's logits and the token it predicts.
struct ScoredRow {
  size_t row;
  int32_t target;
};

// The base format's view of one scored row.
struct BaseRow {
  RowStats stats;
  double nll = 0;
};

// What one format accumulates over the text, token by token, in text order (so the sums, and
// the result, do not depend on the thread count).
class Collector {
 public:
  void add(const TokenComparison& t) {
    nll_.add(t.nll);
    diff_.add(t.nll - t.nll_base);
    kld_.add(t.kld);
    dp_.add(t.delta_p);
    same_ += t.same_top1;
    klds_.push_back(t.kld);
    dps_.push_back(t.delta_p);
  }
  void add_nll(double nll) { nll_.add(nll); }

  void finish(FormatScore& s, bool compared) {
    s.tokens = nll_.count();
    s.nll = nll_.estimate();
    s.ppl = perplexity(nll_);
    if (!compared) {
      const Estimate none{kNaN, kNaN};
      Percentiles nan_pct;
      for (double* p : {&nan_pct.max, &nan_pct.p99_9, &nan_pct.p99, &nan_pct.p95, &nan_pct.p90,
                        &nan_pct.median, &nan_pct.p10, &nan_pct.p5, &nan_pct.p1, &nan_pct.min})
        *p = kNaN;
      s.ln_ppl_ratio = s.kld = s.same_top1 = s.delta_p = none;
      s.delta_p_rms = kNaN;
      s.kld_pct = s.delta_p_pct = nan_pct;
      return;
    }
    s.ln_ppl_ratio = diff_.estimate();
    s.kld = kld_.estimate();
    s.kld_pct = percentiles(klds_);
    s.same_top1 = proportion(same_, nll_.count());
    s.delta_p = dp_.estimate();
    s.delta_p_rms = dp_.rms();
    s.delta_p_pct = percentiles(dps_);
  }

 private:
  MeanAccumulator nll_, diff_, kld_, dp_;
  int64_t same_ = 0;
  std::vector<double> klds_, dps_;
};

int choose_batch(const EvalOptions& o, engine::DeviceKind device, const Chunking& ch, int vocab) {
  int b = o.batch;
  if (b <= 0) {
    if (device == engine::DeviceKind::Cpu) {
      b = 1;
    } else {
      const double per_chunk = double(ch.ctx) * double(vocab) * sizeof(float);
      b = int(std::clamp(std::floor(kAutoBatchLogitBytes / per_chunk), 1.0, double(kAutoBatchMax)));
    }
  }
  return std::min(b, ch.chunks);
}

std::vector<float> run_batch(engine::Engine& e, const std::vector<std::vector<int32_t>>& prompts,
                             size_t rows, int vocab) {
  e.prefill(prompts, /*all_logits=*/true);
  std::vector<float> logits = e.logits();
  if (logits.size() != rows * size_t(vocab))
    fail("internal: engine returned {} logits for {} positions of a {}-token vocabulary",
         logits.size(), rows, vocab);
  return logits;
}

std::vector<BaseRow> score_base(const std::vector<float>& logits,
                                const std::vector<ScoredRow>& rows, int vocab) {
  std::vector<BaseRow> out(rows.size());
  parallel_for(rows.size(), [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const std::span<const float> row(logits.data() + rows[i].row * size_t(vocab), size_t(vocab));
      out[i].stats = row_stats(row);
      out[i].nll = token_nll(row, out[i].stats.log_sum_exp, rows[i].target);
    }
  });
  return out;
}

std::vector<TokenComparison> compare(const std::vector<float>& base,
                                     const std::vector<BaseRow>& brows, const std::vector<float>& q,
                                     const std::vector<ScoredRow>& rows, int vocab) {
  std::vector<TokenComparison> out(rows.size());
  parallel_for(rows.size(), [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const size_t off = rows[i].row * size_t(vocab);
      out[i] =
          compare_token(std::span<const float>(base.data() + off, size_t(vocab)), brows[i].stats,
                        std::span<const float>(q.data() + off, size_t(vocab)), rows[i].target);
    }
  });
  return out;
}

void check_tokens(std::span<const int32_t> tokens, int vocab) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      fail(
          "token {} of the text has id {}, outside the model's vocabulary [0, {}): the tokens "
          "were made for another model (tokenize the text with this model's tokenizer)",
          i, tokens[i], vocab);
}

}  // namespace

bool same_format(const quant::FormatSpec& a, const quant::FormatSpec& b) {
  if (a.format != b.format) return false;
  if (a.format != quant::WeightFormat::Int8) return true;
  return a.int8_threshold == b.int8_threshold && a.int8_impl == b.int8_impl;
}

Chunking plan_chunks(size_t token_count, int ctx, int max_chunks, int max_positions) {
  if (ctx < 4)
    fail("--ctx {}: a chunk needs at least 4 tokens (its second half is scored); use 512", ctx);
  if (max_positions > 0 && ctx > max_positions)
    fail("--ctx {} exceeds the model's context of {} tokens (max_position_embeddings)", ctx,
         max_positions);
  if (max_chunks < 0) fail("--chunks {}: give a positive number, or 0 for all", max_chunks);
  Chunking c;
  c.ctx = ctx;
  c.first = ctx / 2;
  c.scored_per_chunk = ctx - 1 - c.first;
  c.chunks = int(token_count / size_t(ctx));
  if (c.chunks == 0)
    fail(
        "the text has {} tokens, fewer than one chunk of --ctx {}: give a longer text or a "
        "smaller --ctx",
        token_count, ctx);
  if (max_chunks > 0) c.chunks = std::min(c.chunks, max_chunks);
  return c;
}

EvalResult evaluate(const model::ModelWeights& weights, std::span<const int32_t> tokens,
                    const EvalOptions& o, const ProgressFn& progress) {
  const auto t_start = Clock::now();
  const int vocab = weights.config.vocab_size;
  if (o.formats.empty()) fail("--format: give at least one format to score (e.g. fp16,int8)");
  EvalResult r;
  r.chunking =
      plan_chunks(tokens.size(), o.ctx, o.max_chunks, weights.config.max_position_embeddings);
  const Chunking& ch = r.chunking;
  check_tokens(tokens.first(size_t(ch.chunks) * size_t(ch.ctx)), vocab);

  engine::DeviceKind device = o.device;
  if (device == engine::DeviceKind::Auto)
    device = engine::cuda_available() ? engine::DeviceKind::Cuda : engine::DeviceKind::Cpu;
  r.device = std::string(engine::device_name(device));
  r.batch = choose_batch(o, device, ch, vocab);

  // Every engine is built before the first chunk, so a format that cannot load fails early.
  auto make = [&](const quant::FormatSpec& f) {
    engine::EngineOptions eo;
    eo.device = device;
    eo.format = f;
    eo.max_batch = r.batch;
    eo.max_context = ch.ctx;
    return engine::create_engine(weights, eo);
  };
  const auto base_engine = make(o.base);
  std::vector<std::unique_ptr<engine::Engine>> engines;  // null: the base's logits are reused
  for (const auto& f : o.formats) engines.push_back(same_format(f, o.base) ? nullptr : make(f));

  r.base.format = o.base;
  r.base.engine = base_engine->describe();
  r.formats.resize(o.formats.size());
  for (size_t i = 0; i < o.formats.size(); ++i) {
    r.formats[i].format = o.formats[i];
    r.formats[i].engine = engines[i] ? engines[i]->describe() : r.base.engine;
  }

  Collector base_collector;
  std::vector<Collector> collectors(o.formats.size());
  for (int c0 = 0; c0 < ch.chunks; c0 += r.batch) {
    const int nb = std::min(r.batch, ch.chunks - c0);
    std::vector<std::vector<int32_t>> prompts;
    std::vector<ScoredRow> rows;
    for (int b = 0; b < nb; ++b) {
      const auto chunk = tokens.subspan(size_t(c0 + b) * size_t(ch.ctx), size_t(ch.ctx));
      prompts.emplace_back(chunk.begin(), chunk.end());
      for (int p = ch.first; p < ch.ctx - 1; ++p)
        rows.push_back({size_t(b) * size_t(ch.ctx) + size_t(p), chunk[size_t(p) + 1]});
    }
    const size_t positions = size_t(nb) * size_t(ch.ctx);
    auto t0 = Clock::now();
    const std::vector<float> base = run_batch(*base_engine, prompts, positions, vocab);
    const std::vector<BaseRow> brows = score_base(base, rows, vocab);
    for (const auto& br : brows) base_collector.add_nll(br.nll);
    r.base.seconds += seconds_since(t0);
    for (size_t f = 0; f < o.formats.size(); ++f) {
      t0 = Clock::now();
      std::vector<float> own;
      if (engines[f]) own = run_batch(*engines[f], prompts, positions, vocab);
      for (const auto& t : compare(base, brows, engines[f] ? own : base, rows, vocab))
        collectors[f].add(t);
      r.formats[f].seconds += seconds_since(t0);
    }
    if (progress) progress(c0 + nb, ch.chunks);
  }
  base_collector.finish(r.base, /*compared=*/false);
  for (size_t f = 0; f < o.formats.size(); ++f) collectors[f].finish(r.formats[f], true);
  r.seconds = seconds_since(t_start);
  return r;
}

}  // namespace eco::quality
