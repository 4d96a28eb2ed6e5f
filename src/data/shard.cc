#include "data/shard.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "core/hash.h"

namespace recprism::data {

int ShardPlan::RankOf(int64_t user) const {
  if (method == "hash") {
    uint64_t x = static_cast<uint64_t>(user);
    return static_cast<int>(Fnv1a64(std::string_view(reinterpret_cast<const char*>(&x), sizeof(x))) % world_size);
  }
  auto it = std::upper_bound(user_begin.begin(), user_begin.end(), user);
  return static_cast<int>(it - user_begin.begin()) - 1;
}

ShardPlan MakeShardPlan(const UserTable& users, int world_size, const std::string& method) {
  RP_REQUIRE(world_size >= 1, StatusCode::kInvalidArgument, "world size must be >= 1, got {}", world_size);
  RP_REQUIRE(method == "contiguous" || method == "hash", StatusCode::kInvalidConfig,
             "data.shard '{}' is not contiguous or hash", method);
  ShardPlan plan;
  plan.method = method;
  plan.world_size = world_size;
  if (method == "hash") return plan;
  const auto& off = users.offsets;
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

std::vector<int64_t> RowsPerRank(const ShardPlan& plan, const UserTable& users) {
  std::vector<int64_t> rows(plan.world_size, 0);
  if (plan.method == "contiguous") {
    for (int r = 0; r < plan.world_size; ++r) {
      rows[r] = users.offsets[plan.user_begin[r + 1]] - users.offsets[plan.user_begin[r]];
    }
  } else {
    for (int64_t u = 0; u < users.num_users; ++u) rows[plan.RankOf(u)] += users.offsets[u + 1] - users.offsets[u];
  }
  return rows;
}

double Imbalance(const std::vector<int64_t>& rows) {
  if (rows.empty()) return 0;
  const double mean = std::accumulate(rows.begin(), rows.end(), 0.0) / rows.size();
  if (mean == 0) return 0;
  return *std::max_element(rows.begin(), rows.end()) / mean - 1.0;
}

}  // namespace recprism::data
