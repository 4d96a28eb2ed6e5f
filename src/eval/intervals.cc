#include "eval/intervals.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "metrics/bootstrap.h"

namespace recprism::eval {

namespace {
bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

std::pair<double, double> MetricRange(const std::string& name) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (StartsWith(name, "lift_vs_popularity:")) return {-1.0, kInf};
  const std::string base = name.substr(0, name.find('@'));
  static const char* const kUnit[] = {
      "auc", "pr_auc", "brier", "ece", "precision", "recall", "f1", "accuracy", "best_f1", "best_f1_threshold",
      "gauc", "gauc_unweighted", "hit_rate", "ndcg", "mrr", "map", "active_user_share", "user_coverage",
      "intra_list_diversity", "coverage", "gini", "long_tail_share", "personalization"};
  for (const char* u : kUnit) {
    if (base == u) return {0.0, 1.0};
  }
  if (StartsWith(base, "observed_") || StartsWith(base, "predicted_")) return {0.0, 1.0};
  if (base == "clicks_per_1000" || base == "conversions_per_1000" || base == "expected_clicks_per_1000" ||
      base == "expected_conversions_per_1000") {
    return {0.0, 1000.0};
  }
  static const char* const kNonNegative[] = {"logloss", "normalized_entropy", "calibration", "entropy", "novelty",
                                             "mean_popularity", "revenue_per_1000", "gauc_skipped_users"};
  for (const char* u : kNonNegative) {
    if (base == u) return {0.0, kInf};
  }
  return {-kInf, kInf};
}

void SetInterval(MetricValue* mv, double center, const std::vector<double>& reps, double level) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  mv->replicates.clear();
  size_t undefined = 0;
  for (double r : reps) {
    undefined += !std::isfinite(r);
    mv->replicates.push_back(std::isfinite(r) && std::isfinite(center) ? r - center : kNaN);
  }
  if (reps.empty()) {
    mv->lo = mv->hi = kNaN;
    return;
  }
  const auto ci = metrics::BootstrapInterval(mv->value, center, reps, level);
  const auto [lo, hi] = MetricRange(mv->name);
  mv->lo = std::isfinite(ci.lo) ? std::clamp(ci.lo, lo, hi) : ci.lo;
  mv->hi = std::isfinite(ci.hi) ? std::clamp(ci.hi, lo, hi) : ci.hi;
  if (undefined > 0 && std::isfinite(mv->value)) {
    mv->method += fmt::format("; {} of {} replicates left out (no user of the metric's sample space, or undefined)",
                              undefined, reps.size());
  }
}

}  // namespace recprism::eval
