// Confidence intervals of report metrics: the one place a MetricValue gets its interval.
//
// Every interval is the bootstrap percentile interval of metrics/bootstrap.h, clipped to the range
// the metric's value can take (an AUC never above 1, a count never below 0), computed over the
// replicates in which the metric is defined. A replicate that drew no user of the metric's sample
// space carries NaN, is left out, and the method text says how many were.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "eval/report.h"

namespace recprism::eval {

// The closed range [lo, hi] of a metric's value, from its report name (`auc`, `ndcg@10`,
// `coverage@10`, `lift_vs_popularity:hit_rate@10`, ...). Rates and shares lie in [0, 1], per-1000
// rates in [0, 1000], losses, counts and other sums in [0, inf), lifts in [-1, inf); a name this
// table does not know gets (-inf, inf).
std::pair<double, double> MetricRange(const std::string& name);

// Sets mv->lo, mv->hi and mv->replicates (replicate minus center, NaN where undefined) from the
// replicate values `reps` of the estimator whose unit-weight value is `center` (see
// metrics::BootstrapInterval), clipped to MetricRange(mv->name). NaN replicates are left out of
// the interval and counted in mv->method. No interval (NaN) when `reps` is empty.
void SetInterval(MetricValue* mv, double center, const std::vector<double>& reps, double level);

}  // namespace recprism::eval
