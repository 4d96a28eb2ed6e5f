// recprism: the one executable. Subcommand dispatch and the single top-level error handler.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/check.h"
#include "core/log.h"
#include "core/runtime_info.h"
#include "core/version.h"

namespace {

constexpr const char* kHelp = R"(usage: recprism <command> [options]

commands:
  config check|show|docs   validate a config, print the effective config, print the config reference
  prepare                  convert a dataset (preset, your own log, or synthetic) into a prepared HDF5 file
  data inspect FILE        schema, counts, label rates per split and shard balance of a prepared file
  pretrain                 masked-item pretraining of the sequence encoder (writes an encoder checkpoint)
  train                    data-parallel multi-task training (CTR/CVR: ESMM, MMoE), checkpoints, resume
  evaluate                 sharded evaluation of a predictions file: one report with intervals and slices
  compare RUN_A RUN_B      paired comparison of two evaluation reports (bootstrap, Holm-corrected)
  sweep FILE               expand, validate and run (or submit as a Slurm job array) a hyperparameter sweep
  leaderboard DIR          rank a sweep's runs by its metric, with intervals (Markdown, CSV, HTML)
  comm check               verify and time the collectives of this launch (the first distributed job)
  info                     print the start-up banner: version, world, backend, threads, BLAS, LibTorch

  recprism <command> --help     help for one command
  recprism --version            version and git commit

Launch distributed commands with mpirun/srun and comm.backend: mpi (CPU) or nccl (GPU), e.g.
  mpirun -n 2 recprism comm check --set comm.backend=mpi
  mpirun -n 2 recprism train --config configs/quickstart.yaml

exit codes:
  0  success
  1  internal error (a bug: please report it with the log)
  2  usage error (unknown command or option)
  3  invalid configuration (every problem is listed with file:line:column and key)
  4  data or I/O error (file missing, unreadable, malformed; a non-finite training loss)
  5  communication failure (a collective timed out, a peer failed or the job was aborted)
  6  a requested resource is unavailable (no CUDA device for comm.backend: nccl, backend not built)
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace recprism;
  KeepLargeBuffersInHeap();
  cli::JobContext ctx;
  ctx.argc = &argc;
  ctx.argv = &argv;
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      std::cout << kHelp;
      return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
      std::cout << "recprism " << Version() << " (commit " << GitCommit() << ")\n";
      return 0;
    }
    const std::string command = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (command == "config") return cli::RunConfigCommand(rest);
    if (command == "info") return cli::RunInfoCommand(ctx, rest);
    if (command == "comm") return cli::RunCommCommand(ctx, rest);
    if (command == "prepare") return cli::RunPrepareCommand(rest);
    if (command == "data") return cli::RunDataCommand(rest);
    if (command == "sweep") return cli::RunSweepCommand(rest);
    if (command == "leaderboard") return cli::RunLeaderboardCommand(rest);
    if (command == "pretrain") return cli::RunTrainCommand(ctx, rest, true);
    if (command == "train") return cli::RunTrainCommand(ctx, rest, false);
    if (command == "evaluate") return cli::RunEvaluateCommand(ctx, rest);
    if (command == "compare") return cli::RunCompareCommand(rest);
    RP_THROW(StatusCode::kInvalidArgument, "unknown command '{}' (see recprism --help)", command);
  } catch (const Error& e) {
    const int code = ExitCodeFor(e.code());
    RP_LOG_ERROR("{}: {}", StatusCodeName(e.code()), e.what());
    log::Flush();
    // One rank's failure ends the whole job: never leave peers waiting in a collective.
    if (ctx.comm && ctx.comm->WorldSize() > 1) ctx.comm->Abort(code, e.what());
    return code;
  } catch (const std::exception& e) {
    RP_LOG_ERROR("internal error: {}", e.what());
    log::Flush();
    if (ctx.comm && ctx.comm->WorldSize() > 1) ctx.comm->Abort(1, e.what());
    return 1;
  }
}
