// Uncertainty: the clustered Poisson bootstrap, percentile intervals, paired comparisons.
//
// Replicate weights are a pure function of (user, replicate, seed), so every rank computes the
// same weight for a user without communicating, and a replicate's state merges like any other
// state. Resampling users (not rows) keeps a user's rows together: the right unit when rows of a
// user are correlated (Chamandy et al., 2012, "Estimating uncertainty for massive data streams").
#pragma once

#include <cstdint>
#include <vector>

namespace recprism::metrics {

// The Poisson(1) weight of a user in a replicate: 0, 1, 2, ... with probabilities e^-1 / k!.
int PoissonWeight(uint64_t user_key, int replicate, uint64_t seed);

struct Interval {
  double lo = 0, hi = 0;
};

// 95% (or `level`) interval for `point` from replicate estimates: the percentile interval of
// replicate - center, shifted by point. `center` is the same estimator on unit weights (equal to
// point for exact estimators; the histogram value for histogram estimators, so a binning bias
// cancels). NaN replicates are ignored; NaN bounds when fewer than 2 remain.
Interval BootstrapInterval(double point, double center, std::vector<double> replicates, double level = 0.95);

// Quantile with linear interpolation (numpy's default) of a sorted vector.
double SortedQuantile(const std::vector<double>& sorted, double q);

// Two-sided p-value that a paired difference is 0: a Wald test with the bootstrap standard error,
// z = diff / sd(replicate differences), p = erfc(|z| / sqrt 2). (Counting replicates on either side
// of 0 cannot go below 2 / (R + 1), which a Holm correction over hundreds of metrics never
// passes.) NaN when fewer than 2 finite replicates; 0 or 1 when the standard error is 0.
double PairedBootstrapPValue(double diff, const std::vector<double>& replicate_diffs);

// Student's t with `df` degrees of freedom: P(|T| <= t), exact for integer df (Abramowitz and
// Stegun 26.7.3-4), and the two-sided critical value t with P(|T| <= t) = level (bisection on it).
// For a mean over a few seeds: mean +- t * sd / sqrt(n) with df = n - 1. NaN when df < 1.
double StudentTCentralMass(double t, int df);
double StudentTCritical(int df, double level = 0.95);

// Holm-Bonferroni adjusted p-values (same order as the input); NaN stays NaN.
std::vector<double> HolmAdjust(const std::vector<double>& p_values);

}  // namespace recprism::metrics
