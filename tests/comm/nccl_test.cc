// NCCL backend. Where no CUDA device is visible (CI), creation must fail with a clear error that
// names comm.backend: mpi; where one is (label gpu), the collective properties must hold.
#include <gtest/gtest.h>

#include "collective_checks.h"
#include "comm/factory.h"
#include "support/mpi_test_main.h"

namespace recprism {
namespace {

// nullptr when no device is visible; the creation error is stored in `why`.
std::unique_ptr<Communicator> TryNccl(std::string* why) {
  CommOptions o;
  o.backend = "nccl";
  o.timeout_s = 60;
  try {
    return CreateCommunicator(o);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), StatusCode::kUnavailable) << e.what();
    *why = e.what();
    return nullptr;
  }
}

TEST(NcclNoDevice, CreationFailsNamingTheMpiAlternative) {
  std::string why;
  auto comm = TryNccl(&why);
  if (comm) GTEST_SKIP() << "a CUDA device is visible; the gpu-labelled test covers this machine";
  EXPECT_NE(why.find("no CUDA device"), std::string::npos) << why;
  EXPECT_NE(why.find("comm.backend: mpi"), std::string::npos) << why;
}

TEST(NcclGpu, CollectivePropertiesHold) {
  std::string why;
  auto comm = TryNccl(&why);
  if (!comm) GTEST_SKIP() << "no CUDA device visible: " << why;
  EXPECT_EQ(comm->Backend(), "nccl");
  testing::CheckAllReduceMatchesSerialReduction(*comm, 77);
  testing::CheckAllGatherVWithEmptyContributions(*comm);
  testing::CheckAllGatherInRankOrder(*comm);
  testing::CheckAllToAllVWithUnevenAndEmptyCounts(*comm);
  testing::CheckBroadcastFromEveryRoot(*comm);
}

}  // namespace
}  // namespace recprism
