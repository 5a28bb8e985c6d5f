// transformers builds each table with fp32 tensor arithmetic from Python-float (double)
// scalars; the steps below keep that split (float where a tensor op runs, double where Python
// does scalar math) so the tables agree with transformers' buffers to the last bit or so.
#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "common/error.h"

namespace eco::model {

namespace {

constexpr double kPi = std::numbers::pi;

// base ** (arange(0, dim, 2).float() / dim): the exponent is an fp32 division, the power is
// rounded to fp32.
std::vector<float> pos_freqs(double base, int dim) {
  std::vector<float> out(size_t(dim / 2));
  for (int i = 0; i < dim / 2; ++i) {
    const float exponent = float(2 * i) / float(dim);
    out[size_t(i)] = float(std::pow(base, double(exponent)));
  }
  return out;
}

std::vector<float> default_inv_freq(double base, int dim) {
  std::vector<float> inv = pos_freqs(base, dim);
  for (float& v : inv) v = 1.0f / v;
  return inv;
}

// Dynamic NTK: past max_position_embeddings the base grows with the sequence length
// (transformers computes this branch on tensors, i.e. in fp32).
std::vector<float> dynamic_inv_freq(const ModelConfig& c, int seq_len) {
  const int dim = c.head_dim;
  const int max_pos = c.max_position_embeddings;
  if (seq_len <= max_pos) return default_inv_freq(c.rope_theta, dim);
  const float factor = float(c.rope.factor);
  const float growth = factor * float(seq_len) / float(max_pos) - float(c.rope.factor - 1.0);
  const float base =
      float(c.rope_theta) * float(std::pow(double(growth), double(dim) / double(dim - 2)));
  return default_inv_freq(double(base), dim);
}

// Llama 3.1: wavelengths longer than original / low_freq_factor are divided by factor, those
// shorter than original / high_freq_factor kept, the band between interpolated smoothly.
std::vector<float> llama3_inv_freq(const ModelConfig& c) {
  const RopeScaling& r = c.rope;
  std::vector<float> inv = default_inv_freq(c.rope_theta, c.head_dim);
  const double old_len = r.original_max_positions;
  const float low_wavelen = float(old_len / r.low_freq_factor);
  const float high_wavelen = float(old_len / r.high_freq_factor);
  const float factor = float(r.factor);
  for (float& f : inv) {
    const float wavelen = float(2.0 * kPi) / f;
    const float scaled = wavelen > low_wavelen ? f / factor : f;
    const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
    if (!medium) {
      f = scaled;
      continue;
    }
    const float smooth = (float(old_len) / wavelen - float(r.low_freq_factor)) /
                         float(r.high_freq_factor - r.low_freq_factor);
    f = (1.0f - smooth) * scaled / factor + smooth * scaled;
  }
  return inv;
}

// YaRN: interpolated (1 / (factor * base^x)) below the correction range, extrapolated (plain)
// above it, a linear ramp between; the correction range comes from beta_fast / beta_slow
// rotations over the pretraining context.
std::vector<float> yarn_inv_freq(const ModelConfig& c) {
  const RopeScaling& r = c.rope;
  const int dim = c.head_dim;
  const double base = c.rope_theta;
  auto correction_dim = [&](double rotations) {
    return dim * std::log(r.original_max_positions / (rotations * 2.0 * kPi)) /
           (2.0 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0);
  high = std::min(high, double(dim - 1));
  if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp

  const std::vector<float> pf = pos_freqs(base, dim);
  std::vector<float> inv(pf.size());
  const float factor = float(r.factor);
  for (size_t i = 0; i < pf.size(); ++i) {
    const float ramp = std::clamp((float(i) - float(low)) / float(high - low), 0.0f, 1.0f);
    const float extrapolation_weight = 1.0f - ramp;
    const float extrapolated = 1.0f / pf[i];
    const float interpolated = 1.0f / (factor * pf[i]);
    inv[i] = interpolated * (1.0f - extrapolation_weight) + extrapolated * extrapolation_weight;
  }
  return inv;
}

std::vector<float> longrope_inv_freq(const ModelConfig& c, int seq_len) {
  const RopeScaling& r = c.rope;
  const std::vector<double>& ext =
      seq_len > r.original_max_positions ? r.long_factor : r.short_factor;
  const std::vector<float> pf = pos_freqs(c.rope_theta, c.head_dim);
  if (ext.size() != pf.size())
    fail("longrope: {} factors for head_dim {} (need head_dim / 2)", ext.size(), c.head_dim);
  std::vector<float> inv(pf.size());
  for (size_t i = 0; i < pf.size(); ++i) inv[i] = 1.0f / (float(ext[i]) * pf[i]);
  return inv;
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

double rope_attention_factor(const RopeScaling& r) {
  if (r.attention_factor > 0.0) return r.attention_factor;
  if (r.type == RopeType::Yarn) {
    if (r.mscale != 0.0 && r.mscale_all_dim != 0.0)
      return yarn_mscale(r.factor, r.mscale) / yarn_mscale(r.factor, r.mscale_all_dim);
    return yarn_mscale(r.factor, 1.0);
  }
  if (r.type == RopeType::LongRope) {
    if (r.factor <= 1.0) return 1.0;
    return std::sqrt(1.0 + std::log(r.factor) / std::log(double(r.original_max_positions)));
  }
  return 1.0;
}

RopeTable rope_table(const ModelConfig& c, int seq_len) {
  if (c.head_dim <= 0 || c.head_dim % 2 != 0)
    fail("RoPE needs a positive, even head_dim (got {})", c.head_dim);
  RopeTable t;
  t.attention_scaling = float(rope_attention_factor(c.rope));
  switch (c.rope.type) {
    case RopeType::Default:
      t.inv_freq = default_inv_freq(c.rope_theta, c.head_dim);
      break;
    case RopeType::Linear:
      t.inv_freq = default_inv_freq(c.rope_theta, c.head_dim);
      for (float& f : t.inv_freq) f /= float(c.rope.factor);
      break;
    case RopeType::Dynamic:
      t.inv_freq = dynamic_inv_freq(c, seq_len);
      break;
    case RopeType::Llama3:
      t.inv_freq = llama3_inv_freq(c);
      break;
    case RopeType::Yarn:
      t.inv_freq = yarn_inv_freq(c);
      break;
    case RopeType::LongRope:
      t.inv_freq = longrope_inv_freq(c, seq_len);
      break;
  }
  return t;
}

int RopeSchedule::index(int seq_len) const {
  return std::clamp(seq_len - threshold, 0, count - 1);
}

RopeSchedule rope_schedule(const ModelConfig& c, int max_context) {
  RopeSchedule s;
  if (c.rope.type == RopeType::Dynamic) {
    s.threshold = c.max_position_embeddings;
    s.count = std::max(1, max_context - s.threshold + 1);
  } else if (c.rope.type == RopeType::LongRope) {
    s.threshold = c.rope.original_max_positions;
    s.count = max_context > s.threshold ? 2 : 1;
  }
  return s;
}

}  // namespace eco::model
