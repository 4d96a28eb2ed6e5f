#include "metrics/exact_rank.h"

#include <algorithm>
#include <limits>

namespace recprism::metrics {

void SortAndCompress(std::vector<ScoreRun>* runs) {
  auto& v = *runs;
  std::sort(v.begin(), v.end(), [](const ScoreRun& a, const ScoreRun& b) { return a.score < b.score; });
  size_t out = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (out > 0 && v[out - 1].score == v[i].score) {
      v[out - 1].pos += v[i].pos;
      v[out - 1].neg += v[i].neg;
    } else {
      v[out++] = v[i];
    }
  }
  v.resize(out);
}

PartitionScan ScanPartition(const std::vector<ScoreRun>& runs, double neg_below, double pos_above, double neg_above,
                            double total_pos) {
  PartitionScan s;
  double negs = neg_below;
  for (const ScoreRun& r : runs) {
    s.auc_pairs += r.pos * (negs + 0.5 * r.neg);
    negs += r.neg;
  }
  double tp = pos_above, fp = neg_above;
  for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
    tp += it->pos;
    fp += it->neg;
    if (tp + fp <= 0) continue;
    if (it->pos > 0) s.ap_sum += it->pos * (tp / (tp + fp));
    const double f1 = total_pos > 0 ? 2 * tp / (tp + fp + total_pos) : 0.0;
    if (f1 > s.best_f1) {
      s.best_f1 = f1;
      s.best_threshold = it->score;
      s.tp_at_best = tp;
      s.fp_at_best = fp;
    }
  }
  return s;
}

ExactRankResult FinalizeExact(const PartitionScan& t, double pos, double neg) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ExactRankResult r;
  r.auc = pos > 0 && neg > 0 ? t.auc_pairs / (pos * neg) : nan;
  r.average_precision = pos > 0 ? t.ap_sum / pos : nan;
  r.best_f1 = t.best_f1;
  r.best_threshold = t.best_threshold;
  r.precision_at_best = t.tp_at_best + t.fp_at_best > 0 ? t.tp_at_best / (t.tp_at_best + t.fp_at_best) : 0.0;
  r.recall_at_best = pos > 0 ? t.tp_at_best / pos : 0.0;
  r.accuracy_at_best = pos + neg > 0 ? (t.tp_at_best + (neg - t.fp_at_best)) / (pos + neg) : 0.0;
  return r;
}

ExactRankResult ExactRank(std::vector<ScoreRun> runs) {
  SortAndCompress(&runs);
  double pos = 0, neg = 0;
  for (const auto& r : runs) {
    pos += r.pos;
    neg += r.neg;
  }
  return FinalizeExact(ScanPartition(runs, 0, 0, 0, pos), pos, neg);
}

}  // namespace recprism::metrics
