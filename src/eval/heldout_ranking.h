// The held-out-item ranking protocols of the sequential-recommendation papers (SASRec, BERT4Rec,
// S3-Rec), for `recprism evaluate --checkpoint` with eval.protocol full or sampled.
//
// A query is one positive row of the split (click = 1; with leave-one-out, one per user) with the
// history the loader gives it. The query's item is ranked against:
// - full: every item of the catalogue except the user's other positives (in any split), as
//   S3-Rec's full-sort evaluation masks the items the user interacted with;
// - sampled: eval.sampled_negatives items drawn uniformly, without replacement, from the items the
//   user has no positive row for (seeded by run.seed, the user's source id and the query's item,
//   so any world size draws the same), or the negatives of the user's line in
//   eval.candidates_file (`user neg neg ...`, source ids).
// rank = candidates scored above the query's item, plus a uniform draw over those scored equal
// (random tie-breaking: a constant model ranks like a random one). Per query, with rank r from 0:
// hit_rate@K = [r < K], ndcg@K = [r < K] / log2(r + 2), mrr = 1 / (r + 1); the report's values are
// means over queries, with percentile intervals from the Poisson bootstrap clustered on users
// (metrics/bootstrap.h), so `recprism compare` pairs two such reports.
//
// eval.heldout_queries user makes one query per user instead (the history of its first positive
// row of the split), with all of the user's positives of the split relevant at once: the full
// catalogue minus the user's other positives, or those positives plus sampled_negatives drawn
// once per user. Positions p of the R relevant items (ties broken by a seeded key per user and
// item) give hit_rate@K = [min p < K], recall@K = #{p < K} / R, precision@K = #{p < K} / K,
// ndcg@K = sum_{p < K} 1 / log2(p + 2) over the ideal sum_{i < min(R, K)} 1 / log2(i + 2) and
// mrr = 1 / (min p + 1): the all-ranking protocol of NGCF, LightGCN and the multi-behaviour papers.
//
// Scores: a next-item checkpoint ranks by the user vector's dot product with item embeddings (one
// matrix product for the whole catalogue); a task-heads checkpoint by pCTR, one forward per
// (history, candidate). Popularity (train positives) and random rankers are scored on the same
// queries and candidates when eval.baselines is true.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "data/options.h"
#include "eval/options.h"
#include "eval/report.h"
#include "eval/model_scoring.h"
#include "model/options.h"

namespace recprism::eval {

struct HeldOutStats {
  int64_t queries = 0;  // on this rank
  double seconds = 0;
  std::string model;
};

// Collective. Throws Error naming the checkpoint or the candidates file (and its line) on bad input.
Report RankHeldOut(Communicator& comm, const std::string& prepared_path, const std::string& checkpoint,
                   const DataOptions& data, const ModelOptions& model_fallback, const EvalOptions& eval,
                   const std::string& split, uint64_t seed, HeldOutStats* stats = nullptr);

// The same with a model in memory (validation during training): `net` scores with `scoring`;
// `d` gives the prepared file's loading options (max_seq_len must be the model's).
Report RankHeldOut(Communicator& comm, model::RecommenderImpl& net, Scoring scoring, const std::string& prepared_path,
                   const DataOptions& d, const EvalOptions& eval, const std::string& split, uint64_t seed,
                   HeldOutStats* stats = nullptr);

// RankWithTies and PositionsWithTies, which place a query's relevant items, are in metrics/ranking.h.

}  // namespace recprism::eval
