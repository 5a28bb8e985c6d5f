#include "bench/quality_store.h"

#include "bench/provenance.h"
#include "bench/sweep_spec.h"
#include "ecocompute/meter.h"
#include "model/resolve.h"
#include "store/sha256.h"

namespace eco::bench {

std::string tokens_sha256(std::span<const int32_t> ids) {
  store::Sha256 h;
  for (int32_t id : ids) {
    const uint32_t u = uint32_t(id);
    const unsigned char b[4] = {uint8_t(u), uint8_t(u >> 8), uint8_t(u >> 16), uint8_t(u >> 24)};
    h.update(b, 4);
  }
  return h.hex_digest();
}

store::ModelRecord model_record(const std::string& source, const std::filesystem::path& dir,
                                const model::ModelConfig& config) {
  const bool synthetic = model::is_synthetic_spec(source);
  store::ModelRecord m;
  m.source = source;
  if (synthetic) {
    const auto so = model::parse_synthetic_spec(source);
    m.synthetic_shape = so.shape;
    m.synthetic_seed = int64_t(so.seed);
  }
  m.config_json = model::config_to_json(config);
  m.weights_sha256_json = hash_model_files(dir, synthetic);
  m.parameter_count = config.parameter_count();
  return m;
}

namespace {

store::QualityRecord record_of(const quality::FormatScore& s, const quality::EvalResult& r) {
  store::QualityRecord q;
  q.device = r.device;
  q.engine = s.engine;
  q.ctx = r.chunking.ctx;
  q.chunks = r.chunking.chunks;
  q.tokens_scored = s.tokens;
  q.ppl = s.ppl.value, q.ppl_err = s.ppl.err;
  q.nll = s.nll.value, q.nll_err = s.nll.err;
  q.ln_ppl_ratio = s.ln_ppl_ratio.value, q.ln_ppl_ratio_err = s.ln_ppl_ratio.err;
  q.kld = s.kld.value, q.kld_err = s.kld.err;
  q.same_top1 = s.same_top1.value, q.same_top1_err = s.same_top1.err;
  q.delta_p = s.delta_p.value, q.delta_p_err = s.delta_p.err, q.delta_p_rms = s.delta_p_rms;
  auto copy = [](const quality::Percentiles& p, store::QualityPercentiles& o) {
    o = {p.max, p.p99_9, p.p99, p.p95, p.p90, p.median, p.p10, p.p5, p.p1, p.min};
  };
  copy(s.kld_pct, q.kld_pct);
  copy(s.delta_p_pct, q.delta_p_pct);
  q.seconds = s.seconds;
  return q;
}

}  // namespace

void store_quality(store::Store& st, const store::ModelRecord& model, const ScoredTokens& tokens,
                   const quality::EvalResult& r, const std::string& command) {
  const meter::Meter meter;  // for the session's GPU provenance only; nothing is metered
  const std::string sha = tokens_sha256(
      std::span(tokens.ids).first(size_t(r.chunking.chunks) * size_t(r.chunking.ctx)));
  auto tx = st.transaction();
  const int64_t session = st.add_session(collect_session(command, meter));
  const int64_t model_id = st.upsert_model(model);
  const auto fmt_id = [&](const quant::FormatSpec& f) {
    return st.upsert_format({f.name(), format_params(f)});
  };
  const int64_t base_id = fmt_id(r.base.format);
  for (const auto& s : r.formats) {
    store::QualityRecord q = record_of(s, r);
    q.session_id = session;
    q.model_id = model_id;
    q.format_id = fmt_id(s.format);
    q.base_format_id = base_id;
    q.text_source = tokens.source;
    q.tokens_sha256 = sha;
    q.text_tokens = int64_t(tokens.ids.size());
    st.insert_quality(q);
  }
  tx.commit();
}

}  // namespace eco::bench
