// Creates the communicator named by CommOptions::backend. Which backends were compiled in is
// known here alone (STYLE.md §1): callers never #ifdef on a backend.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/options.h"

namespace recprism {

// Backends this build can create, e.g. {"local", "mpi", "nccl"}.
std::vector<std::string> AvailableBackends();

// True when the backend needs MPI to be initialised first (mpi, nccl).
bool BackendNeedsMpi(const std::string& backend);

// Number of processes the launcher (mpirun, srun) started, from its environment; 1 when the
// process was not started by a known launcher.
int LauncherWorldSize();

// comm.backend: auto, resolved: `local` for one process, `nccl` for several when the job's
// device is CUDA and this build has NCCL, `mpi` otherwise. An explicit backend is kept. `reason`
// says why, for the banner.
struct BackendChoice {
  std::string backend;
  std::string reason;
};
BackendChoice ResolveBackend(const std::string& requested, int launched_processes, bool device_is_cuda);

// Throws Error(kInvalidArgument) for an unknown backend or one not compiled in, and
// Error(kInvalidConfig) when the launcher started several processes but the backend is
// 'local' (each would silently train alone). Requires an MpiSession for mpi/nccl.
std::unique_ptr<Communicator> CreateCommunicator(const CommOptions& options);

}  // namespace recprism
