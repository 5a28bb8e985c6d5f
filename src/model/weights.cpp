#include "model/weights.h"

#include <fmt/format.h>

#include "common/error.h"

namespace eco::model {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Looks tensors up by Hugging Face name and checks each against the shape the config implies.
class WeightBinder {
 public:
  WeightBinder(const TensorStore& store, const std::filesystem::path& dir)
      : store_(store), dir_(dir.string()) {}

  TensorView get(const std::string& name, std::vector<int64_t> expected) const {
    const TensorView* v = store_.find(name);
    if (v == nullptr)
      fail(
          "{}: tensor '{}' is missing from the safetensors files (expected shape {}); the "
          "files do not match config.json",
          dir_, name, shape_str(expected));
    check(*v, expected);
    return *v;
  }

  void check(const TensorView& v, const std::vector<int64_t>& expected) const {
    if (v.dtype != DType::F32 && v.dtype != DType::F16 && v.dtype != DType::BF16)
      fail("{}: tensor '{}' has dtype {}; weights must be F32, F16 or BF16", v.file, v.name,
           dtype_name(v.dtype));
    if (v.shape != expected)
      fail("{}: tensor '{}' has shape {} but config.json implies {}", v.file, v.name,
           shape_str(v.shape), shape_str(expected));
  }

 private:
  const TensorStore& store_;
  std::string dir_;
};

// Layers stored beyond num_hidden_layers would be ignored silently and the model would run
// truncated (a config edited by hand, or the weights of a bigger sibling): refuse instead.
void check_no_extra_layers(const TensorStore& store, const ModelConfig& c,
                           const std::filesystem::path& dir) {
  constexpr std::string_view kPrefix = "model.layers.";
  int64_t highest = -1;
  std::string example;
  for (const std::string& name : store.names()) {
    if (!name.starts_with(kPrefix)) continue;
    int64_t index = 0;
    size_t i = kPrefix.size();
    for (; i < name.size() && name[i] >= '0' && name[i] <= '9' && index < (int64_t(1) << 40); ++i)
      index = index * 10 + (name[i] - '0');
    if (i == kPrefix.size() || i >= name.size() || name[i] != '.') continue;
    if (index > highest) highest = index, example = name;
  }
  if (highest >= c.num_layers)
    fail(
        "{}: the safetensors files hold layers up to {} (e.g. '{}') but config.json says "
        "num_hidden_layers = {}; the config does not match the weights (fix num_hidden_layers "
        "or use the matching files)",
        dir.string(), highest, example, c.num_layers);
}

}  // namespace

size_t ModelWeights::stored_bytes() const {
  size_t total = embed.nbytes + final_norm.nbytes;
  if (lm_head.data != embed.data) total += lm_head.nbytes;
  for (const auto& l : layers)
    for (const TensorView* t :
         {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.bo, &l.q_norm,
          &l.k_norm, &l.mlp_norm, &l.w_gate, &l.w_up, &l.w_down})
      total += t->nbytes;
  return total;
}

ModelWeights load_model(const std::filesystem::path& model_dir) {
  ModelWeights w;
  w.config = load_config(model_dir);
  w.dir = model_dir;
  w.store = std::make_shared<const TensorStore>(TensorStore::open_dir(model_dir));
  const ModelConfig& c = w.config;
  const WeightBinder bind(*w.store, model_dir);
  check_no_extra_layers(*w.store, c, model_dir);
  const int64_t h = c.hidden_size, inter = c.intermediate_size, q = c.q_dim(), kv = c.kv_dim();
  const int64_t vocab = c.vocab_size;

  w.embed = bind.get("model.embed_tokens.weight", {vocab, h});
  w.final_norm = bind.get("model.norm.weight", {h});
  if (c.tie_word_embeddings) {
    // transformers ties lm_head to the embedding and does not save it; a checkpoint that stores
    // it anyway holds a copy, which is ignored.
    w.lm_head = w.embed;
  } else {
    w.lm_head = bind.get("lm_head.weight", {vocab, h});
  }

  w.layers.resize(size_t(c.num_layers));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[size_t(i)];
    const std::string p = fmt::format("model.layers.{}.", i);
    l.attn_norm = bind.get(p + "input_layernorm.weight", {h});
    l.mlp_norm = bind.get(p + "post_attention_layernorm.weight", {h});
    l.wo = bind.get(p + "self_attn.o_proj.weight", {h, q});
    l.w_down = bind.get(p + "mlp.down_proj.weight", {h, inter});
    if (c.arch == Arch::Phi3) {
      // Phi-3 fuses q, k, v by rows (q first) and gate, up by rows (gate first): split into
      // views of the same bytes, so engines see the Llama layout.
      const TensorView qkv = bind.get(p + "self_attn.qkv_proj.weight", {q + 2 * kv, h});
      l.wq = qkv.slice_rows(0, q, "[q]");
      l.wk = qkv.slice_rows(q, kv, "[k]");
      l.wv = qkv.slice_rows(q + kv, kv, "[v]");
      const TensorView gate_up = bind.get(p + "mlp.gate_up_proj.weight", {2 * inter, h});
      l.w_gate = gate_up.slice_rows(0, inter, "[gate]");
      l.w_up = gate_up.slice_rows(inter, inter, "[up]");
    } else {
      l.wq = bind.get(p + "self_attn.q_proj.weight", {q, h});
      l.wk = bind.get(p + "self_attn.k_proj.weight", {kv, h});
      l.wv = bind.get(p + "self_attn.v_proj.weight", {kv, h});
      l.w_gate = bind.get(p + "mlp.gate_proj.weight", {inter, h});
      l.w_up = bind.get(p + "mlp.up_proj.weight", {inter, h});
    }
    if (c.qkv_bias) {
      l.bq = bind.get(p + "self_attn.q_proj.bias", {q});
      l.bk = bind.get(p + "self_attn.k_proj.bias", {kv});
      l.bv = bind.get(p + "self_attn.v_proj.bias", {kv});
    }
    if (c.o_bias) l.bo = bind.get(p + "self_attn.o_proj.bias", {h});
    if (c.qk_norm) {
      l.q_norm = bind.get(p + "self_attn.q_norm.weight", {c.head_dim});
      l.k_norm = bind.get(p + "self_attn.k_norm.weight", {c.head_dim});
    }
  }
  return w;
}

}  // namespace eco::model
