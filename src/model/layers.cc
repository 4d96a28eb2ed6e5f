#include "model/layers.h"

#include <torch/torch.h>

#include <cmath>

#include "core/check.h"

namespace recprism::model {

namespace F = torch::nn::functional;

torch::Tensor Attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, double dropout, bool training) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)).mul_(scale);
  scores.masked_fill_(mask, -std::numeric_limits<float>::infinity());
  auto attn = torch::softmax(scores, -1);
  if (dropout > 0 && training) attn = torch::dropout(attn, dropout, true);
  return torch::matmul(attn, v);
}

EncoderLayerImpl::EncoderLayerImpl(int d, int heads, int ffn, double dropout) : heads_(heads), dropout_(dropout) {
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  qkv = register_module("qkv", torch::nn::Linear(d, 3 * d));
  out = register_module("out", torch::nn::Linear(d, d));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
  ff1 = register_module("ff1", torch::nn::Linear(d, ffn));
  ff2 = register_module("ff2", torch::nn::Linear(ffn, d));
}

torch::Tensor EncoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t n = x.size(0), len = x.size(1), d = x.size(2), dh = d / heads_;
  // One projection for q, k and v: [N, L, 3D] -> [3, N, H, L, dh].
  auto qkv_t = qkv(ln1(x)).view({n, len, 3, heads_, dh}).permute({2, 0, 3, 1, 4});
  auto o = Attention(qkv_t[0], qkv_t[1], qkv_t[2], mask, dropout_, is_training());
  o = o.transpose(1, 2).reshape({n, len, d});
  auto h = x + F::dropout(out(o), F::DropoutFuncOptions().p(dropout_).training(is_training()));
  auto f = ff2(F::dropout(torch::gelu(ff1(ln2(h))), F::DropoutFuncOptions().p(dropout_).training(is_training())));
  return h + F::dropout(f, F::DropoutFuncOptions().p(dropout_).training(is_training()));
}

EncoderImpl::EncoderImpl(const ModelOptions& o) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < o.num_layers; ++i) {
    layers->push_back(EncoderLayer(o.d_model, o.num_heads, o.ffn_multiplier * o.d_model, o.dropout));
  }
  ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model})));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x, const torch::Tensor& pad, bool causal) {
  const int64_t len = x.size(1);
  auto eye = torch::eye(len, torch::TensorOptions().dtype(torch::kBool).device(x.device()));
  // [N, 1, 1, L] padding keys, except each position's own key.
  auto mask = pad.unsqueeze(1).unsqueeze(1) & eye.logical_not().unsqueeze(0).unsqueeze(0);
  if (causal) mask = mask | torch::triu(torch::ones({len, len}, mask.options()), 1).unsqueeze(0).unsqueeze(0);
  auto h = x;
  for (const auto& layer : *layers) h = layer->as<EncoderLayer>()->forward(h, mask);
  return ln_f(h);
}

TargetAttentionImpl::TargetAttentionImpl(int d, int heads, double dropout) : heads_(heads), dropout_(dropout) {
  q = register_module("q", torch::nn::Linear(d, d));
  kv = register_module("kv", torch::nn::Linear(d, 2 * d));
  out = register_module("out", torch::nn::Linear(d, d));
  null_kv = register_parameter("null_kv", torch::randn({2, d}) * 0.02);
}

torch::Tensor TargetAttentionImpl::forward(const torch::Tensor& target, const torch::Tensor& history,
                                           const torch::Tensor& pad, const torch::Tensor& group) {
  const int64_t b = target.size(0), g = history.size(0), len = history.size(1), d = history.size(2),
                dh = d / heads_;
  // k and v once per distinct history, then gathered per sample: [G, L+1, 2D] with the null slot first.
  auto kv_h = torch::cat({null_kv.view({1, 1, 2 * d}).expand({g, 1, 2 * d}), kv(history)}, 1);
  auto kv_s = kv_h.index_select(0, group).view({b, len + 1, 2, heads_, dh}).permute({2, 0, 3, 1, 4});
  auto q_s = q(target).view({b, heads_, 1, dh});
  auto pad_s = torch::cat({torch::zeros({g, 1}, pad.options()), pad}, 1).index_select(0, group);
  auto o = Attention(q_s, kv_s[0], kv_s[1], pad_s.view({b, 1, 1, len + 1}), dropout_, is_training());
  return out(o.reshape({b, d}));
}

TaskHeadsImpl::TaskHeadsImpl(const ModelOptions& o, int in) : kind_(o.heads), dropout_(o.dropout) {
  const int h = o.tower_hidden;
  auto tower = [&](int width) {
    return torch::nn::Sequential(torch::nn::Linear(width, h), torch::nn::ReLU(), torch::nn::Dropout(o.dropout),
                                 torch::nn::Linear(h, 1));
  };
  int tower_in = in;
  if (kind_ == "shared_bottom") {
    bottom_ = register_module("bottom", torch::nn::Sequential(torch::nn::Linear(in, h), torch::nn::ReLU(),
                                                              torch::nn::Dropout(o.dropout)));
    tower_in = h;
  } else if (kind_ == "mmoe") {
    experts_ = register_module("experts", torch::nn::ModuleList());
    for (int e = 0; e < o.num_experts; ++e) {
      experts_->push_back(torch::nn::Sequential(torch::nn::Linear(in, h), torch::nn::ReLU(),
                                                torch::nn::Dropout(o.dropout)));
    }
    ctr_gate_ = register_module("ctr_gate", torch::nn::Linear(in, o.num_experts));
    cvr_gate_ = register_module("cvr_gate", torch::nn::Linear(in, o.num_experts));
    tower_in = h;
  } else {
    RP_REQUIRE(kind_ == "esmm", StatusCode::kInvalidConfig,
               "model.heads: expected esmm, mmoe or shared_bottom, found '{}'", kind_);
  }
  ctr_tower_ = register_module("ctr_tower", tower(tower_in));
  cvr_tower_ = register_module("cvr_tower", tower(tower_in));
}

TaskLogits TaskHeadsImpl::forward(const torch::Tensor& x) {
  if (kind_ == "shared_bottom") {
    auto z = bottom_->forward(x);
    return {ctr_tower_->forward(z).squeeze(1), cvr_tower_->forward(z).squeeze(1)};
  }
  if (kind_ == "mmoe") {
    std::vector<torch::Tensor> outs;
    for (const auto& e : *experts_) outs.push_back(e->as<torch::nn::SequentialImpl>()->forward(x));
    auto experts = torch::stack(outs, 1);  // [B, K, H]
    auto mix = [&](torch::nn::Linear& gate) {
      return torch::bmm(torch::softmax(gate(x), -1).unsqueeze(1), experts).squeeze(1);
    };
    return {ctr_tower_->forward(mix(ctr_gate_)).squeeze(1), cvr_tower_->forward(mix(cvr_gate_)).squeeze(1)};
  }
  return {ctr_tower_->forward(x).squeeze(1), cvr_tower_->forward(x).squeeze(1)};
}

}  // namespace recprism::model
