// The training objectives' losses, next to the model they train and testable without a Trainer.
// Each returns loss sums (never means: the trainer divides by the global sample count) and the
// item ids whose embedding rows the step touched (for the item-row exchange of gradient sync).
//
// - TaskHeadsLoss: the multi-task heads' BCE sums (ESMM, MMoE, shared bottom; TaskLoss).
// - NextItemLoss: causal next-item prediction at every history position and the sample's own
//   item (docs/model.md, "Next-item training").
// - MaskedItemLoss: masked-item (Cloze) pretraining of the embeddings and encoder.
// The item softmax is the full catalogue when `popularity_q` is undefined, else `num_sampled`
// negatives drawn from Q(item) = popularity_q with the log-Q correction (Bengio and Senecal 2008;
// Yi et al. 2019). Random draws (masks, negatives) use LibTorch's global generator, in the order
// the trainer always made them, so a resumed run repeats them.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/model_input.h"
#include "model/options.h"
#include "model/recommender.h"

namespace recprism::model {

struct ObjectiveLoss {
  torch::Tensor total;       // the differentiable loss sum
  torch::Tensor ctr, ctcvr;  // what the log calls the CTR and CTCVR loss sums (ctr = total for item objectives)
  torch::Tensor per_sample;  // [B] each sample's loss, when asked for (DP-SGD); else undefined
  double count = 0;          // what the sums are over: samples, or predicted positions
  std::vector<torch::Tensor> ids;  // item ids whose rows the step touched (concatenated by the caller)
};

// Softmax over items of encoded positions h [M, D] against their items `target` [M] (1-based);
// appends the scored items' ids to *ids.
torch::Tensor ItemSoftmaxLoss(RecommenderImpl& model, const torch::Tensor& h, const torch::Tensor& target,
                              const torch::Tensor& popularity_q, int num_sampled, std::vector<torch::Tensor>* ids);

// bf16: the logits come from an autocast region and are cast back to float before the loss.
ObjectiveLoss TaskHeadsLoss(RecommenderImpl& model, const ModelInput& in, const ModelOptions& options, bool bf16);

// per_sample (DP-SGD): the full softmax, per position, summed per sample, and count = the batch's
// samples (a public count) instead of its positions (a data-dependent one).
ObjectiveLoss NextItemLoss(RecommenderImpl& model, const ModelInput& in, const torch::Tensor& popularity_q,
                           int num_sampled, bool per_sample, int64_t batch_size);

// mask_prob of the non-padding history items (at least one per non-empty history) are replaced by
// the mask token and predicted from the bidirectional encoding.
ObjectiveLoss MaskedItemLoss(RecommenderImpl& model, const ModelInput& in, double mask_prob,
                             const torch::Tensor& popularity_q, int num_sampled, const torch::Device& device);

}  // namespace recprism::model
