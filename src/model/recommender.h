// The behaviour-sequence recommender: embeddings -> transformer encoder -> (target meets history)
// -> multi-task heads. Assembled from ModelOptions and the dataset's shape by one constructor.
//
// Parameter names are stable (checkpoints and the Python reference use them):
//   embed.*     item, category, event, position, time-gap, user/row feature tables, numeric projection
//   encoder.*   the pre-LN transformer encoder
//   cloze.*     the masked-item head (pretraining and whole-catalogue scoring), tied to embed.item
//   target.*    encode_once's target attention
//   heads.*     the task heads
// "Encoder parameters" (what pretraining writes and fine-tuning can freeze): embed., encoder., cloze.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>

#include <string>

#include "model/layers.h"
#include "model/model_input.h"
#include "model/options.h"

namespace recprism::model {

// Reserved event ids beyond data::Event: the target token of bst.
constexpr int64_t kTargetEvent = 7;
constexpr int64_t kNumEvents = 8;

class EmbeddingsImpl : public torch::nn::Module {
 public:
  EmbeddingsImpl(const ModelOptions& o, const DatasetShape& shape);
  // History tokens [G, L, D]: item + category + event + position + time gap, zero at padding.
  // item overrides in.hist_item when defined (pretraining's masked copy).
  torch::Tensor History(const ModelInput& in, const torch::Tensor& item = {});
  // Target [B, D]: item + category.
  torch::Tensor Target(const ModelInput& in);
  // User and row features [B, D] (a sum of their embeddings and the numeric projection; zeros
  // when the dataset has none).
  torch::Tensor Context(const ModelInput& in);

  torch::nn::Embedding item{nullptr}, category{nullptr}, event{nullptr}, position{nullptr}, gap{nullptr};
  torch::nn::Embedding user_features{nullptr}, row_features{nullptr};
  torch::nn::Linear numeric{nullptr};
  torch::Tensor user_offsets, row_offsets;  // buffers: first id of each feature in its table
  int64_t mask_token = 0;                   // num_items + 1
  int d_model = 0;
};
TORCH_MODULE(Embeddings);

class RecommenderImpl : public torch::nn::Module {
 public:
  RecommenderImpl(const ModelOptions& options, const DatasetShape& shape);

  // Task logits of every sample of the batch.
  TaskLogits forward(const ModelInput& in);
  // Encoded distinct histories [G, L, D].
  torch::Tensor EncodeHistories(const ModelInput& in, const torch::Tensor& item = {});
  // One vector per distinct history [G, D] (the encoded most recent position through the cloze
  // head): scores all items at once with ScoreItems.
  torch::Tensor UserVectors(const ModelInput& in);
  // h [N, D] (cloze-head output) -> logits over items 1..num_items [N, num_items] (one matrix
  // product with the item table), or over the given items [N, K] / [K] when items is defined.
  // sample [N]: each row's sample, for per-sample gradient norms (per_sample.h) only.
  torch::Tensor ScoreItems(const torch::Tensor& h, const torch::Tensor& items = {}, const torch::Tensor& sample = {});
  // The cloze head: Linear -> GELU -> LayerNorm over encoder outputs [..., D] (sample as above).
  torch::Tensor Cloze(const torch::Tensor& encoded, const torch::Tensor& sample = {});

  const ModelOptions& options() const { return options_; }
  const DatasetShape& shape() const { return shape_; }

  Embeddings embed{nullptr};
  Encoder encoder{nullptr};
  torch::nn::Linear cloze_proj{nullptr};
  torch::nn::LayerNorm cloze_norm{nullptr};
  TargetAttention target{nullptr};
  TaskHeads heads{nullptr};

 private:
  ModelOptions options_;
  DatasetShape shape_;
};
TORCH_MODULE(Recommender);

// Causal next-item prediction (train.objective: next_item) on a batch: position j of a sample's
// history predicts position j + 1, and the last position predicts the sample's own item when it is
// a positive (click = 1). Padding positions predict nothing (left padding: a real position's
// successor is real). Returns the cloze-head outputs of the predicting positions h [M, D] and
// their items [M], and the sample of each [M]; the loss is a softmax over items of ScoreItems(h).
struct NextItemPositions {
  torch::Tensor h, target, sample;
};
NextItemPositions NextItemTargets(RecommenderImpl& model, const ModelInput& in);

// True for parameters written by pretraining and governed by train.encoder_lr_scale.
bool IsEncoderParameter(const std::string& name);
// True for parameters that get no weight decay: embeddings, norms and biases.
bool IsNoDecayParameter(const std::string& name);

// Per-sample loss sums over the batch (divide by the global sample count, not the local one).
struct LossSums {
  torch::Tensor total;  // ctr_weight x ctr + ctcvr_weight x ctcvr (scalar, differentiable)
  torch::Tensor ctr;    // sum of BCE(pCTR, click) over impressions
  torch::Tensor ctcvr;  // sum of BCE(pCTR x pCVR, conversion) over impressions
  torch::Tensor per_sample;  // [B] each sample's weighted loss (DP-SGD's clipping weights these)
};
LossSums TaskLoss(const TaskLogits& logits, const torch::Tensor& click, const torch::Tensor& conversion,
                  const ModelOptions& options);
// log pCTCVR and log(1 - pCTCVR) from the two logits, stable (pCTCVR capped at 1 - 1e-7).
std::pair<torch::Tensor, torch::Tensor> LogCtcvr(const TaskLogits& logits);

// Model size and cost for the start-up log. FLOPs count multiply-adds as 2; backward = 2 x forward.
struct ModelCost {
  int64_t parameters = 0;
  double forward_flops_per_sample = 0;
  double train_flops_per_sample = 0;  // forward + backward
};
// histories_per_sample: distinct histories / samples (1 / (1 + negatives) with encode_once).
ModelCost EstimateCost(Recommender& model, double histories_per_sample);

}  // namespace recprism::model
