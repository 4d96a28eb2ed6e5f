#include "comm/factory.h"

#include <algorithm>
#include <cstdlib>

#include "comm/local/local_comm.h"
#include "comm/mpi/mpi_comm.h"
#include "core/check.h"
#ifdef RECPRISM_HAVE_NCCL
#include "comm/nccl/nccl_comm.h"
#endif

namespace recprism {

std::vector<std::string> AvailableBackends() {
  std::vector<std::string> names = {"local", "mpi"};
#ifdef RECPRISM_HAVE_NCCL
  names.push_back("nccl");
#endif
  return names;
}

bool BackendNeedsMpi(const std::string& backend) { return backend == "mpi" || backend == "nccl"; }

int LauncherWorldSize() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    if (const char* v = std::getenv(var)) {
      int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  // srun without an MPI layer: SLURM_NTASKS with a SLURM_PROCID means a task of a job step.
  if (std::getenv("SLURM_PROCID") != nullptr) {
    if (const char* v = std::getenv("SLURM_STEP_NUM_TASKS")) return std::max(1, std::atoi(v));
  }
  return 1;
}

BackendChoice ResolveBackend(const std::string& requested, int launched_processes, bool device_is_cuda) {
  if (requested != "auto") return {requested, "set by comm.backend"};
  if (launched_processes <= 1) return {"local", "comm.backend auto: one process"};
  const auto built = AvailableBackends();
  const bool have_nccl = std::find(built.begin(), built.end(), "nccl") != built.end();
  if (device_is_cuda && have_nccl) {
    return {"nccl", fmt::format("comm.backend auto: {} processes on CUDA devices", launched_processes)};
  }
  if (device_is_cuda) {
    return {"mpi", fmt::format("comm.backend auto: {} processes on CUDA devices, but this build has no NCCL",
                               launched_processes)};
  }
  return {"mpi", fmt::format("comm.backend auto: {} processes on the CPU", launched_processes)};
}

std::unique_ptr<Communicator> CreateCommunicator(const CommOptions& options) {
  const std::string& b = options.backend;
  RP_REQUIRE(options.timeout_s > 0, StatusCode::kInvalidConfig, "comm.timeout_s must be > 0, got {}",
             options.timeout_s);
  if (b == "local") {
    int launched = LauncherWorldSize();
    RP_REQUIRE(launched == 1, StatusCode::kInvalidConfig,
               "the launcher started {} processes but comm.backend is 'local', so each would run alone on "
               "its own copy of the job; set comm.backend: auto (or mpi on CPUs, nccl on GPUs)",
               launched);
    return CreateLocalCommunicator(options);
  }
  if (b == "mpi") return CreateMpiCommunicator(options);
  if (b == "nccl") {
#ifdef RECPRISM_HAVE_NCCL
    return CreateNcclCommunicator(options);
#else
    RP_THROW(StatusCode::kUnavailable,
             "comm.backend 'nccl' was not compiled into this build (CUDA runtime or NCCL not found at configure "
             "time; rebuild with -DRECPRISM_WITH_NCCL=ON on a machine that has them); use comm.backend: mpi");
#endif
  }
  RP_REQUIRE(b != "auto", StatusCode::kInternal, "comm.backend auto reached CreateCommunicator unresolved (ResolveBackend)");
  if (b == "inproc") {
    RP_THROW(StatusCode::kInvalidArgument,
             "comm.backend 'inproc' runs ranks as threads inside tests (RunInProc); it cannot be selected for a job");
  }
  std::string names;
  for (const auto& n : AvailableBackends()) names += (names.empty() ? "" : ", ") + n;
  RP_THROW(StatusCode::kInvalidArgument, "unknown comm.backend '{}'; this build has: {}", b, names);
}

}  // namespace recprism
