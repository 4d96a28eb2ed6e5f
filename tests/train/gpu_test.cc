// The CUDA paths of the model and the trainer (label gpu: CI skips it; run it on a GPU build of
// LibTorch with `ctest -L gpu`). Skips, saying why, where LibTorch sees no CUDA device.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>

#include "comm/local/local_comm.h"
#include "data/prepare.h"
#include "data/prepared_file.h"
#include "model/batch_util.h"
#include "model/recommender.h"
#include "train/trainer.h"

namespace recprism {
namespace {

namespace fs = std::filesystem;

TEST(Gpu, TrainsOnCudaWithBf16AndMatchesTheCpuForward) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "LibTorch sees no CUDA device (Debian's LibTorch is CPU-only)";
  fs::path dir = fs::temp_directory_path() / ("recprism_gpu_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  DataOptions o;
  o.dataset = "synthetic";
  o.synthetic.rows = 20000;
  o.cache_dir = dir.string();
  const std::string file = (dir / "s.h5").string();
  data::Prepare(o, file, 7);
  train::TrainJob j;
  j.prepared_path = file;
  j.run_dir = (dir / "run").string();
  j.data.max_seq_len = 16;
  j.model.d_model = 32;
  j.model.dropout = 0;
  j.train.device = "cuda";
  j.train.bf16 = true;
  j.train.batch_size = 128;
  auto comm = CreateLocalCommunicator(CommOptions{});
  train::Trainer t(*comm, j);
  data::PreparedReader r(file, false);
  const auto shape = model::ShapeOf(r, 16);
  for (int k = 0; k < 5; ++k) {
    auto res = t.Step(testing::RandomBatch(shape, 20, 4, k));
    EXPECT_TRUE(std::isfinite(res.loss));
  }
  // The trained CUDA model and a CPU copy agree in fp32.
  auto& m = t.model();
  auto in = model::MakeModelInput(testing::RandomBatch(shape, 8, 2, 99), j.model.time_gap_buckets);
  m.eval();
  auto gpu = m.forward(in.To(torch::Device(torch::kCUDA, 0))).ctr.to(torch::kCPU);
  m.to(torch::kCPU);
  auto cpu = m.forward(in).ctr;
  EXPECT_TRUE(torch::allclose(gpu, cpu, 1e-3, 1e-4));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace recprism
