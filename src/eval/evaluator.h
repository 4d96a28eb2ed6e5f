// The sharded evaluator (STYLE.md §1-2): each rank scores its own users, updates mergeable metric
// states, the ranks merge them in a few collectives, and every rank finalizes the same Report
// (rank 0 writes it).
//
// Collectives, in order, on every rank (an empty shard included):
//   1. all-gather-v of the rank's distinct item keys (the global catalogue) and of slice values;
//      one all-reduce of per-item click counts (popularity) and per-slice level flags;
//   2. the per-user pass (no communication);
//   3. one fused SUM all-reduce of every fixed-size state: per task binary states, per-user sums
//      (ranking, GAUC, business at K) for the model and the baselines, for the whole population,
//      every slice group and every bootstrap replicate, and the exposure counts;
//   4. the exact AUC / average precision scans (eval/exact_scan.h), one per task and baseline.
// Per-user metrics are complete on one rank because rows are sharded by user.
#pragma once

#include <cstdint>

#include "comm/communicator.h"
#include "data/predictions.h"
#include "eval/options.h"
#include "eval/report.h"

namespace recprism::eval {

// Evaluates one rank's share of a predictions file. `seed` keys the bootstrap and the random
// baseline. Collective. Provenance about inputs and config is the caller's to add.
Report EvaluatePredictions(Communicator& comm, const EvalOptions& options, const data::PredictionRows& rows,
                           uint64_t seed);

data::PredictionColumns ColumnsFrom(const EvalOptions& options);

// An order-free fingerprint of a set of users, from each rank's distinct user keys (data::IdKey of
// the source id; a user on one rank only): `compare` pairs two reports only on the same users.
// Collective.
std::string UsersFingerprint(Communicator& comm, const std::vector<uint64_t>& user_keys);

}  // namespace recprism::eval
