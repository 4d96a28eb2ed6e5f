// Exact threshold-free metrics (ROC AUC, average precision, the best-F1 threshold) from sorted
// score runs. The evaluator splits the global score range into partitions, gathers each
// partition's runs on the rank that owns it and scans it with ScanPartition; sums over the
// partitions give the exact global values without gathering every score on one rank.
//
// Definitions follow scikit-learn:
//   AUC = (sum over positive-negative pairs of [s+ > s-] + 0.5 [s+ == s-]) / (P * N);
//   AP  = sum over distinct thresholds t, descending, of (R(t) - R(t_prev)) * Precision(t), where
//         Precision(t) and R(t) count every row with score >= t (average_precision_score).
// Counts are doubles holding integers (or bootstrap weights): exact up to 2^53 pairs.
#pragma once

#include <cstddef>
#include <vector>

namespace recprism::metrics {

// All rows of one distinct score.
struct ScoreRun {
  double score = 0;
  double pos = 0;
  double neg = 0;
};

// Sorts runs by score ascending and merges runs of equal score (in place). Any finite scores.
void SortAndCompress(std::vector<ScoreRun>* runs);
// The same for runs made of consecutive sorted ranges [bounds[i], bounds[i + 1]): merges instead
// of sorting (the reference ScanMergedPartition is tested against).
void MergeSortedRuns(std::vector<ScoreRun>* runs, const std::vector<size_t>& bounds);

struct PartitionScan {
  double auc_pairs = 0;       // sum over positives here of (negatives below + half the tied ones)
  double ap_sum = 0;          // sum over positive runs here of pos * precision(score); AP = sum / P
  double best_f1 = 0;         // the largest F1 over this partition's thresholds (predict p >= t)
  double best_threshold = 0;  // the largest threshold that reaches best_f1
  double tp_at_best = 0, fp_at_best = 0;
};

// Scans one partition. `runs`: sorted ascending and compressed, every score of the partition,
// all rows of a score in this partition. neg_below: negatives with a lower score (other
// partitions); pos_above/neg_above: rows with a higher score; total_pos: P.
PartitionScan ScanPartition(const std::vector<ScoreRun>& runs, double neg_below, double pos_above, double neg_above,
                            double total_pos);

// ScanPartition of the merge of several parts, each sorted ascending with unique scores (the
// ranks' contributions to a partition), without building the merge: the same result, bit for bit,
// as MergeSortedRuns followed by ScanPartition.
struct RunSpan {
  const ScoreRun* data;
  size_t size;
};
PartitionScan ScanMergedPartition(const std::vector<RunSpan>& parts, double neg_below, double pos_above,
                                  double neg_above, double total_pos);

// The exact metrics of one set of runs (a world of one): ScanPartition over everything.
struct ExactRankResult {
  double auc = 0, average_precision = 0;
  double best_f1 = 0, best_threshold = 0, precision_at_best = 0, recall_at_best = 0, accuracy_at_best = 0;
};
ExactRankResult FinalizeExact(const PartitionScan& total, double pos, double neg);
ExactRankResult ExactRank(std::vector<ScoreRun> runs);

}  // namespace recprism::metrics
