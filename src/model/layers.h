// Building blocks of the sequence model, one concept each: the pre-LayerNorm transformer encoder
// (fused QKV projection, batched attention with a padding mask and an optional causal mask), the
// target attention of encode_once, and the task heads. Shapes are in the comments; B = samples,
// G = distinct histories, L = history length, D = d_model.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>

#include "model/options.h"

namespace recprism::model {

// Module calls that also record the use for per-sample gradient norms (per_sample.h) while a
// PerSampleNorms is active; plain module calls otherwise. sample [R], when given, names the sample
// of each row of x (x [R, ...]); otherwise x's leading dimension is the sample.
torch::Tensor Apply(torch::nn::LinearImpl& m, const torch::Tensor& x, const torch::Tensor& sample = {});
torch::Tensor Apply(torch::nn::LayerNormImpl& m, const torch::Tensor& x, const torch::Tensor& sample = {});
torch::Tensor Apply(torch::nn::EmbeddingImpl& m, const torch::Tensor& ids);
// Linear layers inside are recorded; other children (activations, dropout) are called as they are.
torch::Tensor Apply(torch::nn::SequentialImpl& m, const torch::Tensor& x);

// Inverted dropout. On the CPU the mask comes from a SplitMix64 stream seeded by one draw of
// LibTorch's generator, four 16-bit draws per word (p is rounded to a multiple of 1/65536); on other
// devices torch::dropout.
torch::Tensor Dropout(const torch::Tensor& x, double p, bool training);

// Multi-head scaled dot-product attention: q [N, H, Lq, dh], k/v [N, H, Lk, dh], mask [N or 1, 1,
// Lq or 1, Lk] true where attention is forbidden. No query may have all keys forbidden.
torch::Tensor Attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, double dropout, bool training);

class EncoderLayerImpl : public torch::nn::Module {
 public:
  EncoderLayerImpl(int d_model, int num_heads, int ffn_dim, double dropout);
  // x [N, L, D]; mask [N, 1, L, L] (true = forbidden). Returns [N, L, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  torch::nn::Linear qkv{nullptr}, out{nullptr}, ff1{nullptr}, ff2{nullptr};

 private:
  int heads_;
  double dropout_;
};
TORCH_MODULE(EncoderLayer);

class EncoderImpl : public torch::nn::Module {
 public:
  EncoderImpl(const ModelOptions& o);
  // x [N, L, D], pad [N, L] (true at padding). Padding keys are masked for every query but their
  // own (so a fully padded row stays finite); causal forbids later keys. Returns ln_f(...) [N, L, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pad, bool causal);

  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};
};
TORCH_MODULE(Encoder);

// The target attends over an encoded history (DIN-style, multi-head), with one learned "null" key
// and value always present so an empty history gives a defined output.
class TargetAttentionImpl : public torch::nn::Module {
 public:
  TargetAttentionImpl(int d_model, int num_heads, double dropout);
  // target [B, D]; history [G, L, D]; pad [G, L]; group [B] -> [B, D].
  torch::Tensor forward(const torch::Tensor& target, const torch::Tensor& history, const torch::Tensor& pad,
                        const torch::Tensor& group);

  torch::nn::Linear q{nullptr}, kv{nullptr}, out{nullptr};
  torch::Tensor null_kv;  // [2, D]

 private:
  int heads_;
  double dropout_;
};
TORCH_MODULE(TargetAttention);

// Two logits per sample, CTR and CVR, from the features x [B, F]. pCTCVR = sigmoid(ctr) x
// sigmoid(cvr) for every head type (ESMM's composition).
struct TaskLogits {
  torch::Tensor ctr;  // [B]
  torch::Tensor cvr;  // [B]
};

class TaskHeadsImpl : public torch::nn::Module {
 public:
  TaskHeadsImpl(const ModelOptions& o, int in_features);
  TaskLogits forward(const torch::Tensor& x);

 private:
  Heads kind_;
  double dropout_;
  torch::nn::Sequential ctr_tower_{nullptr}, cvr_tower_{nullptr}, bottom_{nullptr};
  torch::nn::ModuleList experts_{nullptr};
  torch::nn::Linear ctr_gate_{nullptr}, cvr_gate_{nullptr};
};
TORCH_MODULE(TaskHeads);

}  // namespace recprism::model
