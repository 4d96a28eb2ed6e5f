// Open MPI backend. mpi.h stays inside comm/mpi/*.cc.
//
// Collectives are issued non-blocking (MPI_Iallreduce, ...) and completed by polling
// MPI_Test against the deadline, so a stalled or dead peer produces a timeout Error that names
// the operation instead of a hang. Local rank/size come from MPI_COMM_TYPE_SHARED.
#pragma once

#include <memory>

#include "comm/communicator.h"
#include "comm/options.h"

namespace recprism {

// Owns MPI_Init_thread/MPI_Finalize for the process (the CLI holds one for its lifetime).
// Finalize is skipped when the process is unwinding from an abort.
class MpiSession {
 public:
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  // Thread level granted by MPI (MPI_THREAD_* constant).
  int thread_level() const { return provided_; }

 private:
  int provided_ = 0;
  bool owns_ = false;
};

// True when the MPI library has been initialised and not finalised.
bool MpiIsInitialized();

// World communicator over MPI_COMM_WORLD (duplicated). Requires an MpiSession.
std::unique_ptr<Communicator> CreateMpiCommunicator(const CommOptions& options);

}  // namespace recprism
