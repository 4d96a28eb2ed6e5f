// Trainer::Validate's three modes (train.validation: heldout, evaluator, sums).
#include <cmath>

#include "comm/collectives.h"
#include "core/check.h"
#include "eval/evaluator.h"
#include "eval/fused_sum.h"
#include "eval/heldout_ranking.h"
#include "eval/model_scoring.h"
#include "metrics/binary.h"
#include "model/checkpoint.h"
#include "model/model_input.h"
#include "train/trainer_state.h"

namespace recprism::train {

namespace {

// The first K of eval.top_k's ranking metrics of the model in `report` (NaN when absent).
void RankingAtFirstK(const eval::Report& report, const char* task, const std::vector<int64_t>& ks, Validation* v) {
  auto value = [&](const std::string& name) {
    const auto* m = report.Find("model", task, name);
    return m != nullptr ? m->value : std::nan("");
  };
  if (ks.empty()) return;
  v->ctr_ndcg = value(fmt::format("ndcg@{}", ks[0]));
  v->ctr_hit_rate = value(fmt::format("hit_rate@{}", ks[0]));
}

}  // namespace

// train.validation: heldout. Held-out ranking of the valid positives (eval/heldout_ranking.h):
// eval.protocol's full or sampled protocol (full when it is rows), without intervals or baselines.
Validation Trainer::ValidateHeldOut() {
  auto& s = *s_;
  EvalOptions eo = s.job.eval;
  if (eo.protocol == Protocol::kRows) eo.protocol = Protocol::kFull;
  eo.bootstrap_replicates = 0;
  eo.baselines = false;
  eo.write_candidates.clear();
  eval::HeldOutStats stats;
  const auto report = eval::RankHeldOut(s.comm, *s.model, s.next_item ? eval::Scoring::kNextItem : eval::Scoring::kHeads,
                                        s.job.prepared_path, s.job.data, eo, "valid", s.job.seed, &stats);
  Validation v;
  v.samples = static_cast<double>(AllReduceScalar<int64_t>(s.comm, stats.queries, ReduceOp::kSum));
  v.ctr_auc = v.ctr_logloss = v.cvr_auc = v.ctcvr_auc = v.ctcvr_logloss = v.loss = std::nan("");
  RankingAtFirstK(report, "heldout", eo.top_k, &v);
  return v;
}

// train.validation: evaluator. The evaluator on the valid split: exact AUC (distributed sample
// sort), GAUC, logloss and ranking per task, without intervals or baselines (evaluate
// --checkpoint gives those).
Validation Trainer::ValidateWithEvaluator(data::ShardLoader& valid) {
  auto& s = *s_;
  auto rows = eval::ScoreLoader(*s.model, valid, s.loader->reader().items(), s.job.model.time_gap_buckets, nullptr,
                                nullptr, s.next_item ? eval::Scoring::kNextItem : eval::Scoring::kHeads);
  EvalOptions eo = s.job.eval;
  eo.bootstrap_replicates = 0;
  eo.baselines = false;
  eo.slices.clear();
  const auto report = eval::EvaluatePredictions(s.comm, eo, rows, s.job.seed);
  auto value = [&](const char* task, const std::string& name) {
    const auto* m = report.Find("model", task, name);
    return m != nullptr ? m->value : std::nan("");
  };
  Validation v;
  v.samples = static_cast<double>(AllReduceScalar<int64_t>(s.comm, static_cast<int64_t>(rows.size()), ReduceOp::kSum));
  v.ctr_auc = value("ctr", "auc");
  v.ctr_gauc = value("ctr", "gauc");
  v.ctr_logloss = value("ctr", "logloss");
  v.cvr_auc = value("cvr", "auc");
  v.ctcvr_auc = value("ctcvr", "auc");
  v.ctcvr_logloss = value("ctcvr", "logloss");
  RankingAtFirstK(report, "ctr", eo.top_k, &v);
  v.loss = s.job.model.ctr_loss_weight * v.ctr_logloss + s.job.model.ctcvr_loss_weight * v.ctcvr_logloss;
  return v;
}

// train.validation: sums. Per-task metrics::BinaryState sums merged by the evaluator's merge path
// (eval/fused_sum.h): histogram AUC with its error bound, and logloss; cheaper on very large valid
// splits.
Validation Trainer::ValidateWithSums(data::ShardLoader& valid) {
  auto& s = *s_;
  RP_REQUIRE(!s.next_item, StatusCode::kInvalidConfig,
             "train.validation: sums measures the task heads; train.objective: next_item needs train.validation: heldout or "
             "evaluator (ranking of the valid candidates)");
  metrics::BinaryState ctr(4096), cvr(4096), ctcvr(4096);
  std::vector<double> totals = {0, 0};  // loss sum, samples
  torch::NoGradGuard no_grad;
  s.model->eval();
  data::Batch b;
  while (valid.Next(&b)) {
    if (b.size == 0) continue;
    auto in = model::MakeModelInput(b, s.job.model.time_gap_buckets).To(s.device);
    auto logits = s.model->forward(in);
    totals[0] += model::TaskLoss(logits, in.click, in.conversion, s.job.model).total.item<double>();
    totals[1] += static_cast<double>(b.size);
    const auto p = model::Probabilities(logits);
    const double* pc = p.ctr.data_ptr<double>();
    const double* pv = p.cvr.data_ptr<double>();
    const double* pcc = p.ctcvr.data_ptr<double>();
    for (int64_t i = 0; i < b.size; ++i) {
      ctr.Update(pc[i], b.click[i]);
      ctcvr.Update(pcc[i], b.conversion[i]);
      if (b.click[i]) cvr.Update(pv[i], b.conversion[i]);
    }
  }
  s.model->train();
  eval::FusedSum sum(s.comm);
  for (auto* st : {&ctr, &cvr, &ctcvr}) sum.Add(st->flat(), st->FlatSize());
  sum.Add(totals.data(), totals.size());
  sum.Flush();
  Validation v;
  v.samples = totals[1];
  v.loss = v.samples > 0 ? totals[0] / v.samples : std::nan("");
  const auto rc = ctr.Finalize(), rv = cvr.Finalize(), rcc = ctcvr.Finalize();
  v.ctr_auc = rc.auc_hist;
  v.ctr_logloss = rc.logloss;
  v.auc_error_bound = rc.auc_hist_error_bound;
  v.cvr_auc = rv.auc_hist;
  v.ctcvr_auc = rcc.auc_hist;
  v.ctcvr_logloss = rcc.logloss;
  return v;
}

Validation Trainer::Validate() {
  auto& s = *s_;
  if (s.job.train.validation == ValidationMode::kHeldOut) return ValidateHeldOut();
  data::ShardLoader valid(s.job.prepared_path, s.comm,
                          data::MakeLoaderOptions(s.job.data, data::Split::kValid, s.job.eval.batch_size, s.job.seed, false));
  valid.StartEpoch(0);
  return s.job.train.validation == ValidationMode::kEvaluator ? ValidateWithEvaluator(valid) : ValidateWithSums(valid);
}

}  // namespace recprism::train
