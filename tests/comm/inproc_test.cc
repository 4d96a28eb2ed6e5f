#include <gtest/gtest.h>

#include <atomic>
#include <algorithm>
#include <chrono>
#include <thread>

#include "comm/factory.h"
#include "comm/inproc/inproc_comm.h"
#include "comm/local/local_comm.h"
#include "collective_checks.h"

namespace recprism {
namespace {

using Clock = std::chrono::steady_clock;

CommOptions Options(double timeout_s = 30) {
  CommOptions o;
  o.timeout_s = timeout_s;
  return o;
}

class InProcProperties : public ::testing::TestWithParam<int> {};

TEST_P(InProcProperties, AllReduceEqualsSerialReductionForRandomSizesDtypesAndOps) {
  RunInProc(GetParam(), Options(), [](Communicator& c) { testing::CheckAllReduceMatchesSerialReduction(c, 1234); });
}
TEST_P(InProcProperties, AllGatherVHandlesEmptyContributions) {
  RunInProc(GetParam(), Options(), [](Communicator& c) { testing::CheckAllGatherVWithEmptyContributions(c); });
}
TEST_P(InProcProperties, AllToAllVHandlesUnevenAndEmptyCounts) {
  RunInProc(GetParam(), Options(), [](Communicator& c) { testing::CheckAllToAllVWithUnevenAndEmptyCounts(c); });
}
TEST_P(InProcProperties, AllGatherIsInRankOrder) {
  RunInProc(GetParam(), Options(), [](Communicator& c) { testing::CheckAllGatherInRankOrder(c); });
}
TEST_P(InProcProperties, BroadcastFromEveryRoot) {
  RunInProc(GetParam(), Options(), [](Communicator& c) { testing::CheckBroadcastFromEveryRoot(c); });
}
TEST_P(InProcProperties, InvalidArgumentsAreRejected) {
  RunInProc(GetParam(), Options(), [](Communicator& c) { testing::CheckInvalidArgumentsAreRejected(c); });
}
INSTANTIATE_TEST_SUITE_P(WorldSizes, InProcProperties, ::testing::Values(1, 2, 3, 4, 5, 7));

TEST(InProc, FloatSumIsDeterministicAcrossRuns) {
  // Rank-order reduction: the same inputs give bit-identical float sums every time.
  std::vector<std::vector<float>> results(2);
  for (int run = 0; run < 2; ++run) {
    std::mutex mu;
    RunInProc(5, Options(), [&](Communicator& c) {
      std::vector<float> v(100);
      for (size_t i = 0; i < v.size(); ++i) v[i] = 1.0f / (1.0f + c.Rank() * 3.7f + i);
      AllReduce(c, v, ReduceOp::kSum);
      std::lock_guard<std::mutex> lock(mu);
      if (c.Rank() == 0) results[run] = v;
    });
  }
  EXPECT_EQ(results[0], results[1]);
}

TEST(InProc, StalledRankMakesPeersTimeOutNamingTheOperation) {
  const double timeout = 0.5;
  std::atomic<int> timeouts{0};
  std::atomic<double> slowest{0};
  try {
    RunInProc(3, Options(timeout), [&](Communicator& c) {
      int x = 1;
      c.AllReduce(&x, 1, DType::kInt32, ReduceOp::kSum);  // #1 completes
      if (c.Rank() == 1) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        return;  // never issues #2
      }
      auto t0 = Clock::now();
      try {
        c.AllReduce(&x, 1, DType::kInt32, ReduceOp::kSum);
      } catch (const Error& e) {
        double waited = std::chrono::duration<double>(Clock::now() - t0).count();
        double prev = slowest.load();
        while (waited > prev && !slowest.compare_exchange_weak(prev, waited)) {}
        if (e.code() == StatusCode::kTimeout) {
          ++timeouts;
          std::string m = e.what();
          EXPECT_NE(m.find("allreduce #2"), std::string::npos) << m;
          EXPECT_NE(m.find("4 bytes"), std::string::npos) << m;
          EXPECT_NE(m.find("rank " + std::to_string(c.Rank())), std::string::npos) << m;
        } else {
          EXPECT_EQ(e.code(), StatusCode::kAborted) << e.what();
        }
        throw;
      }
    });
    FAIL() << "RunInProc should rethrow the timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kTimeout) << e.what();
  }
  EXPECT_GE(timeouts.load(), 1);
  EXPECT_LT(slowest.load(), timeout + 5.0) << "peers must give up near comm.timeout_s, not hang";
}

TEST(InProc, ThrowingRankEndsEveryRankPromptly) {
  auto t0 = Clock::now();
  std::atomic<int> aborted{0};
  try {
    RunInProc(4, Options(/*timeout_s=*/60), [&](Communicator& c) {
      if (c.Rank() == 2) throw Error(StatusCode::kDataError, "bad row 17 on rank 2");
      try {
        c.Barrier();
      } catch (const Error& e) {
        if (e.code() == StatusCode::kAborted) ++aborted;
        throw;
      }
    });
    FAIL() << "expected the rank's error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kDataError);
    EXPECT_STREQ(e.what(), "bad row 17 on rank 2");
  }
  EXPECT_EQ(aborted.load(), 3);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 30.0)
      << "peers must not wait for the 60 s timeout";
}

TEST(InProc, MismatchedCollectivesAreReportedNotMisread) {
  try {
    RunInProc(2, Options(), [](Communicator& c) {
      int x = 0;
      if (c.Rank() == 0) c.AllReduce(&x, 1, DType::kInt32, ReduceOp::kSum);
      else c.Broadcast(&x, 1, DType::kInt32, 0);
    });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("collective mismatch"), std::string::npos) << e.what();
  }
}

TEST(InProc, AbortEndsPeersWithTheReason) {
  try {
    RunInProc(3, Options(), [](Communicator& c) {
      if (c.Rank() == 0) c.Abort(7, "operator asked to stop");
      c.Barrier();
    });
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kAborted);
    EXPECT_NE(std::string(e.what()).find("operator asked to stop"), std::string::npos) << e.what();
  }
}

TEST(Local, WorldOfOneCopiesAndChecks) {
  auto c = CreateLocalCommunicator(Options());
  EXPECT_EQ(c->WorldSize(), 1);
  EXPECT_EQ(c->Backend(), "local");
  testing::CheckAllReduceMatchesSerialReduction(*c, 9);
  testing::CheckAllGatherVWithEmptyContributions(*c);
  testing::CheckBroadcastFromEveryRoot(*c);
  testing::CheckInvalidArgumentsAreRejected(*c);
}

TEST(Factory, RejectsUnknownBackendListingTheBuiltOnes) {
  CommOptions o;
  o.backend = "gloo";
  try {
    CreateCommunicator(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("unknown comm.backend 'gloo'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("local, mpi"), std::string::npos);
  }
}

TEST(Factory, LocalBackendUnderAMultiProcessLaunchIsAnError) {
  ::setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  CommOptions o;
  o.backend = "local";
  try {
    CreateCommunicator(o);
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
    FAIL();
  } catch (const Error& e) {
    ::unsetenv("OMPI_COMM_WORLD_SIZE");
    EXPECT_EQ(e.code(), StatusCode::kInvalidConfig);
    EXPECT_NE(std::string(e.what()).find("set comm.backend: auto"), std::string::npos) << e.what();
  }
}

TEST(Factory, AutoBackendFollowsTheProcessCountAndTheDevice) {
  EXPECT_EQ(ResolveBackend("auto", 1, false).backend, "local");
  EXPECT_EQ(ResolveBackend("auto", 1, true).backend, "local");
  const BackendChoice cpu = ResolveBackend("auto", 4, false);
  EXPECT_EQ(cpu.backend, "mpi");
  EXPECT_NE(cpu.reason.find("4 processes on the CPU"), std::string::npos) << cpu.reason;
  const auto built = AvailableBackends();
  const bool nccl = std::find(built.begin(), built.end(), "nccl") != built.end();
  EXPECT_EQ(ResolveBackend("auto", 2, true).backend, nccl ? "nccl" : "mpi");
  // An explicit choice wins, whatever the launch.
  EXPECT_EQ(ResolveBackend("mpi", 1, false).backend, "mpi");
  EXPECT_EQ(ResolveBackend("nccl", 4, false).backend, "nccl");
  EXPECT_EQ(ResolveBackend("local", 4, true).reason, "set by comm.backend");
  CommOptions o;
  try {
    CreateCommunicator(o);  // "auto", never resolved
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kInternal);
  }
}

}  // namespace
}  // namespace recprism
