// Hyperparameter sweeps from YAML: a base config, grid and random axes over any config keys, a
// seed list and the metric to rank by. Expansion is deterministic: the same file gives the same
// runs with the same ids, so re-running a sweep finds the runs it already finished.
//
// File format (docs/sweeps.md):
//   name: lr-heads                    # the sweep directory is <output_dir>/<name>
//   base: ../configs/quickstart.yaml  # relative to the sweep file
//   output_dir: runs/sweeps           # default runs/sweeps
//   set: {train.max_steps: 200}       # fixed overrides of every run
//   grid:                             # the cross product of the lists
//     train.lr: [0.001, 0.003]
//     model.heads: [esmm, mmoe]
//   random:                           # `samples` draws, each axis independently, crossed with the grid
//     samples: 4
//     seed: 7
//     axes:
//       model.dropout: {uniform: [0.0, 0.3]}
//       train.weight_decay: {log_uniform: [1.0e-6, 1.0e-2]}
//       model.num_layers: {int_range: [1, 3]}   # inclusive
//       model.interaction: {choice: [encode_once, bst]}
//   seeds: [1, 2]                     # run.seed values, crossed with everything above
//   metric: {task: ctr, name: auc, mode: max}   # what `recprism leaderboard` ranks by
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/loader.h"

namespace recprism::config {

struct SweepRun {
  int index = 0;                 // 0-based position in the expansion
  std::string id;                // "r<index>-<8 hex of the assignment>": stable for the same file
  std::vector<std::pair<std::string, std::string>> assignment;  // swept key -> value (YAML text)
  std::vector<std::string> overrides;  // every "--set" of the run (fixed set, assignment, seed)
};

struct Sweep {
  std::string name, file, base, output_dir = "runs/sweeps";
  std::string metric_task = "ctr", metric_name = "auc", metric_mode = "max";
  // pipeline: what each run does after its config is resolved (launchers/sweep_run.sh).
  bool pretrain = false;                        // recprism pretrain, then train --init-from its encoder
  std::string eval_split = "valid";             // the split evaluate --checkpoint best.pt scores
  std::vector<std::string> protocols = {"rows"};  // eval.protocol of each evaluation (the first: report/)
  std::vector<std::string> swept_keys;  // in file order
  std::vector<SweepRun> runs;
  std::string Dir() const { return output_dir + "/" + name; }
};

// Parses and expands a sweep file. Throws Error(kInvalidConfig) naming the file, line and key for
// a malformed sweep. Does not validate the runs' configs (ValidateSweep does).
Sweep LoadSweep(const std::string& path);

// Loads every run's config (base + overrides) and returns one line per problem, each naming the
// run id and the key; empty when every run is valid.
std::vector<std::string> ValidateSweep(const Sweep& sweep);

}  // namespace recprism::config
