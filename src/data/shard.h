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

// contiguous: cut points chosen so that each rank's share of the weighted rows is as close as
// possible to 1 / world (a user is never split). The weight is the user's rows of `split` when
// split >= 0 (the split a loader iterates: its samples are what the ranks must share equally), or
// all the user's rows when split < 0. hash: rank = Mix64(user id) mod world, a debugging mode (every
// rank reads the whole file). Throws for an unknown method.
ShardPlan MakeShardPlan(const UserTable& users, int world_size, const std::string& method, int split = -1);

// Rows owned by each rank: of `split` when split >= 0, all rows otherwise.
std::vector<int64_t> RowsPerRank(const ShardPlan& plan, const UserTable& users, int split = -1);

// max / mean of per-rank rows, minus 1 (0 = perfect balance).
double Imbalance(const std::vector<int64_t>& rows_per_rank);

}  // namespace recprism::data
