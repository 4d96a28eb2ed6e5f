// The whole effective configuration of a run: one plain struct per module. No yaml-cpp here.
#pragma once

#include <cstdint>
#include <string>

#include "comm/options.h"
#include "core/options.h"
#include "data/options.h"
#include "eval/options.h"
#include "model/options.h"
#include "train/options.h"

namespace recprism {

struct RunMeta {
  std::string name = "recprism";   // run name; the run directory is <output_dir>/<name>
  std::string output_dir = "runs"; // parent of run directories
  int64_t seed = 42;               // global seed (data order, initialisation, sampling)
};

struct RunOptions {
  RunMeta run;
  CommOptions comm;
  LogOptions log;
  RuntimeOptions runtime;
  DataOptions data;
  ModelOptions model;
  TrainOptions train;
  PretrainOptions pretrain;
  EvalOptions eval;

  // <run.output_dir>/<run.name>
  std::string RunDir() const {
    if (run.output_dir.empty()) return run.name;
    return run.output_dir + (run.output_dir.back() == '/' ? "" : "/") + run.name;
  }
};

}  // namespace recprism
