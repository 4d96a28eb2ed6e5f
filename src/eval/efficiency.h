// The report's efficiency dimension and the DP-SGD provenance, from what a training run logged and
// what this evaluation measured. Measured, not estimated: no intervals (protocol "measured").
#pragma once

#include <limits>
#include <string>

#include "eval/report.h"

namespace recprism::eval {

// What a training run's train_log.jsonl says about its speed and privacy: the schema is written
// by train::Progress and read by train::ReadTrainLog (train/progress.h), its one owner.
struct TrainLogSummary {
  std::string path;                 // empty: no log was found
  double steps = 0;                 // train steps with samples and step time
  double samples = 0, step_s = 0, comm_s = 0;  // sums over those steps (rank 0's clock)
  // train.scaling_probe_steps: one rank's samples/s alone (NaN without a probe), and the run's
  // steps right after the probe, as many as it took: the probe's neighbours in time.
  double single_rank_samples_per_s = std::numeric_limits<double>::quiet_NaN();
  double window_steps = 0, window_samples = 0, window_s = 0;
  // DP-SGD: epsilon at the run's last logged step (NaN when not private), and that step.
  double dp_epsilon = std::numeric_limits<double>::quiet_NaN();
  double dp_epsilon_step = 0;
};

// Adds the training figures (when the log has steps: samples/s, per rank, communication share,
// step time, world size; speedup and scaling efficiency when the log has a probe and the run more
// than one rank) and this evaluation's units/s (when eval_seconds > 0). train_world: the ranks of
// the training run (from its checkpoint).
void AddEfficiency(Report* report, const TrainLogSummary& log, double train_world, double eval_units,
                   double eval_seconds, int eval_world);

// The DP-SGD guarantee into the provenance (`privacy`, `dp_epsilon`): the checkpoint's own
// (`checkpoint_privacy` and `checkpoint_epsilon`, empty when it was not trained privately), or the
// whole run's when the log shows more steps: a checkpoint chosen among the run's iterates (best.pt)
// carries the run's guarantee.
void AddPrivacyProvenance(Report* report, std::string checkpoint_privacy, double checkpoint_epsilon,
                          const TrainLogSummary& log);

}  // namespace recprism::eval
