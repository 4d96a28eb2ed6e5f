#include "eval/importance.h"

#include <chrono>
#include <cmath>

#include "core/log.h"
#include "eval/evaluator.h"
#include "eval/intervals.h"
#include "eval/model_scoring.h"

namespace recprism::eval {

void AddPermutationImportance(Report* report, Communicator& comm, const EvalOptions& eval_options,
                              const DataOptions& data, const ModelOptions& model, const std::string& prepared,
                              const std::string& checkpoint, const std::string& split, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  EvalOptions eo = eval_options;
  eo.baselines = false;
  eo.slices.clear();
  const auto permuted = ScorePermutedGroups(comm, prepared, checkpoint, data, model, split, eo.batch_size, seed);
  struct Measure {
    const char* task;
    const char* name;
    double sign;  // +1: base - permuted (a drop), -1: permuted - base (a rise)
    const char* label;
  };
  const Measure measures[] = {{"ctr", "auc", 1, "auc_drop"}, {"ctcvr", "auc", 1, "auc_drop"},
                              {"ctr", "logloss", -1, "logloss_rise"}};
  for (const auto& g : permuted) {
    const Report p = EvaluatePredictions(comm, eo, g.rows, seed);
    for (const auto& m : measures) {
      const auto* base = report->Find("model", m.task, m.name);
      const auto* perm = p.Find("model", m.task, m.name);
      if (base == nullptr || perm == nullptr || !std::isfinite(base->value) || !std::isfinite(perm->value)) continue;
      MetricValue v = MakeMetric(
          "explainability", m.task, fmt::format("{}({})", m.label, g.group), base->protocol,
          m.sign * (base->value - perm->value), base->n,
          fmt::format("permutation importance: {} shuffled across samples; {} − permuted {}, paired bootstrap", g.group,
                      m.sign > 0 ? "base" : "permuted", m.sign > 0 ? m.name : "minus base"));
      std::vector<double> diffs;
      if (base->replicates.size() == perm->replicates.size()) {
        for (size_t r = 0; r < base->replicates.size(); ++r) {
          diffs.push_back(v.value + m.sign * (base->replicates[r] - perm->replicates[r]));
        }
      }
      SetInterval(&v, v.value, diffs, eo.ci_level);
      report->metrics.push_back(std::move(v));
    }
  }
  RP_LOG_INFO("permutation importance of {} feature groups in {:.1f} s", permuted.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace recprism::eval
