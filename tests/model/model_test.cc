#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/status.h"
#include "model/checkpoint.h"
#include "model/recommender.h"
#include "model/batch_util.h"

namespace recprism {
namespace {

using testing::RandomBatch;
using testing::SmallShape;

ModelOptions Small(const std::string& interaction = "encode_once", const std::string& heads = "esmm") {
  ModelOptions o;
  o.d_model = 16;
  o.num_heads = 2;
  o.num_layers = 2;
  o.dropout = 0.0;
  o.tower_hidden = 8;
  o.interaction = EnumOf<Interaction>(interaction);
  o.heads = EnumOf<Heads>(heads);
  return o;
}

TEST(ModelInput, SamplesSharingAHistoryShareOneRow) {
  auto s = SmallShape();
  auto b = RandomBatch(s, 5, 3, 1);
  auto in = model::MakeModelInput(b, 32);
  EXPECT_EQ(in.size, 20);
  EXPECT_EQ(in.histories, 5);
  EXPECT_EQ(in.hist_item.sizes(), (std::vector<int64_t>{5, s.max_seq_len}));
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(in.group[i].item<int64_t>(), i / 4);
  auto flat = model::MakeModelInput(b, 32, /*dedupe_histories=*/false);
  EXPECT_EQ(flat.histories, 20);
}

TEST(ModelInput, GapBucketsAreLog2) {
  EXPECT_EQ(model::GapBucket(0, 32), 0);
  EXPECT_EQ(model::GapBucket(1, 32), 1);
  EXPECT_EQ(model::GapBucket(2, 32), 1);
  EXPECT_EQ(model::GapBucket(3, 32), 2);
  EXPECT_EQ(model::GapBucket(86400, 32), 16);
  EXPECT_EQ(model::GapBucket(int64_t{1} << 40, 32), 31);
}

class EveryVariant : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(EveryVariant, ShapesAndEsmmIdentity) {
  auto [interaction, heads] = GetParam();
  torch::manual_seed(0);
  auto s = SmallShape();
  model::Recommender m(Small(interaction, heads), s);
  auto in = model::MakeModelInput(RandomBatch(s, 6, 2, 2), 32);
  auto l = m->forward(in);
  ASSERT_EQ(l.ctr.sizes(), (std::vector<int64_t>{18}));
  ASSERT_EQ(l.cvr.sizes(), (std::vector<int64_t>{18}));
  EXPECT_TRUE(torch::isfinite(l.ctr).all().item<bool>());
  // pCTCVR is the product of pCTR and pCVR.
  auto p = model::LogCtcvr(l).first.exp();
  EXPECT_TRUE(torch::allclose(p, torch::sigmoid(l.ctr) * torch::sigmoid(l.cvr), 1e-6, 1e-7));
  // Whole-catalogue scores: one row per distinct history, one column per item.
  auto u = m->UserVectors(in);
  EXPECT_EQ(m->ScoreItems(u).sizes(), (std::vector<int64_t>{in.histories, s.num_items}));
  auto cost = model::EstimateCost(m, 1.0 / 3);
  EXPECT_GT(cost.parameters, 1000);
  EXPECT_GT(cost.forward_flops_per_sample, 0);
  EXPECT_DOUBLE_EQ(cost.train_flops_per_sample, 3 * cost.forward_flops_per_sample);
}

INSTANTIATE_TEST_SUITE_P(Model, EveryVariant,
                         ::testing::Combine(::testing::Values("encode_once", "bst"),
                                            ::testing::Values("esmm", "mmoe", "shared_bottom")));

TEST(Model, PaddingNeverChangesAnyOutput) {
  for (const char* interaction : {"encode_once", "bst"}) {
    for (bool causal : {false, true}) {
      torch::manual_seed(3);
      auto s = SmallShape();
      auto o = Small(interaction);
      o.causal = causal;
      model::Recommender m(o, s);
      auto b = RandomBatch(s, 8, 1, 4);
      auto base = m->forward(model::MakeModelInput(b, 32));
      // Whatever sits in the padding slots (categories, events, gaps) and in row 0 of every table
      // must not matter.
      for (size_t k = 0; k < b.hist_item.size(); ++k) {
        if (b.hist_item[k] == 0) {
          b.hist_category[k] = 3;
          b.hist_event[k] = 4;
          b.hist_gap[k] = 12345;
        }
      }
      {
        torch::NoGradGuard g;
        m->embed->item->weight[0].fill_(7.0);
        m->embed->category->weight[0].fill_(-3.0);
      }
      auto moved = m->forward(model::MakeModelInput(b, 32));
      // Row 0 of the item and category tables is the padding row; targets never use it, but the
      // target category may be 0 (an item without category), so compare where it is not.
      auto keep = torch::tensor(b.target_category) != 0;
      EXPECT_TRUE(torch::allclose(base.ctr.masked_select(keep), moved.ctr.masked_select(keep), 1e-5, 1e-6))
          << interaction << " causal " << causal;
      EXPECT_TRUE(torch::allclose(base.cvr.masked_select(keep), moved.cvr.masked_select(keep), 1e-5, 1e-6));
    }
  }
}

TEST(Model, EncodeOnceGivesTheSameScoresWithOrWithoutDeduplication) {
  torch::manual_seed(5);
  auto s = SmallShape();
  model::Recommender m(Small("encode_once"), s);
  auto b = RandomBatch(s, 7, 4, 6);
  auto a = m->forward(model::MakeModelInput(b, 32, true));
  auto c = m->forward(model::MakeModelInput(b, 32, false));
  EXPECT_TRUE(torch::allclose(a.ctr, c.ctr, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a.cvr, c.cvr, 1e-5, 1e-6));
}

TEST(Model, CvrIsTrainedOnEveryImpressionNotOnClicksAlone) {
  torch::manual_seed(7);
  auto s = SmallShape();
  model::Recommender m(Small(), s);
  auto in = model::MakeModelInput(RandomBatch(s, 10, 3, 8), 32);
  auto l = m->forward(in);
  auto cvr = l.cvr.detach().requires_grad_(true);
  auto loss = model::TaskLoss({l.ctr, cvr}, in.click, in.conversion, m->options());
  loss.total.backward();
  // Non-clicked impressions push pCVR through the CTCVR loss: their gradient is not zero.
  auto unclicked = in.click == 0;
  ASSERT_GT(unclicked.sum().item<int64_t>(), 0);
  EXPECT_GT(cvr.grad().masked_select(unclicked).abs().min().item<float>(), 0.f);
  // The loss is exactly BCE(pCTR, click) + BCE(pCTR x pCVR, conversion), summed.
  auto p = torch::sigmoid(l.ctr) * torch::sigmoid(l.cvr);
  auto expect = torch::binary_cross_entropy(torch::sigmoid(l.ctr), in.click, {}, at::Reduction::Sum) +
                torch::binary_cross_entropy(p, in.conversion, {}, at::Reduction::Sum);
  EXPECT_NEAR(loss.total.item<double>(), expect.item<double>(), 1e-3);
}

TEST(Model, NamesGroupParametersForDecayAndFineTuning) {
  EXPECT_TRUE(model::IsEncoderParameter("embed.item.weight"));
  EXPECT_TRUE(model::IsEncoderParameter("encoder.layers.0.qkv.weight"));
  EXPECT_FALSE(model::IsEncoderParameter("heads.ctr_tower.0.weight"));
  EXPECT_TRUE(model::IsNoDecayParameter("embed.item.weight"));
  EXPECT_TRUE(model::IsNoDecayParameter("encoder.layers.0.ln1.weight"));
  EXPECT_TRUE(model::IsNoDecayParameter("heads.ctr_tower.0.bias"));
  EXPECT_FALSE(model::IsNoDecayParameter("encoder.layers.0.qkv.weight"));
}

std::string TempFile(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("recprism_model_" + std::to_string(::getpid()) + "_" + name)).string();
}

TEST(Checkpoint, RoundTripsTensorsNumbersAndModelOptions) {
  torch::manual_seed(9);
  auto s = SmallShape();
  auto o = Small("bst", "mmoe");
  model::Recommender a(o, s);
  model::Checkpoint c;
  model::AddModelState(*a, &c);
  model::AddModelOptions(o, &c);
  c.numbers["step"] = 12;
  c.strings["kind"] = "train";
  const auto path = TempFile("rt.pt");
  model::SaveCheckpoint(path, c);
  auto back = model::LoadCheckpoint(path);
  EXPECT_EQ(back.numbers["step"], 12);
  EXPECT_EQ(back.strings["kind"], "train");
  auto o2 = model::ModelOptionsFrom(back, ModelOptions{});
  EXPECT_EQ(o2.interaction, Interaction::kBst);
  EXPECT_EQ(o2.heads, Heads::kMmoe);
  EXPECT_EQ(o2.d_model, 16);
  torch::manual_seed(10);
  model::Recommender b(o2, s);
  model::LoadModelState(*b, back, path, true);
  auto in = model::MakeModelInput(RandomBatch(s, 3, 1, 11), 32);
  EXPECT_TRUE(torch::equal(a->forward(in).ctr, b->forward(in).ctr));
  std::filesystem::remove(path);
}

TEST(Checkpoint, MismatchNamesTheTensorAndBothShapes) {
  auto s = SmallShape();
  model::Recommender a(Small(), s);
  model::Checkpoint c;
  model::AddModelState(*a, &c);
  auto o = Small();
  o.d_model = 32;
  model::Recommender b(o, s);
  try {
    model::LoadModelState(*b, c, "ckpt.pt", false);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ckpt.pt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[16]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[32]"), std::string::npos) << msg;
  }
  // A pretraining checkpoint without heads loads non-strictly, but not strictly.
  model::Checkpoint enc;
  for (auto& [k, t] : c.tensors) if (model::IsEncoderParameter(k.substr(6))) enc.tensors[k] = t;
  model::Recommender d(Small(), s);
  EXPECT_GT(model::LoadModelState(*d, enc, "enc.pt", false), 0);
  EXPECT_THROW(model::LoadModelState(*d, enc, "enc.pt", true), Error);
}

// Four bytes flipped anywhere in the file: the load fails naming the file (and, inside tensor data,
// the tensor), or, where the bytes did not matter to the archive (zip padding), every value is
// still exact. Never different values without a word.
TEST(Checkpoint, FlippedBytesAreCaughtNamingTheFileAndTheTensor) {
  const auto path = TempFile("flip.pt");
  model::Checkpoint c;
  c.tensors["model.table"] = torch::arange(0, 60000, torch::kFloat32);
  c.tensors["optim.step"] = torch::ones({3}, torch::kInt64);
  c.numbers["step"] = 7;
  c.strings["kind"] = "train";
  model::SaveCheckpoint(path, c);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  int named_tensor = 0, caught = 0, harmless = 0;
  for (size_t at = 64; at + 4 < bytes.size(); at += bytes.size() / 97) {
    std::string bad = bytes;
    for (size_t k = 0; k < 4; ++k) bad[at + k] = static_cast<char>(~bad[at + k]);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    try {
      const auto back = model::LoadCheckpoint(path);
      EXPECT_TRUE(torch::equal(back.tensors.at("model.table"), c.tensors.at("model.table"))) << "offset " << at;
      EXPECT_EQ(back.numbers.at("step"), 7) << "offset " << at;
      ++harmless;
    } catch (const Error& e) {
      ++caught;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      if (std::string(e.what()).find("tensor 'model.table' fails its checksum") != std::string::npos) {
        EXPECT_EQ(e.code(), StatusCode::kDataError);
        ++named_tensor;
      }
    }
  }
  EXPECT_GT(named_tensor, 50) << caught << " caught, " << harmless << " harmless";
}

TEST(Checkpoint, ATruncatedFileIsAClearError) {
  const auto path = TempFile("trunc.pt");
  model::Checkpoint c;
  c.tensors["x"] = torch::ones({100});
  model::SaveCheckpoint(path, c);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  try {
    model::LoadCheckpoint(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  std::filesystem::remove(path);
  EXPECT_THROW(model::LoadCheckpoint(path), Error);
}

}  // namespace
}  // namespace recprism
