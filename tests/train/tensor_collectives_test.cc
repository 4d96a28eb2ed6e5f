#include <gtest/gtest.h>
#include <torch/torch.h>

#include <mutex>

#include "comm/inproc/inproc_comm.h"
#include "train/tensor_collectives.h"

namespace recprism {
namespace {

TEST(TensorCollectives, AllReduceTensorSumsAcrossRanks) {
  const int world = 3;
  std::mutex mu;
  CommOptions options;
  options.timeout_s = 30;
  RunInProc(world, options, [&](Communicator& comm) {
    at::Tensor t = torch::full({4, 3}, static_cast<float>(comm.Rank() + 1));
    AllReduceTensor(comm, t, ReduceOp::kSum);
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(torch::equal(t, torch::full({4, 3}, 6.0f)));
    at::Tensor strided = torch::zeros({4, 3}).t();
    EXPECT_THROW(AllReduceTensor(comm, strided, ReduceOp::kSum), Error);
  });
}

TEST(TensorCollectives, UnsupportedDtypeIsAClearError) {
  at::Tensor half = torch::zeros({3}, torch::kHalf);
  EXPECT_THROW(CommDType(half), Error);
  EXPECT_EQ(CommDType(torch::zeros({1}, torch::kLong)), DType::kInt64);
}

}  // namespace
}  // namespace recprism
