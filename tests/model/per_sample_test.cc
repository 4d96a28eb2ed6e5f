// Per-sample gradient norms (model/per_sample.h) against the definition: a loop of one-sample
// backward passes, parameter by parameter, for every model variant and both objectives; and
// DP-SGD's clipped gradient (the second backward pass) against the loop's sum of clipped gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "model/batch_util.h"
#include "model/per_sample.h"
#include "model/recommender.h"

namespace recprism {
namespace {

using testing::RandomBatch;
using testing::SmallShape;

ModelOptions Small(const std::string& interaction, const std::string& heads, bool causal) {
  ModelOptions o;
  o.d_model = 16;
  o.num_heads = 2;
  o.num_layers = 2;
  o.dropout = 0.0;  // the loop re-runs the forward pass: it must be the same one
  o.tower_hidden = 8;
  o.interaction = EnumOf<Interaction>(interaction);
  o.heads = EnumOf<Heads>(heads);
  o.causal = causal;
  return o;
}

// Sample i of an input whose histories are not shared (group = arange).
model::ModelInput Row(const model::ModelInput& in, int64_t i) {
  auto idx = torch::tensor({i}, torch::kLong);
  model::ModelInput r;
  r.size = 1;
  r.histories = 1;
  r.group = torch::zeros({1}, torch::kLong);
  for (auto [dst, src] : std::vector<std::pair<torch::Tensor*, const torch::Tensor*>>{
           {&r.hist_item, &in.hist_item}, {&r.hist_category, &in.hist_category}, {&r.hist_event, &in.hist_event},
           {&r.hist_gap_bucket, &in.hist_gap_bucket}, {&r.hist_pad, &in.hist_pad}, {&r.target_item, &in.target_item},
           {&r.target_category, &in.target_category}, {&r.user_features, &in.user_features},
           {&r.cat_features, &in.cat_features}, {&r.num_features, &in.num_features}, {&r.click, &in.click},
           {&r.conversion, &in.conversion}}) {
    *dst = src->index_select(0, idx);
  }
  return r;
}

// Each sample's loss [B]: the task heads' weighted loss, or the next-item full softmax summed
// over the sample's predicting positions.
torch::Tensor PerSampleLoss(model::RecommenderImpl& m, const model::ModelInput& in, bool next_item) {
  if (!next_item) return model::TaskLoss(m.forward(in), in.click, in.conversion, m.options()).per_sample;
  auto next = model::NextItemTargets(m, in);
  auto ce = torch::cross_entropy_loss(m.ScoreItems(next.h, {}, next.sample), next.target - 1, {}, at::Reduction::None);
  return torch::zeros({in.size}, ce.options()).index_add(0, next.sample, ce);
}

struct Case {
  std::string interaction, heads;
  bool next_item;
};

class PerSampleNorms : public ::testing::TestWithParam<Case> {};

TEST_P(PerSampleNorms, MatchOneSampleBackwardPassesAndClipTheSum) {
  const auto c = GetParam();
  torch::manual_seed(3);
  auto shape = SmallShape(6);
  model::Recommender m(Small(c.interaction, c.heads, c.next_item), shape);
  m->train();
  auto in = model::MakeModelInput(RandomBatch(shape, 5, 2, 11), 32, /*dedupe_histories=*/false);
  const int64_t B = in.size;
  ASSERT_EQ(in.histories, B);

  // The loop: one backward pass per sample, each parameter's gradient kept.
  std::map<std::string, std::vector<torch::Tensor>> loop;  // name -> per-sample gradients
  for (int64_t i = 0; i < B; ++i) {
    m->zero_grad();
    PerSampleLoss(*m, Row(in, i), c.next_item).sum().backward();
    for (const auto& p : m->named_parameters()) {
      loop[p.key()].push_back(p.value().grad().defined() ? p.value().grad().clone() : torch::zeros_like(p.value()));
    }
  }

  // The batched pass.
  m->zero_grad();
  model::PerSampleNorms norms(*m, B);
  torch::Tensor losses;
  {
    model::PerSampleNorms::Scope recording(&norms);
    losses = PerSampleLoss(*m, in, c.next_item);
  }
  auto total = norms.Compute(losses.sum());

  std::vector<double> exact_total(B, 0.0);
  for (const auto& [name, grads] : loop) {
    const bool covered = norms.squared_norms().count(name) > 0;
    for (int64_t i = 0; i < B; ++i) {
      const double exact = grads[i].pow(2).sum().item<double>();
      exact_total[i] += exact;
      if (!covered) {
        EXPECT_EQ(exact, 0.0) << name << " has a gradient but no per-sample norm";
        continue;
      }
      const double got = norms.squared_norms().at(name)[i].item<double>();
      if (c.next_item && name == "embed.item.weight") {
        // Input embedding and tied output layer: the triangle-inequality bound.
        EXPECT_GE(got, exact * (1 - 1e-4) - 1e-9) << name << " sample " << i;
      } else {
        EXPECT_NEAR(got, exact, 1e-4 * exact + 1e-9) << name << " sample " << i;
      }
    }
  }
  for (int64_t i = 0; i < B; ++i) {
    const double got = total[i].item<double>(), exact = std::sqrt(exact_total[i]);
    if (c.next_item) {
      EXPECT_GE(got, exact * (1 - 1e-4)) << "sample " << i;
    } else {
      EXPECT_NEAR(got, exact, 1e-4 * exact + 1e-9) << "sample " << i;
    }
  }

  // DP-SGD's clipped sum: backward of sum_i min(1, C / ||g_i||) loss_i against the loop's
  // sum_i min(1, C / ||g_i||) g_i, with C at the median norm so some samples are clipped and some not.
  const double clip = total.median().item<double>();
  auto scale = (clip / (total + 1e-6)).clamp_max(1.0).to(torch::kFloat);
  (losses * scale).sum().backward();
  for (const auto& p : m->named_parameters()) {
    auto want = torch::zeros_like(p.value());
    for (int64_t i = 0; i < B; ++i) want += loop[p.key()][i] * scale[i];
    auto got = p.value().grad().defined() ? p.value().grad() : torch::zeros_like(p.value());
    EXPECT_TRUE(torch::allclose(got, want, 1e-4, 1e-6))
        << p.key() << ": largest difference " << (got - want).abs().max().item<double>();
  }
  // A clipped sample's contribution has norm at most C.
  EXPECT_TRUE(((total * scale.to(torch::kDouble)) <= clip * (1 + 1e-6)).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(Variants, PerSampleNorms,
                         ::testing::Values(Case{"encode_once", "esmm", false}, Case{"encode_once", "mmoe", false},
                                           Case{"bst", "shared_bottom", false}, Case{"bst", "esmm", false},
                                           Case{"encode_once", "esmm", true}),
                         [](const auto& info) {
                           return info.param.interaction + "_" + info.param.heads +
                                  (info.param.next_item ? "_next_item" : "");
                         });

TEST(PerSampleNorms, GhostAndMaterialisedLinearNormsAgree) {
  torch::manual_seed(5);
  auto shape = SmallShape(8);
  model::Recommender m(Small("encode_once", "esmm", false), shape);
  auto in = model::MakeModelInput(RandomBatch(shape, 4, 1, 7), 32, false);
  std::map<std::string, torch::Tensor> by_mode[2];
  int k = 0;
  for (const char* mode : {"ghost", "materialise"}) {
    model::PerSampleNorms norms(*m, in.size);
    norms.set_linear_mode(mode);
    torch::Tensor losses;
    {
      model::PerSampleNorms::Scope recording(&norms);
      losses = PerSampleLoss(*m, in, false);
    }
    norms.Compute(losses.sum());
    by_mode[k++] = norms.squared_norms();
  }
  ASSERT_EQ(by_mode[0].size(), by_mode[1].size());
  for (const auto& [name, sq] : by_mode[0]) {
    EXPECT_TRUE(torch::allclose(sq, by_mode[1].at(name), 1e-4, 1e-10)) << name;
  }
}

TEST(PerSampleNorms, RecordingChangesNoOutput) {
  torch::manual_seed(9);
  auto shape = SmallShape(6);
  model::Recommender m(Small("bst", "mmoe", false), shape);
  auto in = model::MakeModelInput(RandomBatch(shape, 3, 2, 4), 32, false);
  auto plain = m->forward(in).ctr;
  model::PerSampleNorms norms(*m, in.size);
  model::PerSampleNorms::Scope recording(&norms);
  EXPECT_TRUE(torch::equal(plain, m->forward(in).ctr));
}

}  // namespace
}  // namespace recprism
