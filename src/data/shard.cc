#include "data/shard.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "core/hash.h"

namespace recprism::data {

int ShardPlan::RankOf(int64_t user) const {
  if (method == "hash") {
    // Mixed, so that every bit of the id reaches the low bits the modulus keeps.
    return static_cast<int>(Mix64(static_cast<uint64_t>(user)) % static_cast<uint64_t>(world_size));
  }
  auto it = std::upper_bound(user_begin.begin(), user_begin.end(), user);
  return static_cast<int>(it - user_begin.begin()) - 1;
}

namespace {
int64_t UserWeight(const UserTable& users, int64_t u, int split) {
  return split >= 0 ? users.split_rows[u * kNumSplits + split] : users.offsets[u + 1] - users.offsets[u];
}
}  // namespace

ShardPlan MakeShardPlan(const UserTable& users, int world_size, const std::string& method, int split) {
  RP_REQUIRE(world_size >= 1, StatusCode::kInvalidArgument, "world size must be >= 1, got {}", world_size);
  RP_REQUIRE(method == "contiguous" || method == "hash", StatusCode::kInvalidConfig,
             "data.shard '{}' is not contiguous or hash", method);
  ShardPlan plan;
  plan.method = method;
  plan.world_size = world_size;
  if (method == "hash") return plan;
  RP_REQUIRE(split < kNumSplits, StatusCode::kInvalidArgument, "shard plan: split {} out of range", split);
  // Prefix sums of the weights: off[u] = weight of users [0, u).
  std::vector<int64_t> off(static_cast<size_t>(users.num_users) + 1, 0);
  for (int64_t u = 0; u < users.num_users; ++u) off[u + 1] = off[u] + UserWeight(users, u, split);
  const int64_t total = off.back();
  plan.user_begin.assign(1, 0);
  for (int r = 1; r < world_size; ++r) {
    // The user boundary whose row offset is closest to the ideal cut, never before the last cut.
    const double ideal = static_cast<double>(total) * r / world_size;
    auto it = std::lower_bound(off.begin(), off.end(), static_cast<int64_t>(ideal));
    int64_t u = it - off.begin();
    if (u > 0 && std::abs(off[u - 1] - ideal) <= std::abs(static_cast<double>(off[u]) - ideal)) --u;
    u = std::clamp<int64_t>(u, plan.user_begin.back(), users.num_users);
    plan.user_begin.push_back(u);
  }
  plan.user_begin.push_back(users.num_users);
  return plan;
}

std::vector<int64_t> RowsPerRank(const ShardPlan& plan, const UserTable& users, int split) {
  std::vector<int64_t> rows(plan.world_size, 0);
  for (int64_t u = 0; u < users.num_users; ++u) rows[plan.RankOf(u)] += UserWeight(users, u, split);
  return rows;
}

double Imbalance(const std::vector<int64_t>& rows) {
  if (rows.empty()) return 0;
  const double mean = std::accumulate(rows.begin(), rows.end(), 0.0) / rows.size();
  if (mean == 0) return 0;
  return *std::max_element(rows.begin(), rows.end()) / mean - 1.0;
}

}  // namespace recprism::data
