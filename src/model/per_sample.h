// Per-sample gradient norms for DP-SGD, from one batched backward pass (no loop of one-sample
// backward passes).
//
// While a PerSampleNorms is active (Scope), the layers record each use of a parameter: the input
// and the output of a Linear, the ids and the output of an Embedding lookup, the input and the
// output of a LayerNorm, or a parameter broadcast to one copy per sample. Compute() then asks
// autograd for the gradient of the summed loss with respect to those outputs only (the graph is
// kept for the clipped backward that follows) and forms each sample's gradient norm from them:
//   Linear W, input a_t [in], output gradient g_t [out] over a sample's positions t:
//     ||sum_t g_t a_t^T||^2 = sum_{t,s} (a_t . a_s)(g_t . g_s)   ("ghost" norm: Goodfellow 2015;
//     Li, Tramer, Liang and Hashimoto 2022), or the materialised sum when in x out < 2 T^2;
//     bias: ||sum_t g_t||^2.
//   Embedding E, ids i_t: ||sum_t e_{i_t} g_t^T||^2 = sum_{t,s} [i_t = i_s] (g_t . g_s), padding ids
//     excluded; every lookup of one table in a sample (history and target) is merged first, so
//     embedding gradients are clipped per sample exactly.
//   LayerNorm: gamma sum_t g_t * xhat_t, beta sum_t g_t.
// Samples must not interact in the forward pass (no shared histories: MakeModelInput with
// dedupe_histories = false; attention within a sample only), so row i of an output gradient
// belongs to sample i alone.
//
// A parameter used in two different ways in one sample (the item table as an input embedding and
// as the tied output layer of the next-item softmax) gets the triangle-inequality bound
// ||g_1 + g_2|| <= ||g_1|| + ||g_2||: never below the true norm, so clipping stays valid (it may clip
// a little more than needed). Per-parameter norms are exact otherwise.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace recprism::model {

class PerSampleNorms {
 public:
  // batch: the samples B. The model's trainable parameters are the ones covered.
  PerSampleNorms(torch::nn::Module& model, int64_t batch);

  // Every tensor's leading dimension is the sample, unless `sample` [R] names the sample of each
  // of R rows (input [R, in], output [R, out]).
  void Linear(const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& input,
              const torch::Tensor& output, const torch::Tensor& sample = {});
  void Embedding(const torch::Tensor& weight, const torch::Tensor& ids, const torch::Tensor& output,
                 int64_t padding_idx);
  void LayerNorm(const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& input,
                 const torch::Tensor& output, double eps, const torch::Tensor& sample = {});
  // expanded [B, *param.shape]: the parameter repeated once per sample, as used.
  void Broadcast(const torch::Tensor& param, const torch::Tensor& expanded);

  // Per-sample gradient norms [B] (float64) of loss = the sum of the per-sample losses. Keeps
  // the graph for a second backward pass.
  torch::Tensor Compute(const torch::Tensor& loss);
  // After Compute: each recorded parameter's per-sample squared norms [B] (its uses' bound when
  // it has several), by name.
  const std::map<std::string, torch::Tensor>& squared_norms() const { return squared_; }
  // The trainable parameters no use was recorded for (their gradient must be zero).
  std::vector<std::string> Unrecorded() const;
  // Linear weights: "auto" (the cheaper of ghost and materialised), "ghost" or "materialise" (tests).
  void set_linear_mode(std::string mode) { linear_mode_ = std::move(mode); }

  // The active recorder of this thread, or nullptr.
  static PerSampleNorms* Active();
  class Scope {
   public:
    explicit Scope(PerSampleNorms* norms);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    PerSampleNorms* previous_;
  };

 private:
  enum class Kind { kLinearWeight, kLinearBias, kEmbedding, kNormWeight, kNormBias, kBroadcast };
  struct Use {
    Kind kind;
    std::string name;
    torch::Tensor input;   // Linear/LayerNorm input, Embedding ids
    torch::Tensor output;  // the tensor whose gradient autograd is asked for
    torch::Tensor sample;  // rows -> samples, or undefined
    int64_t padding_idx = -1;
    double eps = 0;
  };
  std::string NameOf(const torch::Tensor& param) const;

  std::map<const void*, std::string> names_;  // trainable parameter storage -> name
  std::vector<Use> uses_;
  std::map<std::string, torch::Tensor> squared_;
  int64_t batch_;
  std::string linear_mode_ = "auto";
};

}  // namespace recprism::model
