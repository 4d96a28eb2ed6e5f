#include "metrics/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/hash.h"

namespace recprism::metrics {

int PoissonWeight(uint64_t user_key, int replicate, uint64_t seed) {
  const uint64_t h = Mix64(user_key ^ Mix64(seed * 0x100000001b3ULL + static_cast<uint64_t>(replicate) + 1));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  // Inverse CDF of Poisson(1).
  double p = std::exp(-1.0), cdf = p;
  int k = 0;
  while (u >= cdf && k < 30) {
    ++k;
    p /= k;
    cdf += p;
  }
  return k;
}

double SortedQuantile(const std::vector<double>& v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Interval BootstrapInterval(double point, double center, std::vector<double> reps, double level) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  reps.erase(std::remove_if(reps.begin(), reps.end(), [](double x) { return !std::isfinite(x); }), reps.end());
  if (reps.size() < 2 || !std::isfinite(point) || !std::isfinite(center)) return {nan, nan};
  std::sort(reps.begin(), reps.end());
  const double a = (1.0 - level) / 2;
  return {point + SortedQuantile(reps, a) - center, point + SortedQuantile(reps, 1.0 - a) - center};
}

double StudentTCentralMass(double t, int df) {
  if (df < 1 || std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  const double theta = std::atan(std::fabs(t) / std::sqrt(static_cast<double>(df)));
  const double c = std::cos(theta), c2 = c * c, s = std::sin(theta);
  // Odd df: 2/pi (theta + sin(theta) (cos + 2/3 cos^3 + 2.4/(3.5) cos^5 + ... + cos^(df-2) term)).
  // Even df: sin(theta) (1 + 1/2 cos^2 + 1.3/(2.4) cos^4 + ... + cos^(df-2) term).
  double term = df % 2 == 1 ? c : 1.0, sum = df == 1 ? 0.0 : term;
  for (int k = df % 2 == 1 ? 3 : 2; k <= df - 2; k += 2) {
    term *= c2 * (k - 1) / k;
    sum += term;
  }
  return df % 2 == 1 ? 2.0 / M_PI * (theta + s * sum) : s * sum;
}

double StudentTCritical(int df, double level) {
  if (df < 1 || !(level > 0 && level < 1)) return std::numeric_limits<double>::quiet_NaN();
  double lo = 0, hi = 1;
  while (StudentTCentralMass(hi, df) < level && hi < 1e12) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (StudentTCentralMass(mid, df) < level ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double PairedBootstrapPValue(double diff, const std::vector<double>& d) {
  double sum = 0, sq = 0;
  size_t n = 0;
  for (double x : d) {
    if (!std::isfinite(x)) continue;
    ++n;
    sum += x;
    sq += x * x;
  }
  if (n < 2 || !std::isfinite(diff)) return std::numeric_limits<double>::quiet_NaN();
  const double mean = sum / static_cast<double>(n);
  const double var = std::max(0.0, (sq - static_cast<double>(n) * mean * mean) / static_cast<double>(n - 1));
  if (var <= 0) return diff == 0 ? 1.0 : 0.0;
  return std::erfc(std::fabs(diff) / std::sqrt(var) / std::sqrt(2.0));
}

std::vector<double> HolmAdjust(const std::vector<double>& p) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < p.size(); ++i) {
    if (std::isfinite(p[i])) idx.push_back(i);
  }
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size(), std::numeric_limits<double>::quiet_NaN());
  const double m = static_cast<double>(idx.size());
  double running = 0;
  for (size_t r = 0; r < idx.size(); ++r) {
    running = std::max(running, std::min(1.0, (m - static_cast<double>(r)) * p[idx[r]]));
    out[idx[r]] = running;
  }
  return out;
}

}  // namespace recprism::metrics
