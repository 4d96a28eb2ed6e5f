#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mutex>

#include "comm/inproc/inproc_comm.h"
#include "train/tensor_collectives.h"

namespace recprism {
namespace {

TEST(TensorCollectives, BucketedMeanEqualsMeanOfRankGradients) {
  const int world = 3;
  // Rank r's "gradients": three tensors of mixed shapes plus an undefined one (frozen parameter).
  auto grads_of = [](int r) {
    torch::manual_seed(100 + r);
    return std::vector<at::Tensor>{torch::randn({4, 5}), at::Tensor(), torch::randn({7}), torch::randn({2, 3, 2})};
  };
  // Generated up front: torch's global generator must not be used from the rank threads.
  std::vector<std::vector<at::Tensor>> inputs;
  for (int r = 0; r < world; ++r) inputs.push_back(grads_of(r));
  std::vector<at::Tensor> expect;
  for (const auto& t : inputs[0]) expect.push_back(t.defined() ? t.clone() : t);
  for (int r = 1; r < world; ++r) {
    const auto& g = inputs[r];
    for (size_t i = 0; i < g.size(); ++i) if (g[i].defined()) expect[i] = expect[i] + g[i];
  }
  for (auto& t : expect) if (t.defined()) t = t / world;

  std::mutex mu;
  CommOptions options;
  options.timeout_s = 30;
  // A 64-byte bucket forces several buckets (the 4x5 tensor alone is 80 bytes).
  for (size_t bucket_bytes : {size_t{64}, size_t{1} << 20}) {
    RunInProc(world, options, [&](Communicator& comm) {
      std::vector<at::Tensor> g;
      for (const auto& t : inputs[comm.Rank()]) g.push_back(t.defined() ? t.clone() : t);
      AllReduceMeanBucketed(comm, g, bucket_bytes);
      std::lock_guard<std::mutex> lock(mu);
      for (size_t i = 0; i < g.size(); ++i) {
        ASSERT_EQ(g[i].defined(), expect[i].defined());
        if (g[i].defined()) {
          EXPECT_TRUE(torch::allclose(g[i], expect[i], 1e-6, 1e-6)) << "tensor " << i;
        }
      }
    });
  }
}

TEST(TensorCollectives, UnsupportedDtypeIsAClearError) {
  at::Tensor half = torch::zeros({3}, torch::kHalf);
  EXPECT_THROW(CommDType(half), Error);
  EXPECT_EQ(CommDType(torch::zeros({1}, torch::kLong)), DType::kInt64);
}

}  // namespace
}  // namespace recprism
