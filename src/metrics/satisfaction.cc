#include "metrics/satisfaction.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace recprism::metrics {

std::vector<uint8_t> HeadMask(const std::vector<double>& popularity, double head_share) {
  std::vector<uint32_t> idx(popularity.size());
  std::iota(idx.begin(), idx.end(), 0u);
  std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return popularity[a] > popularity[b]; });
  std::vector<uint8_t> head(popularity.size(), 0);
  const auto n_head = static_cast<size_t>(std::ceil(head_share * static_cast<double>(popularity.size())));
  for (size_t i = 0; i < n_head && i < idx.size(); ++i) head[idx[i]] = 1;
  return head;
}

SatisfactionResult FinalizeSatisfaction(const std::vector<double>& exposures, const std::vector<double>& popularity,
                                        const std::vector<uint8_t>& head_mask, double users, double population,
                                        int64_t k) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  SatisfactionResult r;
  const size_t n = exposures.size();
  double total = 0, covered = 0, info = 0, pop = 0, tail = 0, pairs = 0;
  for (size_t i = 0; i < n; ++i) {
    const double e = exposures[i];
    total += e;
    if (e <= 0) continue;
    covered += 1;
    info += e * -std::log2((popularity[i] + 1.0) / (population + 1.0));
    pop += e * popularity[i];
    if (!head_mask[i]) tail += e;
    pairs += e * (e - 1) / 2;
  }
  if (n == 0 || total <= 0) {
    r.coverage = n ? 0.0 : nan;
    r.gini = r.entropy = r.novelty = r.mean_popularity = r.long_tail_share = r.personalization = nan;
    return r;
  }
  r.coverage = covered / static_cast<double>(n);
  std::vector<double> sorted = exposures;
  std::sort(sorted.begin(), sorted.end());
  double g = 0;
  for (size_t i = 0; i < n; ++i) g += (2.0 * static_cast<double>(i + 1) - static_cast<double>(n) - 1.0) * sorted[i];
  r.gini = g / (static_cast<double>(n) * total);
  for (double e : exposures) {
    if (e > 0) r.entropy -= e / total * std::log2(e / total);
  }
  r.novelty = info / total;
  r.mean_popularity = pop / total;
  r.long_tail_share = tail / total;
  const double user_pairs = users * (users - 1) / 2;
  r.personalization = user_pairs > 0 ? 1.0 - pairs / (user_pairs * static_cast<double>(k)) : nan;
  return r;
}

double IntraListDiversity(const std::vector<const std::vector<uint64_t>*>& cats) {
  if (cats.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  size_t pairs = 0;
  for (size_t a = 0; a < cats.size(); ++a) {
    for (size_t b = a + 1; b < cats.size(); ++b) {
      const auto& x = *cats[a];
      const auto& y = *cats[b];
      size_t inter = 0, i = 0, j = 0;
      while (i < x.size() && j < y.size()) {
        if (x[i] == y[j]) {
          ++inter, ++i, ++j;
        } else if (x[i] < y[j]) {
          ++i;
        } else {
          ++j;
        }
      }
      const size_t uni = x.size() + y.size() - inter;
      sum += uni ? 1.0 - static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
      ++pairs;
    }
  }
  return sum / static_cast<double>(pairs);
}

}  // namespace recprism::metrics
