// NCCL backend: GPU collectives. nccl.h and cuda_runtime.h stay inside comm/nccl/*.cc.
//
// The NCCL communicator is bootstrapped by broadcasting ncclUniqueId over an MPI communicator
// (so an MpiSession must be alive). Each rank binds device LocalRank() % visible devices.
// Collectives run non-blocking (ncclConfig_t::blocking = 0) on the backend's stream and are
// polled with ncclCommGetAsyncError against the deadline; on expiry the NCCL communicator is
// aborted and Error(kTimeout) is thrown. Host buffers are staged through device memory.
// Without a visible CUDA device, creation throws Error(kUnavailable) naming comm.backend: mpi.
#pragma once

#include <memory>

#include "comm/communicator.h"
#include "comm/options.h"

namespace recprism {

std::unique_ptr<Communicator> CreateNcclCommunicator(const CommOptions& options);

}  // namespace recprism
