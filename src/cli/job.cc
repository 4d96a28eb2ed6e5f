#include "cli/job.h"

#include <filesystem>

#include "comm/collectives.h"
#include "comm/factory.h"
#include "core/check.h"
#include "core/file_util.h"
#include "core/log.h"
#include "core/runtime_info.h"
#include "core/version.h"
#include "model/runtime.h"

namespace recprism::cli {

std::vector<std::string> BannerLines(const Job& job) {
  const Communicator& comm = *job.comm;
  const BlasInfo blas = DetectBlas();
  std::vector<std::string> lines;
  lines.push_back(fmt::format("RecPrism {} (commit {})", Version(), GitCommit()));
  lines.push_back(fmt::format("world size {}, backend {} ({}), ranks on this node {}", comm.WorldSize(),
                              comm.Backend(), job.backend_reason, comm.LocalSize()));
  lines.push_back(fmt::format("threads per rank {} (intra-op and BLAS; runtime.threads_per_rank = {})",
                              job.threads_per_rank, job.config.options.runtime.threads_per_rank));
  lines.push_back(fmt::format("BLAS: {}{}{}", blas.name,
                              blas.library_path.empty() ? "" : " (" + blas.library_path + ")",
                              blas.detail.empty() ? "" : " [" + blas.detail + "]"));
  lines.push_back(fmt::format("LibTorch {}", TorchVersion()));
  lines.push_back(fmt::format("config hash {}{}", job.config.hash,
                              job.config.files.empty() ? " (defaults and --set only)"
                                                       : " (" + job.config.files.back() + ")"));
  lines.push_back(fmt::format("run dir {}", job.run_dir));
  return lines;
}

Job StartJob(JobContext& ctx, const std::string& config_path, const std::vector<std::string>& overrides,
             bool require_all_keys) {
  Job job;
  job.config = config::LoadConfig(config_path, overrides, require_all_keys);
  const RunOptions& opt = job.config.options;
  const std::string& device = opt.train.device;
  const bool cuda = device == "cuda" || (device == "auto" && opt.comm.backend == "auto" && TorchCudaAvailable());
  const BackendChoice choice = ResolveBackend(opt.comm.backend, LauncherWorldSize(), cuda);
  job.backend_reason = choice.reason;
  CommOptions comm_options = opt.comm;
  comm_options.backend = choice.backend;
  if (BackendNeedsMpi(comm_options.backend) && !ctx.mpi) ctx.mpi = std::make_unique<MpiSession>(ctx.argc, ctx.argv);
  ctx.comm = CreateCommunicator(comm_options);
  job.comm = ctx.comm.get();
  Communicator& comm = *job.comm;
  log::Init(comm.Rank(), comm.WorldSize(), opt.log);

  // Every rank must run the same configuration: a file edited between rank start-ups, or
  // different --set values per rank, would otherwise diverge silently.
  std::string root_hash = BroadcastString(comm, job.config.hash, 0);
  int32_t mismatch = AllReduceScalar<int32_t>(comm, root_hash != job.config.hash ? 1 : 0, ReduceOp::kSum);
  RP_REQUIRE(mismatch == 0, StatusCode::kInvalidConfig,
             "{} rank(s) loaded a config whose hash differs from rank 0's ({} on rank {}, {} on rank 0); every "
             "rank must see the same files and --set overrides",
             mismatch, job.config.hash, comm.Rank(), root_hash);

  job.run_dir = ExpandUser(opt.RunDir());
  if (comm.Rank() == 0) WriteFileAtomic(job.run_dir + "/config.yaml", config::EmitEffectiveConfig(job.config));
  comm.Barrier();
  if (opt.log.rank_files) log::AddFile(fmt::format("{}/logs/rank-{}.log", job.run_dir, comm.Rank()));

  job.threads_per_rank = ResolveThreadsPerRank(opt.runtime.threads_per_rank, VisibleCores(), comm.LocalSize());
  SetTorchThreads(job.threads_per_rank);
  SetBlasThreads(job.threads_per_rank);

  for (const auto& line : BannerLines(job)) RP_LOG_INFO("{}", line);
  if (comm.Rank() == 0) {
    const BlasInfo blas = DetectBlas();
    if (blas.is_reference || blas.name == "none loaded") {
      RP_LOG_WARN("!!! BLAS is '{}': LibTorch matrix products run about 20x slower than on OpenBLAS. Install "
                  "libopenblas0-pthread (tools/setup.sh does) or select it with update-alternatives "
                  "--config libblas.so.3-x86_64-linux-gnu !!!",
                  blas.name);
    }
  }
  return job;
}

}  // namespace recprism::cli
