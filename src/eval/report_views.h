// Derived views of a finished report: numbers computed from other metrics of the same report,
// never from the data. They add metrics or tables; they change none.
#pragma once

#include "eval/report.h"

namespace recprism::eval {

// For every model metric of the whole population that a business reader compares against the
// popularity recommender (clicks, conversions and revenue per 1000 at K; hit rate and NDCG at K
// over candidates), adds `lift_vs_popularity:<name>` = model / popularity - 1 (dimension
// business), with a paired interval from the two metrics' replicates (replicate r of both drew
// the same users). Nothing when the report has no popularity baseline.
void AddLiftsVsPopularity(Report* report, double ci_level);

// For every (slice, task, metric) of the model with at least two measured groups, the best and
// the worst group and the gap between them, into report->fairness (counts are left out).
void AddFairnessGaps(Report* report);

}  // namespace recprism::eval
