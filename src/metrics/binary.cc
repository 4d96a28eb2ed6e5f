#include "metrics/binary.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/check.h"

namespace recprism::metrics {
namespace {

constexpr double kLogitRange = 16.0;  // histogram spans logit(p) in [-16, 16]
constexpr size_t kMaxCurvePoints = 200;

double Div(double a, double b) { return b != 0 ? a / b : 0.0; }

}  // namespace

BinaryState::BinaryState(int histogram_bins, int calibration_bins)
    : histogram_bins_(std::max(2, histogram_bins)),
      calibration_bins_(std::max(1, calibration_bins)),
      buf_(kScalars + 3 * static_cast<size_t>(calibration_bins_) + 2 * static_cast<size_t>(histogram_bins_), 0.0) {}

namespace {
// log2 of a positive float, piecewise linear between powers of two (Mitchell, 1962): exact at
// powers of two, monotone non-decreasing, within 0.09 of log2.
inline double FastLog2(double v) {
  const auto f = static_cast<float>(v);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return static_cast<double>(static_cast<int>(bits >> 23) - 127) + static_cast<double>(bits & 0x7fffffu) * 0x1p-23;
}
constexpr double kLog2Range = kLogitRange / 0.6931471805599453;  // the logit range in log2 units
}  // namespace

size_t BinaryState::HistogramBin(double p) const {
  if (!(p > 0)) return 0;
  if (!(p < 1)) return static_cast<size_t>(histogram_bins_ - 1);
  const double z = FastLog2(p) - FastLog2(1.0 - p);  // about logit(p) / ln 2
  const double x = (z + kLog2Range) / (2 * kLog2Range) * histogram_bins_;
  if (!(x > 0)) return 0;
  return static_cast<size_t>(std::min(x, static_cast<double>(histogram_bins_ - 1)));
}

double BinaryState::HistogramEdge(int b) const {
  if (b <= 0) return 0.0;
  if (b >= histogram_bins_) return 1.0;
  // The smallest p whose bin is >= b, by bisection on the binning itself.
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 64; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (HistogramBin(mid) >= static_cast<size_t>(b)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

void BinaryState::Merge(const BinaryState& other) {
  // Shapes are fixed by the options, identical on every rank: a mismatch is a bug.
  RP_CHECK(other.buf_.size() == buf_.size(), "BinaryState::Merge: {} vs {} values", other.buf_.size(), buf_.size());
  Flush();
  other.Flush();
  for (size_t i = 0; i < buf_.size(); ++i) buf_[i] += other.buf_[i];
}

BinaryResult BinaryState::Finalize() const {
  Flush();
  const double* s = buf_.data();
  BinaryResult r;
  r.count = s[kW];
  r.positives = s[kWy];
  const double n = r.count, pos = r.positives, neg = n - pos;
  r.base_rate = Div(pos, n);
  r.mean_predicted = Div(s[kWp], n);
  r.calibration = pos > 0 ? r.mean_predicted / r.base_rate : std::numeric_limits<double>::quiet_NaN();
  r.logloss = Div(s[kLogLoss], n);
  const double b = r.base_rate;
  const double h = (b > 0 && b < 1) ? -(b * std::log(b) + (1 - b) * std::log1p(-b)) : 0.0;
  r.normalized_entropy = h > 0 ? r.logloss / h : std::numeric_limits<double>::quiet_NaN();
  r.brier = Div(s[kBrier], n);
  const double tp = s[kTp], fp = s[kFp], tn = s[kTn], fn = s[kFn];
  r.precision = Div(tp, tp + fp);
  r.recall = Div(tp, tp + fn);
  r.f1 = Div(2 * tp, 2 * tp + fp + fn);
  r.accuracy = Div(tp + tn, n);

  const double* c = s + kScalars;
  for (int i = 0; i < calibration_bins_; ++i) {
    ReliabilityBin bin;
    bin.lower = static_cast<double>(i) / calibration_bins_;
    bin.upper = static_cast<double>(i + 1) / calibration_bins_;
    bin.weight = c[3 * i];
    bin.mean_predicted = Div(c[3 * i + 1], bin.weight);
    bin.observed_rate = Div(c[3 * i + 2], bin.weight);
    r.ece += Div(bin.weight, n) * std::fabs(bin.mean_predicted - bin.observed_rate);
    r.reliability.push_back(bin);
  }

  const double* hist = c + 3 * calibration_bins_;
  // AUC: each positive beats the negatives in lower bins and half of those in its own bin.
  double neg_below = 0, pairs = 0, tied = 0;
  for (int i = 0; i < histogram_bins_; ++i) {
    const double hp = hist[2 * i], hn = hist[2 * i + 1];
    pairs += hp * (neg_below + 0.5 * hn);
    tied += hp * hn;
    neg_below += hn;
  }
  r.auc_hist = pos > 0 && neg > 0 ? pairs / (pos * neg) : std::numeric_limits<double>::quiet_NaN();
  r.auc_hist_error_bound = pos > 0 && neg > 0 ? 0.5 * tied / (pos * neg) : 0.0;

  // Thresholds descending (bin lower edges): ROC, PR, average precision and best F1.
  double tpc = 0, fpc = 0, ap = 0;
  std::vector<CurvePoint> roc{{1.0, 0.0, 0.0}}, pr;
  for (int i = histogram_bins_ - 1; i >= 0; --i) {
    const double hp = hist[2 * i], hn = hist[2 * i + 1];
    if (hp == 0 && hn == 0) continue;
    tpc += hp;
    fpc += hn;
    const double precision = tpc / (tpc + fpc);
    if (hp > 0 && pos > 0) ap += hp / pos * precision;
    const double f1 = pos > 0 ? 2 * tpc / (tpc + fpc + pos) : 0.0;
    if (f1 > r.best_f1_hist) {
      r.best_f1_hist = f1;
      r.best_f1_threshold_hist = HistogramEdge(i);
    }
    roc.push_back({HistogramEdge(i), Div(fpc, neg), Div(tpc, pos)});
    pr.push_back({HistogramEdge(i), Div(tpc, pos), precision});
  }
  r.pr_auc_hist = pos > 0 ? ap : std::numeric_limits<double>::quiet_NaN();
  auto thin = [](std::vector<CurvePoint> v) {
    if (v.size() <= kMaxCurvePoints) return v;
    std::vector<CurvePoint> out;
    const double step = static_cast<double>(v.size() - 1) / (kMaxCurvePoints - 1);
    for (size_t k = 0; k < kMaxCurvePoints; ++k) out.push_back(v[static_cast<size_t>(std::llround(k * step))]);
    return out;
  };
  r.roc = thin(std::move(roc));
  r.pr = thin(std::move(pr));
  return r;
}

}  // namespace recprism::metrics
