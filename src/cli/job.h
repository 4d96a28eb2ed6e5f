// A running job: the effective config, the MPI session, the communicator, logging, threads.
// Every subcommand that runs on ranks starts one with StartJob; the top-level handler in
// main.cc uses JobContext::comm to abort the whole job on an error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/mpi/mpi_comm.h"
#include "config/loader.h"

namespace recprism::cli {

struct JobContext {
  int* argc = nullptr;
  char*** argv = nullptr;
  std::unique_ptr<MpiSession> mpi;
  std::unique_ptr<Communicator> comm;  // set once the job's communicator exists
};

struct Job {
  config::LoadedConfig config;
  Communicator* comm = nullptr;  // owned by the JobContext
  std::string run_dir;
  int threads_per_rank = 1;
  std::string backend_reason;  // why comm.backend resolved as it did (the banner says it)
};

// Loads the config (config_path may be empty), creates the communicator, initialises logging
// (per-rank files in <run dir>/logs), sets thread counts, checks that all ranks loaded the same
// config, writes <run dir>/config.yaml (rank 0, atomically) and logs the start-up banner.
// require_all_keys: also enforce required keys (commands that read data).
Job StartJob(JobContext& ctx, const std::string& config_path, const std::vector<std::string>& overrides,
             bool require_all_keys);

// The banner lines (also used by `recprism info`).
std::vector<std::string> BannerLines(const Job& job);

}  // namespace recprism::cli
