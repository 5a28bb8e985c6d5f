#pragma once
// Perplexity and KL divergence of weight formats over a tokenized text, the way llama.cpp's
// `llama-perplexity --kl-divergence` scores them: the tokens are cut into consecutive chunks of
// `ctx`, each chunk is run through the model in one prefill, and only its second half is scored
// (positions ctx/2 .. ctx-2, each predicting the next token), so every scored token sees at
// least ctx/2 tokens of context.
//
// Every format's engine is built once; the text then streams chunk batch by chunk batch: the
// base format's logits for a batch are computed once and compared with each format's logits for
// the same batch before the next batch starts, so memory holds two batches of logits, never the
// whole text's.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "model/weights.h"
#include "quality/metrics.h"
#include "quant/format.h"

namespace eco::quality {

struct Chunking {
  int ctx = 0;
  int first = 0;  // first scored position of a chunk (ctx / 2)
  int scored_per_chunk = 0;
  int chunks = 0;
  int64_t tokens_scored() const { return int64_t(chunks) * scored_per_chunk; }
};
// The chunks of a text of `token_count` tokens (the remainder after the last whole chunk is
// not scored); max_chunks > 0 keeps only the first max_chunks. Throws eco::Error naming the
// option when ctx is below 4 or above max_positions (the model's context, when > 0), or the text
// is shorter than one chunk.
Chunking plan_chunks(size_t token_count, int ctx, int max_chunks, int max_positions = 0);

struct FormatScore {
  quant::FormatSpec format;
  std::string engine;  // Engine::describe()
  int64_t tokens = 0;  // tokens scored
  Estimate nll;        // nats per token
  Estimate ppl;
  // Against the base format on the same tokens:
  Estimate ln_ppl_ratio;  // mean of NLL_q - NLL_base = ln(PPL_q / PPL_base)
  Estimate kld;           // nats per token
  Percentiles kld_pct;
  Estimate same_top1;  // fraction of tokens whose argmax agrees with the base's
  Estimate delta_p;    // p_q(next token) - p_base(next token)
  double delta_p_rms = 0;
  Percentiles delta_p_pct;
  double seconds = 0;  // prefills, logit copies and scoring of this format
};

struct EvalOptions {
  engine::DeviceKind device = engine::DeviceKind::Auto;
  quant::FormatSpec base = quant::parse_format("fp16");
  // The formats to score. One equal to the base reuses the base's logits (its KLD is 0).
  std::vector<quant::FormatSpec> formats;
  int ctx = 512;
  int max_chunks = 0;  // 0: every whole chunk of the text
  int batch = 0;       // chunks per prefill; 0: 1 on the CPU, up to 1 GiB of logits on CUDA
};

struct EvalResult {
  Chunking chunking;
  std::string device;  // "cpu" or "cuda"
  int batch = 1;
  FormatScore base;
  std::vector<FormatScore> formats;  // in the order of EvalOptions::formats
  double seconds = 0;
};

// Called after each batch of chunks with the chunks done so far and the total.
using ProgressFn = std::function<void(int done, int total)>;

// Scores `tokens` (ids of the model's vocabulary) with every format. Throws eco::Error for
// bad options or ids outside the vocabulary, before any engine is built.
EvalResult evaluate(const model::ModelWeights& weights, std::span<const int32_t> tokens,
                    const EvalOptions& options, const ProgressFn& progress = {});

// True when two specs run the same computation (name, int8 threshold and implementation).
bool same_format(const quant::FormatSpec& a, const quant::FormatSpec& b);

}  // namespace eco::quality
