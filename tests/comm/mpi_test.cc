// Runs under mpiexec -n 2 and -n 3: the same properties as inproc_test.cc on real processes.
#include <gtest/gtest.h>

#include "collective_checks.h"
#include "comm/mpi/mpi_comm.h"
#include "support/mpi_test_main.h"

namespace recprism {
namespace {

using testing::World;

TEST(Mpi, AllReduceEqualsSerialReductionForRandomSizesDtypesAndOps) {
  testing::CheckAllReduceMatchesSerialReduction(World(), 4321);
}
TEST(Mpi, AllGatherVHandlesEmptyContributions) { testing::CheckAllGatherVWithEmptyContributions(World()); }
TEST(Mpi, AllToAllVHandlesUnevenAndEmptyCounts) { testing::CheckAllToAllVWithUnevenAndEmptyCounts(World()); }
TEST(Mpi, AllGatherIsInRankOrder) { testing::CheckAllGatherInRankOrder(World()); }
TEST(Mpi, BroadcastFromEveryRoot) { testing::CheckBroadcastFromEveryRoot(World()); }
TEST(Mpi, InvalidArgumentsAreRejected) { testing::CheckInvalidArgumentsAreRejected(World()); }

TEST(Mpi, LocalRanksCoverTheNode) {
  Communicator& c = World();
  EXPECT_EQ(c.Backend(), "mpi");
  EXPECT_GE(c.WorldSize(), 2);
  // One node in CI: local rank == rank, local size == world size.
  int32_t local = c.LocalRank();
  std::vector<int32_t> all(c.WorldSize());
  c.AllGather(&local, 1, all.data(), DType::kInt32);
  std::sort(all.begin(), all.end());
  for (int r = 0; r < c.WorldSize(); ++r) EXPECT_EQ(all[r], r);
  EXPECT_EQ(c.LocalSize(), c.WorldSize());
}

TEST(Mpi, LargeAllReduceIsExact) {
  Communicator& c = World();
  std::vector<int64_t> v(3'000'001, c.Rank() + 1);
  AllReduce(c, v, ReduceOp::kSum);
  const int64_t expect = int64_t{c.WorldSize()} * (c.WorldSize() + 1) / 2;
  EXPECT_TRUE(std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == expect; }));
}

}  // namespace
}  // namespace recprism
