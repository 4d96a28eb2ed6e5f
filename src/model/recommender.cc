#include "model/recommender.h"

#include <torch/torch.h>

#include <numeric>

#include "core/check.h"
#include "model/per_sample.h"

namespace recprism::model {

namespace {
torch::nn::Embedding Table(int64_t rows, int d, bool padding) {
  auto o = torch::nn::EmbeddingOptions(rows, d);
  if (padding) o.padding_idx(0);
  torch::nn::Embedding e(o);
  torch::NoGradGuard no_grad;
  e->weight.normal_(0, 0.02);
  if (padding) e->weight[0].zero_();
  return e;
}

torch::Tensor Offsets(const std::vector<int64_t>& cardinality) {
  std::vector<int64_t> off(cardinality.size());
  int64_t acc = 0;
  for (size_t i = 0; i < cardinality.size(); ++i) {
    off[i] = acc;
    acc += cardinality[i];
  }
  return torch::tensor(off, torch::kLong);
}
}  // namespace

EmbeddingsImpl::EmbeddingsImpl(const ModelOptions& o, const DatasetShape& s) : d_model(o.d_model) {
  RP_REQUIRE(s.num_items > 0, StatusCode::kDataError, "the dataset has no items");
  mask_token = s.num_items + 1;
  item = register_module("item", Table(s.num_items + 2, o.d_model, true));
  category = register_module("category", Table(std::max<int64_t>(s.num_categories, 1), o.d_model, true));
  event = register_module("event", Table(kNumEvents, o.d_model, false));
  position = register_module("position", Table(s.max_seq_len + 1, o.d_model, false));
  gap = register_module("gap", Table(o.time_gap_buckets, o.d_model, false));
  const int64_t users = std::accumulate(s.user_feature_cardinality.begin(), s.user_feature_cardinality.end(), int64_t{0});
  const int64_t rows = std::accumulate(s.cat_feature_cardinality.begin(), s.cat_feature_cardinality.end(), int64_t{0});
  if (users > 0) user_features = register_module("user_features", Table(users, o.d_model, false));
  if (rows > 0) row_features = register_module("row_features", Table(rows, o.d_model, false));
  if (s.num_numeric_features > 0) numeric = register_module("numeric", torch::nn::Linear(s.num_numeric_features, o.d_model));
  user_offsets = register_buffer("user_offsets", Offsets(s.user_feature_cardinality));
  row_offsets = register_buffer("row_offsets", Offsets(s.cat_feature_cardinality));
}

torch::Tensor EmbeddingsImpl::History(const ModelInput& in, const torch::Tensor& item_ids) {
  const int64_t len = in.hist_item.size(1);
  auto positions = torch::arange(len, in.hist_item.options());
  // Recording per-sample norms, every history looks its positions up itself (one copy per sample).
  auto pos = PerSampleNorms::Active() != nullptr
                 ? Apply(*position, positions.unsqueeze(0).expand({in.hist_item.size(0), len}))
                 : position(positions).unsqueeze(0);
  auto x = Apply(*item, item_ids.defined() ? item_ids : in.hist_item) + Apply(*category, in.hist_category) +
           Apply(*event, in.hist_event) + pos + Apply(*gap, in.hist_gap_bucket);
  return x.masked_fill(in.hist_pad.unsqueeze(-1), 0.0);
}

torch::Tensor EmbeddingsImpl::Target(const ModelInput& in) {
  return Apply(*item, in.target_item) + Apply(*category, in.target_category);
}

torch::Tensor EmbeddingsImpl::Context(const ModelInput& in) {
  auto c = torch::zeros({in.size, d_model}, torch::TensorOptions().device(in.target_item.device()));
  if (!user_features.is_empty() && in.user_features.size(1) > 0) {
    c = c + Apply(*user_features, in.user_features + user_offsets.unsqueeze(0)).sum(1);
  }
  if (!row_features.is_empty() && in.cat_features.size(1) > 0) {
    c = c + Apply(*row_features, in.cat_features + row_offsets.unsqueeze(0)).sum(1);
  }
  if (!numeric.is_empty() && in.num_features.size(1) > 0) c = c + Apply(*numeric, in.num_features);
  return c;
}

RecommenderImpl::RecommenderImpl(const ModelOptions& o, const DatasetShape& s) : options_(o), shape_(s) {
  RP_REQUIRE(o.num_heads > 0 && o.d_model % o.num_heads == 0, StatusCode::kInvalidConfig,
             "model.num_heads ({}) must divide model.d_model ({})", o.num_heads, o.d_model);
  embed = register_module("embed", Embeddings(o, s));
  encoder = register_module("encoder", Encoder(o));
  cloze_proj = register_module("cloze_proj", torch::nn::Linear(o.d_model, o.d_model));
  cloze_norm = register_module("cloze_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.d_model})));
  if (o.interaction == Interaction::kEncodeOnce) target = register_module("target", TargetAttention(o.d_model, o.num_heads, o.dropout));
  heads = register_module("heads", TaskHeads(o, 4 * o.d_model));
}

torch::Tensor RecommenderImpl::EncodeHistories(const ModelInput& in, const torch::Tensor& item) {
  return encoder(embed->History(in, item), in.hist_pad, options_.causal);
}

TaskLogits RecommenderImpl::forward(const ModelInput& in) {
  const int64_t len = in.hist_item.size(1);
  auto t = embed->Target(in);
  torch::Tensor a, u;
  if (options_.interaction == Interaction::kEncodeOnce) {
    auto h = EncodeHistories(in);                         // [G, L, D]: once per distinct history
    a = target(t, h, in.hist_pad, in.group);              // [B, D]
    u = h.select(1, len - 1).index_select(0, in.group);   // [B, D]
  } else {
    auto tokens = embed->History(in).index_select(0, in.group);  // [B, L, D]
    auto ids = torch::full({in.size}, kTargetEvent, in.target_item.options());
    auto tt = t + Apply(*embed->event, ids) + Apply(*embed->position, torch::full({in.size}, len, in.target_item.options())) +
              Apply(*embed->gap, torch::zeros_like(ids));
    auto seq = torch::cat({tokens, tt.unsqueeze(1)}, 1);
    auto pad = torch::cat({in.hist_pad.index_select(0, in.group), torch::zeros({in.size, 1}, in.hist_pad.options())}, 1);
    auto h = encoder(seq, pad, options_.causal);          // [B, L + 1, D]: once per sample
    a = h.select(1, len);
    u = h.select(1, len - 1);
  }
  return heads(torch::cat({t, a, u, embed->Context(in)}, 1));
}

torch::Tensor RecommenderImpl::Cloze(const torch::Tensor& encoded, const torch::Tensor& sample) {
  return Apply(*cloze_norm, torch::gelu(Apply(*cloze_proj, encoded, sample)), sample);
}

torch::Tensor RecommenderImpl::UserVectors(const ModelInput& in) {
  auto h = EncodeHistories(in);
  return Cloze(h.select(1, h.size(1) - 1));
}

torch::Tensor RecommenderImpl::ScoreItems(const torch::Tensor& h, const torch::Tensor& items, const torch::Tensor& sample) {
  if (!items.defined()) {
    auto logits = torch::matmul(h, embed->item->weight.narrow(0, 1, shape_.num_items).t());
    // The tied output layer: a Linear without bias over the table (its rows 1..N; the rest get no gradient).
    if (auto* norms = PerSampleNorms::Active()) norms->Linear(embed->item->weight, {}, h, logits, sample);
    return logits;
  }
  RP_REQUIRE(PerSampleNorms::Active() == nullptr, StatusCode::kInvalidConfig,
             "per-sample gradient norms cover the full softmax only (the sampled softmax shares its negatives across "
             "the batch); raise train.full_softmax_max_items above the catalogue size");
  auto w = embed->item(items);  // [K, D] or [N, K, D]
  if (w.dim() == 2) return torch::matmul(h, w.t());
  return torch::bmm(w, h.unsqueeze(-1)).squeeze(-1);
}

NextItemPositions NextItemTargets(RecommenderImpl& m, const ModelInput& in) {
  const int64_t L = in.hist_item.size(1);
  auto h = m.EncodeHistories(in).index_select(0, in.group);  // [B, L, D]
  auto hist = in.hist_item.index_select(0, in.group);        // [B, L]
  auto labels = torch::cat({hist.narrow(1, 1, L - 1), in.target_item.unsqueeze(1)}, 1);
  auto mask = in.hist_pad.index_select(0, in.group).logical_not();
  mask.select(1, L - 1).logical_and_(in.click > 0.5);
  auto sample = mask.nonzero().select(1, 0);  // row-major, as index({mask}) orders the positions
  return {m.Cloze(h.index({mask}), sample), labels.index({mask}), sample};
}

bool IsEncoderParameter(const std::string& name) {
  return name.rfind("embed.", 0) == 0 || name.rfind("encoder.", 0) == 0 || name.rfind("cloze_", 0) == 0;
}

bool IsNoDecayParameter(const std::string& name) {
  auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  return name.rfind("embed.", 0) == 0 || ends(".bias") || name.find("ln") != std::string::npos ||
         name.find("norm") != std::string::npos || ends("null_kv");
}

std::pair<torch::Tensor, torch::Tensor> LogCtcvr(const TaskLogits& l) {
  auto log_p = torch::clamp_max(torch::log_sigmoid(l.ctr) + torch::log_sigmoid(l.cvr), std::log1p(-1e-7));
  return {log_p, torch::log1p(-torch::exp(log_p))};
}

LossSums TaskLoss(const TaskLogits& l, const torch::Tensor& click, const torch::Tensor& conversion,
                  const ModelOptions& o) {
  LossSums s;
  s.ctr = torch::binary_cross_entropy_with_logits(l.ctr, click, {}, {}, at::Reduction::Sum);
  auto [log_p, log_q] = LogCtcvr(l);
  s.ctcvr = -(conversion * log_p + (1 - conversion) * log_q).sum();
  s.total = o.ctr_loss_weight * s.ctr + o.ctcvr_loss_weight * s.ctcvr;
  s.per_sample = o.ctr_loss_weight * torch::binary_cross_entropy_with_logits(l.ctr, click, {}, {}, at::Reduction::None) -
                 o.ctcvr_loss_weight * (conversion * log_p + (1 - conversion) * log_q);
  return s;
}

ModelCost EstimateCost(Recommender& model, double hps) {
  ModelCost c;
  for (const auto& p : model->parameters()) c.parameters += p.numel();
  const auto& o = model->options();
  const double d = o.d_model, L = model->shape().max_seq_len, f = o.ffn_multiplier * d, h = o.tower_hidden;
  auto layer = [&](double len) { return 2 * len * d * 3 * d + 2 * 2 * len * len * d + 2 * len * d * d + 2 * 2 * len * d * f; };
  double enc = 0;
  if (o.interaction == Interaction::kEncodeOnce) {
    enc = hps * (o.num_layers * layer(L) + 2 * L * d * 2 * d) + 2 * d * d + 2 * 2 * (L + 1) * d + 2 * d * d;
  } else {
    enc = o.num_layers * layer(L + 1);
  }
  const double in = 4 * d;
  double heads = 2 * (2 * in * h + 2 * h);
  if (o.heads == Heads::kSharedBottom) heads = 2 * in * h + 2 * (2 * h * h + 2 * h);
  if (o.heads == Heads::kMmoe) heads = o.num_experts * 2 * in * h + 2 * 2 * in * o.num_experts + 2 * (2 * h * h + 2 * h);
  c.forward_flops_per_sample = enc + heads;
  c.train_flops_per_sample = 3 * c.forward_flops_per_sample;
  return c;
}

}  // namespace recprism::model
