// The loader under real MPI processes (mpiexec -n 2 and -n 3): agreed steps, a partition of the
// samples across ranks, and an empty shard that neither hangs nor desynchronises collectives.
#include <gtest/gtest.h>

#include <set>

#include "comm/collectives.h"
#include "data/loader.h"
#include "data/prepared_file.h"
#include "data_test_util.h"
#include "support/mpi_test_main.h"

namespace recprism::data {
namespace {

using recprism::testing::World;
namespace fs = std::filesystem;

// Rank 0 prepares, everyone reads the same file.
std::string SharedFile(const std::string& name, DataOptions o) {
  Communicator& comm = World();
  std::string dir = (fs::temp_directory_path() / ("recprism_mpi_" + BroadcastString(comm, std::to_string(::getpid()), 0))).string();
  std::string path = dir + "/" + name + ".h5";
  if (comm.Rank() == 0) {
    fs::create_directories(dir);
    Prepare(o, path, 3);
  }
  comm.Barrier();
  return path;
}

void CheckPartition(const std::string& path, int batch_size) {
  Communicator& comm = World();
  LoaderOptions lo;
  lo.batch_size = batch_size;
  ShardLoader loader(path, comm, lo);
  const int64_t steps = loader.StartEpoch(0);
  int64_t n = 0;
  std::vector<int64_t> mine, users;
  Batch b;
  while (loader.Next(&b)) {
    ++n;
    int64_t sz = b.size;
    comm.AllReduce(&sz, 1, DType::kInt64, ReduceOp::kSum);  // one collective per step, as training
    mine.insert(mine.end(), b.row.begin(), b.row.end());
    users.insert(users.end(), b.user.begin(), b.user.end());
  }
  EXPECT_EQ(n, steps);
  EXPECT_EQ(AllReduceScalar<int64_t>(comm, steps, ReduceOp::kMin), AllReduceScalar<int64_t>(comm, steps, ReduceOp::kMax));
  std::vector<int64_t> all = AllGatherV(comm, mine);
  std::set<int64_t> distinct(all.begin(), all.end());
  EXPECT_EQ(distinct.size(), all.size()) << "a sample on two ranks";
  PreparedReader rd(path);
  int64_t train = 0;
  for (int64_t u = 0; u < rd.users().num_users; ++u) train += rd.users().split_rows[u * 3];
  EXPECT_EQ(static_cast<int64_t>(all.size()), train);
  // Users are disjoint across ranks.
  std::set<int64_t> my_users(users.begin(), users.end());
  std::vector<int64_t> mu(my_users.begin(), my_users.end());
  std::vector<int64_t> all_users = AllGatherV(comm, mu);
  EXPECT_EQ(std::set<int64_t>(all_users.begin(), all_users.end()).size(), all_users.size());
}

TEST(LoaderMpi, Ml100kSamplesArePartitionedAcrossRanks) {
  RP_REQUIRE_MIRROR();
  DataOptions o = recprism::testing::MirrorOptions("ml-100k");
  o.negatives_per_positive = 1;
  CheckPartition(SharedFile("ml100k", o), 256);
}

TEST(LoaderMpi, EmptyShardDoesNotHang) {
  DataOptions o;
  o.dataset = "generic";
  Communicator& comm = World();
  std::string dir = (fs::temp_directory_path() / ("recprism_mpi_tiny_" + BroadcastString(comm, std::to_string(::getpid()), 0))).string();
  if (comm.Rank() == 0) recprism::testing::WriteText(dir + "/tiny.csv", "u,i\n7,1\n7,2\n7,3\n7,4\n");
  comm.Barrier();
  o.generic.path = dir + "/tiny.csv";
  o.generic.user = "u";
  o.generic.item = "i";
  CheckPartition(SharedFile("tiny", o), 1);  // one user: every other rank is empty
}

}  // namespace
}  // namespace recprism::data
