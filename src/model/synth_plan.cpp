// What each synthetic tensor holds. Two plans (SynthWeights):
//
// Legacy: every random tensor uniform with std 0.02; K planted dimensions get RMSNorm weights of
// SCALE. q/k/v and gate/up inputs then carry K systematic outlier columns, but the activations
// grow with the shape (gate/up outputs of std ~2 on mistral-7b), so down_proj's input
// silu(gate) * up exceeds 6 at random positions: hundreds to thousands of outlier columns.
//
// Scaled (the default). Notation: x is an RMSNorm output (unit RMS per row), a matrix of fan-in
// n with entries of std c / sqrt(n) gives outputs of std c * rms(x) = c (sum of n independent
// terms; uniform entries make it near-Gaussian). sigma_E = 0.02 is the embedding's std, L the
// number of layers.
//   q, k: c = 1. Entries of std 1; the scores q.k / sqrt(head_dim) have std 1, so attention is
//     neither uniform nor one-hot.
//   v: c = 0.5. The o_proj input is a convex combination of v rows, so its entries have std
//     <= 0.5: |x| >= 6 is a 12-sigma event.
//   gate: c = 1 (silu in its curved range); up: c = 0.2. The down_proj input m = silu(g) * u is
//     a product, with exponential tails: P(|m| >= 6) = 6e-15 for g ~ N(0, 1), u ~ N(0, 0.2^2)
//     (numerical integral; 2.5e-12 with c = 0.25, 8e-4 with both 1), i.e. ~0 columns over
//     64 rows x 14336 columns x 32 layers x hundreds of steps.
//   o, down: the residual stream. Each attention output (at most, when a token attends to
//     itself only) and each MLP output adds sigma_E^2 / (2 L) of variance per element:
//     std tau = sigma_E / sqrt(2 L), so o entries have std tau / (0.5 sqrt(n)) and down entries
//     tau / (0.2 * sqrt(E[silu(g)^2]) * sqrt(n)), E[silu(g)^2] = 0.356 for g ~ N(0, 1). After
//     L layers the residual's variance is at most twice the embedding's, and the normalised
//     residual (the q/k/v and gate/up input) stays near-Gaussian: |x| >= 6 is a 6-sigma event
//     that the bounded (uniform) embedding share makes rarer still.
//   embed, lm_head, q/k/v biases: std sigma_E, as in the legacy plan.
//   final norm: ones, or random signs (+-1) when the embeddings are tied. The embedding keeps
//     about half of the final residual's variance, so with lm_head = embedding and a norm of
//     ones the current token's logit would lead by ~sqrt(hidden / 2) standard deviations and
//     greedy decoding would repeat it; random signs make that term average out.
//
// Planted outliers (K:SCALE, scaled plan), the structure LLM.int8() found in trained models
// (a few hidden dimensions, the same in every layer, large on most tokens; Dettmers et al.
// 2022) and that "massive activations" explain (fixed dimensions whose residual value has a
// fixed sign; Sun et al. 2024):
//   - the residual carries, in each planted dimension d, a value of fixed sign s_d: the
//     embedding column d is s_d * sigma_E (+-25 %, per token), and the rows d of o_proj and
//     down_proj are damped 16x so that the layers barely move it;
//   - the RMSNorm weight at d is SCALE * r / sigma_E, r the residual's expected RMS before that
//     norm, so the q/k/v and gate/up inputs carry x_d ~ s_d * SCALE (+-25 %) on every token;
//   - one v row per planted dimension (ceil(K / group) rows, group = heads / kv_heads) reads
//     x_d with weight s_d: v ~ SCALE on every token, and so its attention average; every query
//     head of the group reads it, so the o_proj input has group * ceil(K / group) planted
//     columns;
//   - one intermediate channel per planted dimension has gate weight 6 s_d / SCALE and up
//     weight s_d / silu(6) at d: g ~ 6, u ~ SCALE / silu(6), m = silu(g) u ~ SCALE;
//   - every weight column that reads a planted column is divided by SCALE, so a planted column
//     contributes to its matmul's output like any other: the model's arithmetic (and logits)
//     stay those of the scaled plan, and only the matmul inputs change.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"
#include "model/synth.h"
#include "model/synth_random.h"

namespace eco::model {

namespace {

using Role = SynthTensor::Role;
using namespace synth_detail;

constexpr double kQk = 1.0, kV = 0.5, kGate = 1.0, kUp = 0.2;
constexpr double kEmbedStd = kSynthWeightStd;  // sigma_E
// Share of the per-layer variance budget an attention output uses on average (it averages v
// over positions; 1 only for a token attending to itself), for the expected residual RMS.
constexpr double kAttnShare = 0.5;
constexpr float kRowDamping = 1.0f / 16.0f;  // o_proj / down_proj rows of planted dimensions
constexpr float kJitter = 0.25f;             // per-token spread of a planted residual value
constexpr float kGatePlanted = 6.0f;         // gate pre-activation of a planted channel

// E[silu(g)^2] for g ~ N(0, sd^2), midpoint rule over +-12 sd (0.3558 for sd = 1).
double silu_mean_square(double sd) {
  constexpr int kSteps = 4096;
  const double lo = -12.0 * sd, h = 24.0 * sd / kSteps;
  double sum = 0.0;
  for (int i = 0; i < kSteps; ++i) {
    const double g = lo + (i + 0.5) * h;
    const double s = g / (1.0 + std::exp(-g));
    sum += s * s * std::exp(-0.5 * g * g / (sd * sd));
  }
  return sum * h / (sd * std::sqrt(2.0 * 3.141592653589793));
}

float silu(float g) {
  return g / (1.0f + std::exp(-g));
}

// k distinct values of [0, n) in the order a seeded partial Fisher-Yates shuffle draws them.
std::vector<int> pick_distinct(uint64_t key, int n, int k) {
  std::vector<int> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[size_t(i)] = i;
  for (int i = 0; i < k; ++i) {
    const uint64_t j = uint64_t(i) + mix64(key + uint64_t(i)) % uint64_t(n - i);
    std::swap(v[size_t(i)], v[size_t(j)]);
  }
  v.resize(size_t(k));
  return v;
}

std::vector<int> sorted(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// The kind of row `row` of a tensor, and its index within that kind (fused matrices).
std::pair<Role, int64_t> row_role(const ModelConfig& c, const SynthTensor& t, int64_t row) {
  if (t.role == Role::Qkv) {
    const int64_t q = c.q_dim(), kv = c.kv_dim();
    if (row < q) return {Role::Q, row};
    if (row < q + kv) return {Role::K, row - q};
    return {Role::V, row - q - kv};
  }
  if (t.role == Role::GateUp) {
    const int64_t i = c.intermediate_size;
    return row < i ? std::pair{Role::Gate, row} : std::pair{Role::Up, row - i};
  }
  return {t.role, row};
}

double role_std(const SynthPlan& p, Role role) {
  const ModelConfig& c = p.config;
  const double tau = kEmbedStd / std::sqrt(2.0 * std::max(1, c.num_layers));
  switch (role) {
    case Role::Q:
    case Role::K:
      return kQk / std::sqrt(double(c.hidden_size));
    case Role::V:
      return kV / std::sqrt(double(c.hidden_size));
    case Role::Gate:
      return kGate / std::sqrt(double(c.hidden_size));
    case Role::Up:
      return kUp / std::sqrt(double(c.hidden_size));
    case Role::O:
      return tau / (kV * std::sqrt(double(c.q_dim())));
    case Role::Down: {
      static const double silu_ms = silu_mean_square(kGate);
      return tau / (kUp * std::sqrt(silu_ms) * std::sqrt(double(c.intermediate_size)));
    }
    default:
      return kEmbedStd;
  }
}

// Index j of `row` in a planted-channel list, or -1.
int planted_index(const std::vector<int>& channels, int64_t row) {
  const auto it = std::find(channels.begin(), channels.end(), int(row));
  return it == channels.end() ? -1 : int(it - channels.begin());
}

void divide_columns(const std::vector<int>& cols, int64_t c0, int64_t c1, float s, float* v) {
  for (int col : cols)
    if (col >= c0 && col < c1) v[col - c0] /= s;
}

// Columns [c0, c1) of row `row` of a random tensor, drawn values in v: the scaled plan's
// per-kind std and planted structure.
void shape_row(const SynthPlan& p, const SynthTensor& t, int64_t row, int64_t c0, int64_t c1,
               float* v) {
  const float factor = synth_row_std(p, t, row) / kSynthWeightStd;
  for (int64_t c = c0; c < c1; ++c) v[c - c0] *= factor;
  if (p.dims.empty()) return;
  const auto [role, local] = row_role(p.config, t, row);
  const float s = p.scale;
  auto set = [&](int col, float value) {
    if (col >= c0 && col < c1) v[col - c0] = value;
  };
  const bool planted_row = std::binary_search(p.dims.begin(), p.dims.end(), int(row));
  switch (role) {
    case Role::Embed:
      // The drawn value (std sigma_E, half-width sqrt(3) sigma_E) becomes a +-25 % spread.
      for (size_t j = 0; j < p.dims.size(); ++j) {
        const int d = p.dims[j];
        if (d >= c0 && d < c1)
          v[d - c0] = p.signs[j] * float(kEmbedStd) * (1.0f + kJitter * v[d - c0] / kHalfWidth);
      }
      break;
    case Role::Q:
    case Role::K:
      divide_columns(p.dims, c0, c1, s, v);
      break;
    case Role::V: {
      divide_columns(p.dims, c0, c1, s, v);
      const int j = planted_index(p.v_channels, local);
      if (j >= 0) set(p.dims[size_t(j)], p.signs[size_t(j)]);
      break;
    }
    case Role::Gate:
    case Role::Up: {
      divide_columns(p.dims, c0, c1, s, v);
      const int j = planted_index(p.down_channels, local);
      if (j >= 0) {
        const float sign = p.signs[size_t(j)];
        set(p.dims[size_t(j)],
            role == Role::Gate ? sign * kGatePlanted / s : sign / silu(kGatePlanted));
      }
      break;
    }
    case Role::O:
      divide_columns(p.columns.attn, c0, c1, s, v);
      if (planted_row)
        for (int64_t c = c0; c < c1; ++c) v[c - c0] *= kRowDamping;
      break;
    case Role::Down:
      divide_columns(p.columns.mlp, c0, c1, s, v);
      if (planted_row)
        for (int64_t c = c0; c < c1; ++c) v[c - c0] *= kRowDamping;
      break;
    default:
      break;
  }
}

// Expected RMS of the residual before a norm, after `layers_done` full layers plus, for the MLP
// norm, the layer's own attention (variance budget above; planted dimensions included).
double residual_rms(const ModelConfig& c, int k, double layers_done) {
  const double L = std::max(1, c.num_layers);
  const double normal = kEmbedStd * kEmbedStd * (1.0 + layers_done * (kAttnShare + 1.0) / (2 * L));
  // A planted value s sigma_E (1 + kJitter u), u uniform on [-1, 1): mean square
  // sigma_E^2 (1 + kJitter^2 / 3).
  const double planted = kEmbedStd * kEmbedStd * (1.0 + kJitter * kJitter / 3.0);
  const double h = c.hidden_size;
  return std::sqrt(((h - k) * normal + k * planted) / h);
}

}  // namespace

SynthPlan make_synth_plan(const ModelConfig& c, const SynthOptions& opts) {
  SynthPlan p;
  p.config = c;
  p.weights = opts.weights;
  p.seed = opts.seed;
  p.scale = opts.outlier_scale;
  p.tensors = synth_tensors(c);
  const int k = opts.outlier_dims;
  p.dims = synth_outlier_dims(opts.seed, c.hidden_size, k);
  p.columns.hidden = p.dims;
  const size_t layers = size_t(std::max(0, c.num_layers));
  if (opts.weights == SynthWeights::Legacy) {
    p.attn_norm_gain.assign(layers, opts.outlier_scale);
    p.mlp_norm_gain.assign(layers, opts.outlier_scale);
    return p;
  }
  if (k > c.intermediate_size)
    fail("--outliers: K = {} is more than intermediate_size ({})", k, c.intermediate_size);
  const int group = c.num_heads / std::max(1, c.num_kv_heads);
  const int kv_planted = (k + group - 1) / group;
  if (kv_planted > c.kv_dim())
    fail("--outliers: K = {} needs {} v channels, the shape has {}", k, kv_planted, c.kv_dim());
  const uint64_t key = mix64(opts.seed ^ 0x706c616e746564ull);  // "planted"
  for (int j = 0; j < k; ++j) p.signs.push_back(mix64(key + 0x51 + uint64_t(j)) & 1 ? 1.0f : -1.0f);
  p.v_channels = pick_distinct(mix64(key + 1), c.kv_dim(), kv_planted);
  p.down_channels = pick_distinct(mix64(key + 2), c.intermediate_size, k);
  for (int e : p.v_channels) {
    const int kvh = e / c.head_dim, el = e % c.head_dim;
    for (int h = kvh * group; h < (kvh + 1) * group; ++h)
      p.columns.attn.push_back(h * c.head_dim + el);
  }
  p.columns.attn = sorted(p.columns.attn);
  p.columns.mlp = sorted(p.down_channels);
  for (size_t l = 0; l < layers; ++l) {
    const double attn_r = residual_rms(c, k, double(l));
    const double mlp_r = residual_rms(c, k, double(l) + kAttnShare / (kAttnShare + 1.0));
    p.attn_norm_gain.push_back(float(opts.outlier_scale * attn_r / kEmbedStd));
    p.mlp_norm_gain.push_back(float(opts.outlier_scale * mlp_r / kEmbedStd));
  }
  return p;
}

float synth_row_std(const SynthPlan& p, const SynthTensor& t, int64_t row) {
  if (t.kind != SynthTensor::Kind::Random) return 0.0f;
  if (p.weights == SynthWeights::Legacy) return kSynthWeightStd;
  return float(role_std(p, row_role(p.config, t, row).first));
}

void synth_fill(const SynthPlan& p, size_t tensor_index, uint64_t begin, size_t n, float* out) {
  const SynthTensor& t = p.tensors.at(tensor_index);
  if (t.kind != SynthTensor::Kind::Random) {
    std::fill(out, out + n, 1.0f);
    if (t.role == Role::FinalNorm && p.weights == SynthWeights::Scaled &&
        p.config.tie_word_embeddings) {
      const uint64_t key = tensor_key(p.seed, tensor_index);
      for (size_t i = 0; i < n; ++i)
        if (mix64(key + begin + i) & 1) out[i] = -1.0f;
    }
    if (t.kind != SynthTensor::Kind::LayerNorm || p.dims.empty()) return;
    const float gain = t.role == Role::AttnNorm ? p.attn_norm_gain.at(size_t(t.layer))
                                                : p.mlp_norm_gain.at(size_t(t.layer));
    for (int d : p.dims)
      if (uint64_t(d) >= begin && uint64_t(d) < begin + n) out[d - begin] = gain;
    return;
  }
  fill_random(tensor_key(p.seed, tensor_index), begin, n, out);
  if (p.weights == SynthWeights::Legacy) return;
  const uint64_t cols = uint64_t(t.shape.size() == 2 ? t.shape[1] : t.shape[0]);
  for (uint64_t i = begin; i < begin + n;) {
    const uint64_t row = i / cols, c0 = i % cols;
    const uint64_t c1 = std::min(cols, c0 + (begin + n - i));
    shape_row(p, t, int64_t(row), int64_t(c0), int64_t(c1), out + (i - begin));
    i += c1 - c0;
  }
}

std::string synth_weight_init(const SynthPlan& p) {
  if (p.weights == SynthWeights::Legacy)
    return fmt::format(
        "legacy: uniform(-a, a), a = {} * sqrt(3) (std {}) for every matrix; "
        "norms 1, SCALE at the planted dimensions",
        kSynthWeightStd, kSynthWeightStd);
  auto sd = [&](Role r) { return role_std(p, r); };
  return fmt::format(
      "scaled: uniform, std per kind: q/k {:.4g}, v {:.4g}, o {:.4g}, gate {:.4g}, up {:.4g}, "
      "down {:.4g}; embed, lm_head, biases {}; norms 1 (planted dimensions: see outlier_columns)",
      sd(Role::Q), sd(Role::V), sd(Role::O), sd(Role::Gate), sd(Role::Up), sd(Role::Down),
      kSynthWeightStd);
}

}  // namespace eco::model
