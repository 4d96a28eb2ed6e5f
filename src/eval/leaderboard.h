// The leaderboard's statistics over a sweep's runs (`recprism leaderboard`, docs/sweeps.md): the
// runs as the leaderboard reads them, and each configuration's summary over its seeds.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace recprism::eval {

// One run of a sweep: its id, state, the ranked metric with the evaluator's interval, and the
// values of the swept keys.
struct LeaderboardRun {
  std::string id, status = "done", error;
  double value = NAN, lo = NAN, hi = NAN;
  std::map<std::string, std::string> swept;
};

// Runs that differ only in run.seed: one configuration of the grid, summarised over its seeds.
struct SeedGroup {
  std::vector<std::string> values;  // the other swept keys' values, in key order
  std::vector<double> done;         // the metric of each finished seed
  int runs = 0;
  double mean = NAN, sd = NAN, lo = NAN, hi = NAN, min = NAN, max = NAN;
};

// Groups runs by every swept key but run.seed, in first-appearance order; each group's mean,
// sample standard deviation, Student-t interval of the mean (df = seeds - 1, level 0.95) and
// range over its finished seeds (NaN where fewer seeds than a statistic needs).
std::vector<SeedGroup> GroupSeeds(const std::vector<LeaderboardRun>& runs, const std::vector<std::string>& swept_keys);

}  // namespace recprism::eval
