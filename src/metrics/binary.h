// Point-wise binary-classification metrics as one mergeable state (STYLE.md §2).
//
// Sample space: exactly the rows passed to Update. The evaluator feeds `ctr` and `ctcvr` with
// every impression and `cvr` with clicked impressions only.
//
// Weights: every row carries a weight (1 for the point estimate; a Poisson bootstrap weight for a
// replicate). Counts are weighted sums; with unit weights they are exact integers in a double
// (exact up to 2^53 rows).
//
// What is exact and what is approximate:
//   exact      count, positives, mean prediction, logloss, Brier score, the confusion matrix at
//              the 0.5 threshold, expected calibration error over `calibration_bins` equal-width
//              bins, normalized entropy, calibration ratio;
//   histogram  AUC, PR-AUC and the best-F1 threshold from a score histogram of `histogram_bins`
//              bins spaced about equally in logit(p) over [-16, 16] (the logit is approximated
//              from the float's exponent and mantissa, a monotone piecewise-linear log2, so a bin
//              costs no logarithm; HistogramEdge gives the exact probability bounds). AUC's error
//              is bounded by auc_hist_error_bound (pairs that share a bin count as half-correct).
//              The exact values come from exact_rank.h and the evaluator's distributed scan.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace recprism::metrics {

// One point of a reliability diagram: rows whose prediction fell in [lower, upper).
struct ReliabilityBin {
  double lower = 0, upper = 0;
  double weight = 0;          // rows (weighted)
  double mean_predicted = 0;  // mean prediction in the bin (0 when empty)
  double observed_rate = 0;   // positive rate in the bin (0 when empty)
};

// A curve point: ROC (x = false positive rate, y = true positive rate) or PR (x = recall,
// y = precision) at one threshold.
struct CurvePoint {
  double threshold = 0, x = 0, y = 0;
};

struct BinaryResult {
  double count = 0, positives = 0;
  double base_rate = 0;       // positives / count
  double mean_predicted = 0;  // mean p
  double calibration = 0;     // mean p / base rate (1 = calibrated); NaN when no positives
  double logloss = 0;         // mean of -[y log p + (1-y) log(1-p)], p clipped to [1e-15, 1 - 1e-15]
  double normalized_entropy = 0;  // logloss / entropy of the base rate (He et al., 2014); NaN when undefined
  double brier = 0;           // mean (p - y)^2
  double ece = 0;             // expected calibration error: sum_b (n_b / n) |mean p_b - rate_b|
  // At the fixed threshold 0.5 (predict positive when p >= 0.5).
  double precision = 0, recall = 0, f1 = 0, accuracy = 0;
  // Histogram approximations (see the header comment).
  double auc_hist = 0, auc_hist_error_bound = 0, pr_auc_hist = 0;
  double best_f1_hist = 0, best_f1_threshold_hist = 0;
  std::vector<ReliabilityBin> reliability;
  std::vector<CurvePoint> roc, pr;  // at most about 200 points each, thresholds descending
};

class BinaryState {
 public:
  explicit BinaryState(int histogram_bins = 1024, int calibration_bins = 10);

  // A row's contribution with the logarithms and bins worked out once, so that one row can be
  // added to many replicate states (Add) at the cost of a few additions each. Prepare on a state
  // with the same histogram and calibration bins as the states it is added to.
  struct Prepared {
    double p = 0, y = 0, logloss = 0, sq_err = 0;
    size_t confusion = 0, negative = 0, calibration_bin = 0, histogram_bin = 0;
  };
  // p must be in [0, 1] and y in {0, 1} (the reader validates input; this is not re-checked).
  Prepared Prepare(double p, int y, bool with_log = true) const {
    Prepared x;
    x.p = p;
    x.y = y;
    x.logloss = with_log ? LogLoss(p, y) : 0.0;  // the row's only logarithm
    x.sq_err = (p - y) * (p - y);
    // Index into tp, fp, tn, fn without a branch: predicted = p >= 0.5.
    const size_t below = p < 0.5 ? 1 : 0, negative = y ? 0 : 1;
    x.confusion = negative ^ (3 * below);
    x.negative = negative;
    x.calibration_bin = CalibrationBin(p);
    x.histogram_bin = HistogramBin(p);
    return x;
  }
  void Add(const Prepared& x, double weight) {
    double* s = buf_.data();
    s[kW] += weight;
    s[kWy] += weight * x.y;
    s[kWp] += weight * x.p;
    s[kLogLoss] += weight * x.logloss;
    s[kBrier] += weight * x.sq_err;
    s[kTp + x.confusion] += weight;
    double* c = s + kScalars + 3 * x.calibration_bin;
    c[0] += weight;
    c[1] += weight * x.p;
    c[2] += weight * x.y;
    s[kScalars + 3 * static_cast<size_t>(calibration_bins_) + 2 * x.histogram_bin + x.negative] += weight;
  }
  // One row with unit weight defers its logarithm: up to kLogBatch clipped probabilities are
  // multiplied (each >= 1e-15, so the product stays above 1e-240) and one log is taken per group.
  // The deferred part is folded into the buffer before any read (flat, Merge, Finalize).
  void Update(double p, int y) {
    Prepared x = Prepare(p, y, /*with_log=*/false);
    Add(x, 1.0);
    pending_product_ *= Clip(y ? p : 1.0 - p);
    if (++pending_count_ == kLogBatch) Flush();
  }
  void Update(double p, int y, double weight) { Add(Prepare(p, y), weight); }

  void Merge(const BinaryState& other);
  BinaryResult Finalize() const;

  // The whole state as one flat buffer of doubles, for one fused SUM all-reduce.
  size_t FlatSize() const { return buf_.size(); }
  double* flat() {
    Flush();
    return buf_.data();
  }
  const double* flat() const {
    Flush();
    return buf_.data();
  }

  int histogram_bins() const { return histogram_bins_; }
  int calibration_bins() const { return calibration_bins_; }

  // -[y log p + (1 - y) log(1 - p)] with p clipped to [1e-15, 1 - 1e-15], as scikit-learn 1.2.
  static double LogLoss(double p, int y) { return -std::log(Clip(y ? p : 1.0 - p)); }
  static double Clip(double q) { return q < 1e-15 ? 1e-15 : (q > 1 - 1e-15 ? 1 - 1e-15 : q); }
  // Lower edge of histogram bin b, as a probability: bin b holds p in [edge(b), edge(b + 1)).
  double HistogramEdge(int b) const;
  // The bin of p (monotone non-decreasing in p).
  size_t HistogramBinOf(double p) const { return HistogramBin(p); }

 private:
  enum : size_t { kW = 0, kWy, kWp, kLogLoss, kBrier, kTp, kFp, kTn, kFn, kScalars };
  size_t CalibrationBin(double p) const {
    const auto b = static_cast<long>(p * calibration_bins_);
    return static_cast<size_t>(b < 0 ? 0 : (b >= calibration_bins_ ? calibration_bins_ - 1 : b));
  }
  size_t HistogramBin(double p) const;

  static constexpr int kLogBatch = 16;
  // Folds the deferred logarithms into the buffer. Logically const: the buffer's value is the
  // same before and after.
  void Flush() const {
    if (pending_count_ == 0) return;
    buf_[kLogLoss] -= std::log(pending_product_);
    pending_product_ = 1.0;
    pending_count_ = 0;
  }

  int histogram_bins_;
  int calibration_bins_;
  mutable std::vector<double> buf_;
  mutable double pending_product_ = 1.0;
  mutable int pending_count_ = 0;
};

}  // namespace recprism::metrics
