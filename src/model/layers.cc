#include "model/layers.h"

#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>

#include "core/check.h"
#include "model/per_sample.h"

namespace recprism::model {

namespace F = torch::nn::functional;

torch::Tensor Apply(torch::nn::LinearImpl& m, const torch::Tensor& x, const torch::Tensor& sample) {
  auto y = m.forward(x);
  if (auto* norms = PerSampleNorms::Active()) norms->Linear(m.weight, m.bias, x, y, sample);
  return y;
}

torch::Tensor Apply(torch::nn::LayerNormImpl& m, const torch::Tensor& x, const torch::Tensor& sample) {
  auto y = m.forward(x);
  if (auto* norms = PerSampleNorms::Active()) norms->LayerNorm(m.weight, m.bias, x, y, m.options.eps(), sample);
  return y;
}

torch::Tensor Apply(torch::nn::EmbeddingImpl& m, const torch::Tensor& ids) {
  auto y = m.forward(ids);
  if (auto* norms = PerSampleNorms::Active()) norms->Embedding(m.weight, ids, y, m.options.padding_idx().value_or(-1));
  return y;
}

torch::Tensor Apply(torch::nn::SequentialImpl& m, const torch::Tensor& x) {
  auto h = x;
  for (auto& child : m) {
    if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(child.ptr())) {
      h = Apply(*linear, h);
    } else {
      h = child.forward(h);
    }
  }
  return h;
}

torch::Tensor Dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0) return x;
  if (!x.device().is_cpu()) return torch::dropout(x, p, true);
  // One seed from LibTorch's generator (so torch::manual_seed governs it), then a SplitMix64
  // stream expanded four 16-bit draws per word: about 1 ns per element against bernoulli_'s ~8.
  uint64_t state;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get<at::CPUGeneratorImpl>()->random64();
  }
  const int64_t n = x.numel();
  auto mask = torch::empty({n}, x.options().dtype(torch::kFloat));
  float* m = mask.data_ptr<float>();
  const uint32_t threshold = static_cast<uint32_t>(std::lround(p * 65536.0));
  const float keep = static_cast<float>(1.0 / (1.0 - p));
  for (int64_t i = 0; i < n; i += 4) {
    state += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    for (int64_t k = 0; k < 4 && i + k < n; ++k) m[i + k] = ((z >> (16 * k)) & 0xFFFF) >= threshold ? keep : 0.f;
  }
  return x * mask.view(x.sizes()).to(x.scalar_type());
}

torch::Tensor Attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, double dropout, bool training) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)).mul_(scale);
  scores.masked_fill_(mask, -std::numeric_limits<float>::infinity());
  auto attn = torch::softmax(scores, -1);
  attn = Dropout(attn, dropout, training);
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
  auto qkv_t = Apply(*qkv, Apply(*ln1, x)).view({n, len, 3, heads_, dh}).permute({2, 0, 3, 1, 4});
  auto o = Attention(qkv_t[0], qkv_t[1], qkv_t[2], mask, dropout_, is_training());
  o = o.transpose(1, 2).reshape({n, len, d});
  const bool train = is_training();
  auto h = x + Dropout(Apply(*out, o), dropout_, train);
  auto f = Apply(*ff2, Dropout(torch::gelu(Apply(*ff1, Apply(*ln2, h))), dropout_, train));
  return h + Dropout(f, dropout_, train);
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
  return Apply(*ln_f, h);
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
  // The targets of one history become the query rows of that history ([G, n, D], n = the largest
  // group), so keys and values are used in place, never gathered per sample.
  auto group_cpu = group.to(torch::kCPU);
  const int64_t* gp = group_cpu.data_ptr<int64_t>();
  std::vector<int64_t> fill(static_cast<size_t>(g), 0), slot(static_cast<size_t>(b));
  int64_t n = 1;
  for (int64_t i = 0; i < b; ++i) n = std::max(n, ++fill[gp[i]]);
  std::fill(fill.begin(), fill.end(), 0);
  for (int64_t i = 0; i < b; ++i) slot[i] = gp[i] * n + fill[gp[i]]++;
  auto pos = torch::tensor(slot, torch::kLong).to(target.device());
  auto q_rows = torch::zeros({g * n, d}, target.options()).index_copy(0, pos, Apply(*q, target));
  auto q_g = q_rows.view({g, n, heads_, dh}).transpose(1, 2);  // [G, H, n, dh]
  auto null = null_kv.view({1, 1, 2 * d}).expand({g, 1, 2 * d});
  if (auto* norms = PerSampleNorms::Active()) {
    // One copy per history (one per sample when histories are not shared), so its gradient is per sample.
    null = null.contiguous();
    norms->Broadcast(null_kv, null);
  }
  auto kv_h = torch::cat({null, Apply(*kv, history)}, 1)
                  .view({g, len + 1, 2, heads_, dh})
                  .permute({2, 0, 3, 1, 4});  // [2, G, H, L+1, dh]
  auto mask = torch::cat({torch::zeros({g, 1}, pad.options()), pad}, 1).view({g, 1, 1, len + 1});
  auto o = Attention(q_g, kv_h[0], kv_h[1], mask, dropout_, is_training());  // [G, H, n, dh]
  return Apply(*out, o.transpose(1, 2).reshape({g * n, d}).index_select(0, pos));
}

TaskHeadsImpl::TaskHeadsImpl(const ModelOptions& o, int in) : kind_(o.heads), dropout_(o.dropout) {
  const int h = o.tower_hidden;
  auto tower = [&](int width) {
    return torch::nn::Sequential(torch::nn::Linear(width, h), torch::nn::ReLU(), torch::nn::Dropout(o.dropout),
                                 torch::nn::Linear(h, 1));
  };
  int tower_in = in;
  if (kind_ == Heads::kSharedBottom) {
    bottom_ = register_module("bottom", torch::nn::Sequential(torch::nn::Linear(in, h), torch::nn::ReLU(),
                                                              torch::nn::Dropout(o.dropout)));
    tower_in = h;
  } else if (kind_ == Heads::kMmoe) {
    experts_ = register_module("experts", torch::nn::ModuleList());
    for (int e = 0; e < o.num_experts; ++e) {
      experts_->push_back(torch::nn::Sequential(torch::nn::Linear(in, h), torch::nn::ReLU(),
                                                torch::nn::Dropout(o.dropout)));
    }
    ctr_gate_ = register_module("ctr_gate", torch::nn::Linear(in, o.num_experts));
    cvr_gate_ = register_module("cvr_gate", torch::nn::Linear(in, o.num_experts));
    tower_in = h;
  }
  ctr_tower_ = register_module("ctr_tower", tower(tower_in));
  cvr_tower_ = register_module("cvr_tower", tower(tower_in));
}

TaskLogits TaskHeadsImpl::forward(const torch::Tensor& x) {
  if (kind_ == Heads::kSharedBottom) {
    auto z = Apply(*bottom_, x);
    return {Apply(*ctr_tower_, z).squeeze(1), Apply(*cvr_tower_, z).squeeze(1)};
  }
  if (kind_ == Heads::kMmoe) {
    std::vector<torch::Tensor> outs;
    for (const auto& e : *experts_) outs.push_back(Apply(*e->as<torch::nn::SequentialImpl>(), x));
    auto experts = torch::stack(outs, 1);  // [B, K, H]
    auto mix = [&](torch::nn::Linear& gate) {
      return torch::bmm(torch::softmax(Apply(*gate, x), -1).unsqueeze(1), experts).squeeze(1);
    };
    return {Apply(*ctr_tower_, mix(ctr_gate_)).squeeze(1), Apply(*cvr_tower_, mix(cvr_gate_)).squeeze(1)};
  }
  return {Apply(*ctr_tower_, x).squeeze(1), Apply(*cvr_tower_, x).squeeze(1)};
}

}  // namespace recprism::model
