// The training objectives' losses (model/objectives.h), without a Trainer.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/batch_util.h"
#include "model/objectives.h"

namespace recprism {
namespace {

using testing::RandomBatch;
using testing::SmallShape;

ModelOptions Causal() {
  ModelOptions o;
  o.d_model = 16;
  o.num_heads = 2;
  o.num_layers = 1;
  o.dropout = 0.0;
  o.tower_hidden = 8;
  o.causal = true;
  return o;
}

TEST(Objectives, TaskHeadsLossIsTheTaskLossOfTheForwardAndTouchesHistoryAndTargets) {
  torch::manual_seed(1);
  auto s = SmallShape();
  model::Recommender m(Causal(), s);
  auto b = RandomBatch(s, 5, 2, 3);
  auto in = model::MakeModelInput(b, 32);
  const auto loss = model::TaskHeadsLoss(*m, in, Causal(), /*bf16=*/false);
  const auto want = model::TaskLoss(m->forward(in), in.click, in.conversion, Causal());
  EXPECT_NEAR(loss.total.item<double>(), want.total.item<double>(), 1e-6);
  EXPECT_EQ(loss.count, static_cast<double>(b.size));
  ASSERT_EQ(loss.ids.size(), 2u);
  EXPECT_TRUE(torch::equal(loss.ids[1], in.target_item));
}

TEST(Objectives, NextItemPerSampleLossesSumToTheFullSoftmaxTotal) {
  torch::manual_seed(2);
  auto s = SmallShape();
  model::Recommender m(Causal(), s);
  auto b = RandomBatch(s, 6, 0, 4);
  auto in = model::MakeModelInput(b, 32, /*dedupe_histories=*/false);
  const torch::Tensor full;  // undefined: the full catalogue softmax
  const auto pooled = model::NextItemLoss(*m, in, full, 0, /*per_sample=*/false, b.size);
  const auto per = model::NextItemLoss(*m, in, full, 0, /*per_sample=*/true, b.size);
  ASSERT_TRUE(per.per_sample.defined());
  EXPECT_EQ(per.per_sample.size(0), b.size);
  EXPECT_NEAR(per.total.item<double>(), pooled.total.item<double>(), 1e-4 * std::fabs(pooled.total.item<double>()));
  // Pooled: a mean over predicted positions (history positions + the sample's own item); per
  // sample (DP-SGD): over samples, a public count.
  EXPECT_GT(pooled.count, static_cast<double>(b.size));
  EXPECT_EQ(per.count, static_cast<double>(b.size));
  // The full softmax touches every item row.
  EXPECT_EQ(pooled.ids.back().numel(), s.num_items);
}

TEST(Objectives, SampledSoftmaxDrawsItsNegativesFromQAndTouchesOnlyThem) {
  torch::manual_seed(3);
  auto s = SmallShape();
  model::Recommender m(Causal(), s);
  auto in = model::MakeModelInput(RandomBatch(s, 6, 0, 5), 32, false);
  // Q puts nearly all its mass on items 7 and 9 (every item keeps a little, as the trainer's +1
  // smoothing does): the drawn negatives are almost all those two.
  auto q = torch::full({s.num_items}, 1e-4, torch::kDouble);
  q[6] = 1.0;
  q[8] = 1.0;
  q /= q.sum();
  const auto loss = model::NextItemLoss(*m, in, q, 16, false, 6);
  const auto neg = loss.ids.back();
  ASSERT_EQ(neg.numel(), 16);
  int64_t popular = 0;
  for (int64_t i = 0; i < neg.numel(); ++i) {
    const int64_t item = neg[i].item<int64_t>();
    EXPECT_TRUE(item >= 1 && item <= s.num_items) << item;
    popular += item == 7 || item == 9;
  }
  EXPECT_GE(popular, 12);
  EXPECT_TRUE(std::isfinite(loss.total.item<double>()));
}

TEST(Objectives, MaskedItemLossMasksAtLeastOnePositionOfEveryNonEmptyHistory) {
  torch::manual_seed(4);
  auto s = SmallShape();
  model::Recommender m(Causal(), s);
  auto b = RandomBatch(s, 8, 0, 6);
  auto in = model::MakeModelInput(b, 32, false);
  int64_t nonempty = 0, positions = 0;
  for (int64_t i = 0; i < b.size; ++i) {
    nonempty += b.hist_len[i] > 0;
    positions += b.hist_len[i];
  }
  // No masking asked for: exactly one forced mask per non-empty history.
  const auto none = model::MaskedItemLoss(*m, in, 0.0, {}, 0, torch::kCPU);
  EXPECT_EQ(none.count, static_cast<double>(nonempty));
  // Everything masked: every non-padding position is predicted.
  const auto all = model::MaskedItemLoss(*m, in, 1.0, {}, 0, torch::kCPU);
  EXPECT_EQ(all.count, static_cast<double>(positions));
  EXPECT_EQ(all.ids[1].item<int64_t>(), m->embed->mask_token);
}

}  // namespace
}  // namespace recprism
