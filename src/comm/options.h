// Communicator options (config section `comm`).
#pragma once

#include <string>

namespace recprism {

struct CommOptions {
  std::string backend = "auto";  // auto, local (world of one), mpi, nccl (ResolveBackend)
  double timeout_s = 300.0;       // bound on every blocking collective; on expiry the job aborts
};

}  // namespace recprism
