#include "eval/efficiency.h"

#include <fmt/format.h>

#include <cmath>

namespace recprism::eval {

void AddEfficiency(Report* report, const TrainLogSummary& log, double train_world, double eval_units,
                   double eval_seconds, int eval_world) {
  auto add = [&](const std::string& task, const std::string& name, double value, double n, const std::string& method) {
    report->metrics.push_back(MakeMetric("efficiency", task, name, "measured", value, n, method));
  };
  if (!log.path.empty() && log.steps > 0 && log.step_s > 0) {
    const double steps = log.steps, world = train_world;
    add("train", "samples_per_s", log.samples / log.step_s, steps, "train_log.jsonl: samples / step time (rank 0's clock)");
    add("train", "samples_per_s_per_rank", log.samples / log.step_s / world, steps, "samples_per_s / world size");
    add("train", "communication_share", log.comm_s / log.step_s, steps, "gradient-sync time / step time (rank 0)");
    add("train", "step_ms", 1000 * log.step_s / steps, steps, "mean step time");
    add("train", "world_size", world, steps, "ranks of the training run");
    const double single = log.single_rank_samples_per_s;
    if (std::isfinite(single) && single > 0) {
      add("train", "single_rank_samples_per_s", single, steps,
          "train.scaling_probe_steps: one rank training alone, mean over the ranks");
      // At one rank the ratio is 1 by definition, and what it would measure is the machine's
      // drift: no speedup and no scaling efficiency.
      if (world > 1 && log.window_steps > 0 && log.window_s > 0) {
        const double rate = log.window_samples / log.window_s;
        add("train", "speedup", rate / single, log.window_steps,
            "samples/s of the run's steps right after the probe (as many as it took) / single_rank_samples_per_s");
        add("train", "scaling_efficiency", rate / (world * single), log.window_steps,
            "speedup / world size, the run's steps right after the probe against it; 1 = linear scaling");
      }
    }
    report->provenance["train_log"] = log.path;
  }
  if (eval_seconds > 0) {
    add("evaluate", "units_per_s", eval_units / eval_seconds, eval_units,
        "scored samples (rows protocol) or ranked queries (held-out protocols) per second, all ranks");
    add("evaluate", "world_size", eval_world, eval_units, "ranks of this evaluation");
  }
}

void AddPrivacyProvenance(Report* report, std::string privacy, double epsilon, const TrainLogSummary& log) {
  if (privacy.empty()) return;
  if (std::isfinite(log.dp_epsilon) && log.dp_epsilon > epsilon) {
    privacy += fmt::format("; the run took {:.0f} steps, epsilon {:.4g}: a checkpoint chosen among its iterates "
                           "(best.pt) has the run's guarantee, stated here",
                           log.dp_epsilon_step, log.dp_epsilon);
    epsilon = log.dp_epsilon;
  }
  report->provenance["privacy"] = privacy;
  report->provenance["dp_epsilon"] = fmt::format("{:.6g}", epsilon);
}

}  // namespace recprism::eval
