#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "comm/inproc/inproc_comm.h"
#include "comm/local/local_comm.h"
#include "data/prepare.h"
#include "data/prepared_file.h"
#include "model/batch_util.h"
#include "model/recommender.h"
#include "train/grad_sync.h"
#include "train/optimizer.h"
#include "train/tensorboard_event.h"
#include "train/trainer.h"

namespace recprism {
namespace {

namespace fs = std::filesystem;

// A small synthetic prepared file shared by the tests of this binary.
const std::string& SyntheticFile() {
  static const std::string path = [] {
    fs::path dir = fs::temp_directory_path() / ("recprism_train_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    DataOptions o;
    o.dataset = "synthetic";
    o.synthetic.rows = 20000;
    o.synthetic.items = 300;
    o.cache_dir = dir.string();
    const std::string out = (dir / "synthetic.h5").string();
    data::Prepare(o, out, 7);
    return out;
  }();
  return path;
}

train::TrainJob SmallJob(const std::string& tag) {
  train::TrainJob j;
  j.prepared_path = SyntheticFile();
  j.run_dir = (fs::temp_directory_path() / ("recprism_train_test_" + std::to_string(::getpid())) / tag).string();
  j.data.max_seq_len = 8;
  j.model.d_model = 16;
  j.model.num_heads = 2;
  j.model.num_layers = 1;
  j.model.tower_hidden = 8;
  j.model.dropout = 0.0;
  j.train.batch_size = 64;
  j.train.lr = 1e-2;
  j.train.device = "cpu";
  j.train.grad_clip = 0;
  return j;
}

model::DatasetShape FileShape() {
  data::PreparedReader r(SyntheticFile(), false);
  return model::ShapeOf(r, 8);
}

CommOptions InProc() {
  CommOptions o;
  o.timeout_s = 60;
  return o;
}

TEST(Trainer, OneRankEqualsTwoRanksOverTheSameGlobalBatches) {
  const auto shape = FileShape();
  // Global batches of 30 samples; the second rank's half is empty in step 2 (a shard that ran out)
  // and short in step 3.
  std::vector<data::Batch> global;
  for (int k = 0; k < 4; ++k) global.push_back(testing::RandomBatch(shape, 6, 4, 100 + k));
  const std::vector<int64_t> cut = {15, 30, 25, 10};
  // Adam normalises each coordinate's step, so a gradient of 1e-9 and one of 1e-7 (summation-order
  // noise) would both move a parameter by about lr; a large epsilon keeps the update proportional
  // to the gradient where it is tiny, so the comparison tests the gradients' scaling.
  auto job = [](const std::string& tag) {
    auto j = SmallJob(tag);
    j.train.eps = 1e-3;
    return j;
  };
  std::vector<float> one;
  {
    auto comm = CreateLocalCommunicator(CommOptions{});
    train::Trainer t(*comm, job("one"));
    t.set_total_steps(4);
    for (const auto& b : global) t.Step(b);
    one = t.Parameters();
  }
  std::vector<std::vector<float>> two(2);
  RunInProc(2, InProc(), [&](Communicator& comm) {
    train::Trainer t(comm, job("two"));
    t.set_total_steps(4);
    for (size_t k = 0; k < global.size(); ++k) {
      const auto& b = global[k];
      t.Step(comm.Rank() == 0 ? testing::SliceBatch(b, 0, cut[k]) : testing::SliceBatch(b, cut[k], b.size));
    }
    two[comm.Rank()] = t.Parameters();
  });
  ASSERT_EQ(one.size(), two[0].size());
  EXPECT_EQ(two[0], two[1]) << "replicas differ";
  double max_diff = 0;
  for (size_t i = 0; i < one.size(); ++i) max_diff = std::max(max_diff, static_cast<double>(std::abs(one[i] - two[0][i])));
  EXPECT_LT(max_diff, 2e-5);
}

TEST(Trainer, ReplicasStayIdenticalAtTwoAndThreeRanks) {
  const auto shape = FileShape();
  for (int world : {2, 3}) {
    std::vector<std::vector<float>> params(world);
    RunInProc(world, InProc(), [&](Communicator& comm) {
      auto job = SmallJob("replicas" + std::to_string(world));
      job.model.dropout = 0.2;  // rank-dependent dropout masks; the update is still shared
      job.train.check_replicas_every = 1;
      train::Trainer t(comm, job);
      t.set_total_steps(5);
      for (int k = 0; k < 5; ++k) t.Step(testing::RandomBatch(shape, 3 + comm.Rank(), 2, 1000 * comm.Rank() + k));
      params[comm.Rank()] = t.Parameters();
    });
    for (int r = 1; r < world; ++r) EXPECT_EQ(params[0], params[r]) << "world " << world << " rank " << r;
  }
}

TEST(Trainer, ANonFiniteLossStopsTheStepAndNamesIt) {
  const auto shape = FileShape();
  auto comm = CreateLocalCommunicator(CommOptions{});
  train::Trainer t(*comm, SmallJob("nan"));
  t.Step(testing::RandomBatch(shape, 4, 1, 1));
  const auto before = t.Parameters();
  ::setenv("RECPRISM_FAULT_NAN_AT_STEP", "2", 1);
  try {
    t.Step(testing::RandomBatch(shape, 4, 1, 2));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kDataError);
    EXPECT_NE(std::string(e.what()).find("step 2"), std::string::npos) << e.what();
  }
  ::unsetenv("RECPRISM_FAULT_NAN_AT_STEP");
  EXPECT_EQ(before, t.Parameters()) << "the failed step changed the parameters";
}

TEST(Trainer, ValidationByTheEvaluatorAndBySumsAgree) {
  auto comm = CreateLocalCommunicator(CommOptions{});
  auto job = SmallJob("valid");
  train::Trainer a(*comm, job);  // the same seed: the same initial model
  job.train.validation = ValidationMode::kSums;
  train::Trainer b(*comm, job);
  const auto va = a.Validate(), vb = b.Validate();
  ASSERT_GT(va.samples, 100);
  EXPECT_EQ(va.samples, vb.samples);
  EXPECT_NEAR(va.ctr_auc, vb.ctr_auc, vb.auc_error_bound + 1e-12);
  EXPECT_NEAR(va.ctr_logloss, vb.ctr_logloss, 1e-9);
  EXPECT_NEAR(va.ctcvr_logloss, vb.ctcvr_logloss, 1e-9);
  EXPECT_TRUE(std::isfinite(va.ctr_gauc));
  EXPECT_FALSE(std::isfinite(vb.ctr_gauc));
}

TEST(FlatAdam, MatchesTorchAdamW) {
  torch::manual_seed(1);
  torch::nn::Linear a(5, 3), b(5, 3);
  {
    torch::NoGradGuard g;
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  TrainOptions o;
  o.weight_decay = 0.1;
  train::FlatParameters flat(*a, [](const std::string&) { return 1.0; }, [](const std::string&) { return true; });
  train::FlatAdam adam(flat, o);
  torch::optim::AdamW ref(b->parameters(), torch::optim::AdamWOptions(0.01).weight_decay(0.1));
  for (int k = 0; k < 5; ++k) {
    auto x = torch::randn({7, 5});
    flat.ZeroGrad();
    a->forward(x).pow(2).sum().backward();
    adam.Step(0.01);
    ref.zero_grad();
    b->forward(x).pow(2).sum().backward();
    ref.step();
  }
  EXPECT_TRUE(torch::allclose(a->weight, b->weight, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a->bias, b->bias, 1e-5, 1e-6));
}

TEST(Schedule, WarmupThenCosineOrLinear) {
  TrainOptions o;
  o.warmup_steps = 10;
  o.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(train::ScheduledLr(o, 1.0, 0, 110), 0.1);
  EXPECT_DOUBLE_EQ(train::ScheduledLr(o, 1.0, 9, 110), 1.0);
  EXPECT_DOUBLE_EQ(train::ScheduledLr(o, 1.0, 10, 110), 1.0);
  EXPECT_NEAR(train::ScheduledLr(o, 1.0, 60, 110), 0.55, 1e-12);
  EXPECT_NEAR(train::ScheduledLr(o, 1.0, 110, 110), 0.1, 1e-12);
  o.schedule = "linear";
  EXPECT_NEAR(train::ScheduledLr(o, 1.0, 35, 110), 0.775, 1e-12);
  o.schedule = "constant";
  EXPECT_DOUBLE_EQ(train::ScheduledLr(o, 1.0, 100, 110), 1.0);
}

TEST(GradientSync, RowExchangeEqualsDenseAllReduce) {
  const int world = 3;
  std::vector<std::vector<torch::Tensor>> results(2, std::vector<torch::Tensor>(world));
  for (int mode = 0; mode < 2; ++mode) {
    RunInProc(world, InProc(), [&](Communicator& comm) {
      torch::nn::Sequential net;
      net->push_back(torch::nn::Embedding(50, 4));
      net->push_back(torch::nn::Linear(4, 2));
      train::FlatParameters flat(*net, [](const std::string&) { return 1.0; }, [](const std::string&) { return true; });
      // Gradient: a few rows of the table per rank, plus the dense layer.
      const int r = comm.Rank();
      std::vector<int64_t> rows = {1 + r, 7, 20 + 2 * r};
      auto touched = torch::tensor(rows, torch::kLong);
      auto table = flat.grads().narrow(0, 0, 200).view({50, 4});
      for (auto row : rows) table[row].fill_(0.5 * (r + 1) + row);
      flat.grads().narrow(0, 200, 10).fill_(r + 1.0);
      train::GradientSync sync(comm, flat, "0.weight", mode == 0 ? "dense" : "sparse", 1);
      auto stats = sync.Synchronize(4.0, touched, 3 * world);
      EXPECT_EQ(stats.sparse, mode == 1);
      results[mode][r] = flat.grads().clone();
    });
  }
  for (int r = 0; r < world; ++r) EXPECT_TRUE(torch::allclose(results[0][r], results[1][r], 1e-6, 1e-7)) << r;
  // Divided by the global sample count: the dense layer's gradient is (1 + 2 + 3) / 4.
  EXPECT_FLOAT_EQ(results[0][0][205].item<float>(), 1.5f);
}

TEST(TensorBoard, Crc32cOfTheCheckString) {
  EXPECT_EQ(train::Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(train::Crc32c(""), 0u);
}

}  // namespace
}  // namespace recprism
