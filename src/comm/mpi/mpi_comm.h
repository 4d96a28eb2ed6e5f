// Open MPI backend. mpi.h stays inside comm/mpi/*.cc.
//
// Collectives are plain blocking MPI calls (MPI_Allreduce, ...), at the library's own speed. Each is
// published to a watchdog thread; one that outlives comm.timeout_s makes the watchdog log the
// operation, its sequence number, bytes and rank, and abort the whole job with exit code 5
// (MPI_Abort), so a stalled or dead peer never hangs the job. Local rank/size come from
// MPI_COMM_TYPE_SHARED.
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

// The peer for benchmarks: `iters` plain MPI_Allreduce calls (float32 sum, in place) over
// MPI_COMM_WORLD on `count` floats, no watchdog; the slowest rank's seconds per call. Collective.
double RawMpiAllReduceSeconds(float* buf, size_t count, int iters);
// The same for `iters` plain MPI_Alltoallv calls: `count` floats to each rank (send and recv hold
// world * count).
double RawMpiAllToAllSeconds(const float* send, float* recv, size_t count, int iters);

}  // namespace recprism
