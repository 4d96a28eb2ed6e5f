// gtest main for tests run under mpiexec: every rank runs every test; the number of failed tests
// is all-reduced so that a failure on any rank fails the process on every rank (and so the
// CTest run). Rank 0 prints gtest's normal output; other ranks print only their failures.
#include <gtest/gtest.h>

#include <iostream>

#include "comm/collectives.h"
#include "comm/mpi/mpi_comm.h"
#include "support/mpi_test_main.h"

namespace recprism::testing {
namespace {
Communicator* g_world = nullptr;

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed()) {
      std::cerr << "[rank " << rank_ << "] " << (r.file_name() ? r.file_name() : "?") << ":" << r.line_number()
                << ": failure\n" << r.summary() << std::endl;
    }
  }

 private:
  int rank_;
};
}  // namespace

Communicator& World() { return *g_world; }

}  // namespace recprism::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  recprism::MpiSession session(&argc, &argv);
  recprism::CommOptions options;
  options.backend = "mpi";
  options.timeout_s = 60;
  auto world = recprism::CreateMpiCommunicator(options);
  recprism::testing::g_world = world.get();
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (world->Rank() != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new recprism::testing::RankFailurePrinter(world->Rank()));
  }
  int rc = RUN_ALL_TESTS();
  int failed = ::testing::UnitTest::GetInstance()->failed_test_count() + (rc != 0 ? 1 : 0);
  int total = recprism::AllReduceScalar<int32_t>(*world, failed, recprism::ReduceOp::kSum);
  if (world->Rank() == 0) {
    std::cout << "[mpi] " << world->WorldSize() << " ranks, failures summed over ranks: " << total << std::endl;
  }
  world.reset();
  return total == 0 ? 0 : 1;
}
