#include "train/privacy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace recprism::train {

double SampledGaussianRdp(double q, double sigma, int alpha) {
  RP_REQUIRE(alpha >= 2 && sigma > 0 && q >= 0 && q <= 1, StatusCode::kInvalidArgument,
             "RDP of the sampled Gaussian: need alpha >= 2, sigma > 0 and q in [0, 1]; found alpha {}, sigma {}, q {}",
             alpha, sigma, q);
  if (q == 0) return 0;
  if (q == 1) return alpha / (2 * sigma * sigma);
  // log A_alpha as a log-sum-exp of the binomial terms (they span hundreds of orders of magnitude).
  std::vector<double> terms;
  terms.reserve(static_cast<size_t>(alpha) + 1);
  const double lq = std::log(q), l1q = std::log1p(-q);
  for (int i = 0; i <= alpha; ++i) {
    const double log_binom = std::lgamma(alpha + 1.0) - std::lgamma(i + 1.0) - std::lgamma(alpha - i + 1.0);
    terms.push_back(log_binom + i * lq + (alpha - i) * l1q + (static_cast<double>(i) * i - i) / (2 * sigma * sigma));
  }
  const double m = *std::max_element(terms.begin(), terms.end());
  double sum = 0;
  for (double t : terms) sum += std::exp(t - m);
  return (m + std::log(sum)) / (alpha - 1);
}

std::vector<int> DefaultRdpOrders() {
  std::vector<int> o;
  for (int a = 2; a <= 64; ++a) o.push_back(a);
  for (int a : {80, 96, 128, 256, 512}) o.push_back(a);
  return o;
}

PrivacySpent DpSgdEpsilon(double q, double sigma, int64_t steps, double delta, const std::vector<int>& orders) {
  RP_REQUIRE(delta > 0 && delta < 1 && steps >= 0, StatusCode::kInvalidArgument,
             "privacy accounting: need delta in (0, 1) and steps >= 0; found delta {}, steps {}", delta, steps);
  PrivacySpent best{std::numeric_limits<double>::infinity(), 0};
  for (int a : orders) {
    const double eps = static_cast<double>(steps) * SampledGaussianRdp(q, sigma, a) + std::log(1 / delta) / (a - 1);
    if (eps < best.epsilon) best = {eps, a};
  }
  return best;
}

}  // namespace recprism::train
