#include "eval/leaderboard.h"

#include <algorithm>
#include <numeric>

#include "metrics/bootstrap.h"

namespace recprism::eval {

std::vector<SeedGroup> GroupSeeds(const std::vector<LeaderboardRun>& rows, const std::vector<std::string>& keys) {
  std::vector<SeedGroup> groups;
  for (const auto& r : rows) {
    std::vector<std::string> values;
    for (const auto& k : keys) {
      if (k == "run.seed") continue;
      const auto it = r.swept.find(k);
      values.push_back(it == r.swept.end() ? "" : it->second);
    }
    auto g = std::find_if(groups.begin(), groups.end(), [&](const SeedGroup& x) { return x.values == values; });
    if (g == groups.end()) g = groups.insert(groups.end(), SeedGroup{values, {}, 0});
    ++g->runs;
    if (std::isfinite(r.value)) g->done.push_back(r.value);
  }
  for (auto& g : groups) {
    const auto n = static_cast<double>(g.done.size());
    if (g.done.empty()) continue;
    g.mean = std::accumulate(g.done.begin(), g.done.end(), 0.0) / n;
    g.min = *std::min_element(g.done.begin(), g.done.end());
    g.max = *std::max_element(g.done.begin(), g.done.end());
    if (g.done.size() < 2) continue;
    double sq = 0;
    for (double v : g.done) sq += (v - g.mean) * (v - g.mean);
    g.sd = std::sqrt(sq / (n - 1));
    const double half = metrics::StudentTCritical(static_cast<int>(g.done.size()) - 1) * g.sd / std::sqrt(n);
    g.lo = g.mean - half;
    g.hi = g.mean + half;
  }
  return groups;
}

}  // namespace recprism::eval
