#include "model/objectives.h"

#include "core/check.h"

namespace recprism::model {

torch::Tensor ItemSoftmaxLoss(RecommenderImpl& model, const torch::Tensor& h, const torch::Tensor& target,
                              const torch::Tensor& popularity_q, int num_sampled, std::vector<torch::Tensor>* ids) {
  if (!popularity_q.defined()) {
    ids->push_back(torch::arange(1, model.shape().num_items + 1, target.options()));
    return torch::cross_entropy_loss(model.ScoreItems(h).to(torch::kFloat), target - 1, {}, at::Reduction::Sum);
  }
  const int64_t S = num_sampled;
  auto neg = (torch::multinomial(popularity_q, S, true) + 1).to(h.device());
  auto log_sq = (popularity_q.to(h.device()) * S).log().to(torch::kFloat);
  auto pos_logit = (h * model.embed->item(target)).sum(1) - log_sq.index_select(0, target - 1);
  auto neg_logit = model.ScoreItems(h, neg) - log_sq.index_select(0, neg - 1).unsqueeze(0);
  neg_logit = neg_logit.masked_fill(neg.unsqueeze(0) == target.unsqueeze(1), -1e9);
  auto logits = torch::cat({pos_logit.unsqueeze(1), neg_logit}, 1);
  ids->push_back(neg);
  return torch::cross_entropy_loss(logits, torch::zeros({logits.size(0)}, target.options()), {}, at::Reduction::Sum);
}

ObjectiveLoss TaskHeadsLoss(RecommenderImpl& model, const ModelInput& in, const ModelOptions& options, bool bf16) {
  ObjectiveLoss out;
  out.count = static_cast<double>(in.target_item.size(0));
  out.ids = {in.hist_item.flatten(), in.target_item};
  auto logits = model.forward(in);
  if (bf16) logits = {logits.ctr.to(torch::kFloat), logits.cvr.to(torch::kFloat)};
  auto sums = TaskLoss(logits, in.click, in.conversion, options);
  out.total = sums.total;
  out.ctr = sums.ctr;
  out.ctcvr = sums.ctcvr;
  out.per_sample = sums.per_sample;
  return out;
}

ObjectiveLoss NextItemLoss(RecommenderImpl& model, const ModelInput& in, const torch::Tensor& popularity_q,
                           int num_sampled, bool per_sample, int64_t batch_size) {
  ObjectiveLoss out;
  auto [h, target, sample] = NextItemTargets(model, in);  // [M, D], [M], [M]
  out.count = static_cast<double>(target.numel());
  out.ids = {in.hist_item.flatten(), in.target_item};
  if (per_sample) {
    RP_CHECK(!popularity_q.defined(), "DP-SGD reached the sampled softmax");
    out.ids.push_back(torch::arange(1, model.shape().num_items + 1, in.hist_item.options()));
    auto ce = torch::cross_entropy_loss(model.ScoreItems(h, {}, sample).to(torch::kFloat), target - 1, {},
                                        at::Reduction::None);
    out.per_sample = torch::zeros({batch_size}, ce.options()).index_add(0, sample, ce);
    out.total = out.per_sample.sum();
    // The mean is over samples, a public count, not over their positions (a data-dependent one):
    // the loss logged is then per sample.
    out.count = static_cast<double>(batch_size);
  } else {
    out.total = target.numel() > 0 ? ItemSoftmaxLoss(model, h, target, popularity_q, num_sampled, &out.ids)
                                   : (h.sum() * 0.0);
  }
  out.ctr = out.total.detach();
  out.ctcvr = torch::zeros({}, out.total.options());
  return out;
}

ObjectiveLoss MaskedItemLoss(RecommenderImpl& model, const ModelInput& in, double mask_prob,
                             const torch::Tensor& popularity_q, int num_sampled, const torch::Device& device) {
  ObjectiveLoss out;
  const int64_t L = in.hist_item.size(1);
  auto nonpad = in.hist_pad.logical_not();
  auto mask = (torch::rand(in.hist_item.sizes(), torch::TensorOptions().device(device)) < mask_prob) & nonpad;
  auto force = nonpad.any(1) & mask.any(1).logical_not();
  mask.select(1, L - 1).logical_or_(force);
  const int64_t mask_token = model.embed->mask_token;
  auto items = in.hist_item.masked_fill(mask, mask_token);
  auto h = model.Cloze(model.EncodeHistories(in, items).index({mask}));  // [M, D]
  auto target = in.hist_item.index({mask});                               // [M]
  out.count = static_cast<double>(target.numel());
  out.ids = {in.hist_item.flatten(), torch::full({1}, mask_token, in.hist_item.options())};
  out.total = target.numel() > 0 ? ItemSoftmaxLoss(model, h, target, popularity_q, num_sampled, &out.ids)
                                 : (h.sum() * 0.0);
  out.ctr = out.total.detach();
  out.ctcvr = torch::zeros({}, out.total.options());
  return out;
}

}  // namespace recprism::model
