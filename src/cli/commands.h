// Subcommands. Each returns the process exit code or throws recprism::Error (mapped to an exit
// code by main's single handler).
#pragma once

#include <string>
#include <vector>

#include "cli/job.h"

namespace recprism::cli {

int RunConfigCommand(const std::vector<std::string>& args);
int RunInfoCommand(JobContext& ctx, const std::vector<std::string>& args);
int RunCommCommand(JobContext& ctx, const std::vector<std::string>& args);
int RunPrepareCommand(const std::vector<std::string>& args);
int RunDataCommand(const std::vector<std::string>& args);
int RunEvaluateCommand(JobContext& ctx, const std::vector<std::string>& args);
int RunCompareCommand(const std::vector<std::string>& args);
int RunSweepCommand(const std::vector<std::string>& args);
int RunLeaderboardCommand(const std::vector<std::string>& args);
int RunTrainCommand(JobContext& ctx, const std::vector<std::string>& args, bool pretraining);

}  // namespace recprism::cli
