// User sharding: every user's rows live on exactly one rank, so per-user metrics (GAUC, ranking)
// need no cross-rank join.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/format.h"

namespace recprism::data {

struct ShardPlan {
  std::string method;               // "contiguous" or "hash"
  int world_size = 1;
  std::vector<int64_t> user_begin;  // contiguous: users of rank r are [user_begin[r], user_begin[r+1])

  // The rank that owns a (dense) user id.
  int RankOf(int64_t user) const;
};

// contiguous: cut points chosen so each rank's row count is as close as possible to rows / world
// (a user is never split); hash: rank = FNV-1a(user id) mod world. Throws for an unknown method.
ShardPlan MakeShardPlan(const UserTable& users, int world_size, const std::string& method);

// Rows owned by each rank.
std::vector<int64_t> RowsPerRank(const ShardPlan& plan, const UserTable& users);

// max / mean of per-rank rows, minus 1 (0 = perfect balance).
double Imbalance(const std::vector<int64_t>& rows_per_rank);

}  // namespace recprism::data
