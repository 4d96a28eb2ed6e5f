// Ranking metrics at K over per-user candidate lists, as one mergeable state.
//
// Sample space: users with at least one relevant candidate (others are counted in `skipped`).
// A user's list is the candidates the caller passes (the protocol is the caller's to name:
// full catalogue or the candidates present in the data). The order is the score, descending;
// equal scores are ordered by `tiebreak` ascending (a stable, rank-independent key), except NDCG,
// which averages the gain over tied scores as scikit-learn's ndcg_score does (McSherry & Najork).
//
// Per user, with R relevant candidates and hits h@K in the first K:
//   hit@K = [h > 0]; recall@K = h / R; precision@K = h / K (K, not the list length);
//   NDCG@K = DCG@K / ideal DCG@K with gain = relevance and discount 1 / log2(rank + 1);
//   MRR@K = 1 / rank of the first relevant item within K (0 if none);
//   MAP@K = sum over relevant ranks k <= K of precision@k, divided by min(K, R).
// The state holds weighted sums of these over users (weights: 1, or a bootstrap weight) and the
// weighted user count; Finalize divides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace recprism::metrics {

enum RankMetric : size_t { kHit = 0, kRecall, kPrecision, kNdcg, kMrr, kMap, kNumRankMetrics };
const char* RankMetricName(RankMetric m);  // "hit_rate", "recall", ...

// Orders candidate indices by score descending, ties by tiebreak ascending.
void OrderByScore(const std::vector<double>& scores, const std::vector<uint64_t>& tiebreak, std::vector<uint32_t>* order);

class RankingState {
 public:
  explicit RankingState(std::vector<int64_t> ks);

  // One user's candidates. `order` comes from OrderByScore(scores, ...); relevance is 0/1.
  void AddUser(const std::vector<double>& scores, const std::vector<uint8_t>& relevance,
               const std::vector<uint32_t>& order, double weight = 1.0);
  // The same user's contribution as a flat vector (FlatSize values, unit weight), so that it can
  // be added to many replicate states with different weights (AddFlat).
  void UserContribution(const std::vector<double>& scores, const std::vector<uint8_t>& relevance,
                        const std::vector<uint32_t>& order, double* out) const;
  void Merge(const RankingState& other);

  // Mean of metric m at ks()[k_index] over counted users (NaN when none).
  double Value(size_t k_index, RankMetric m) const;
  double users() const { return buf_[0]; }
  double skipped() const { return buf_[1]; }
  const std::vector<int64_t>& ks() const { return ks_; }

  size_t FlatSize() const { return buf_.size(); }
  double* flat() { return buf_.data(); }
  const double* flat() const { return buf_.data(); }

 private:
  std::vector<int64_t> ks_;
  std::vector<double> buf_;  // [users, skipped, then per K: kNumRankMetrics sums]
};

// Held-out ranking's metrics from positions: each query ranks its R relevant items among its
// candidates, ties already broken, and gives their 0-based positions p (sorted ascending). Per
// query, at each K:
//   hit@K = [min p < K]; recall@K = #{p < K} / R; precision@K = #{p < K} / K;
//   NDCG@K = sum over p < K of 1 / log2(p + 2), over the ideal sum for min(R, K) items at the top
//   (binary gains; with R = 1 it is the DCG of the one item);
// and MRR = 1 / (min p + 1) (no cut-off). set_metrics: recall and precision too (one list per
// user with all of the user's held-out items relevant); else hit and NDCG only (one query per
// held-out item). The state holds weighted sums and the weighted query count; Value divides.
class PositionRankingState {
 public:
  PositionRankingState(std::vector<int64_t> ks, bool set_metrics);
  // Metric names in report order: per K "hit_rate@K", ["recall@K", "precision@K",] "ndcg@K"; then
  // "mrr".
  std::vector<std::string> Names() const;
  // One query's values (unit weight) into out[0 .. FlatSize()), the last being its weight 1.
  void QueryContribution(const int64_t* positions, int64_t relevant, double* out) const;
  void AddContribution(const double* contribution, double weight);
  // Mean over queries of metric i of Names() (NaN without queries).
  double Value(size_t i) const;
  size_t FlatSize() const { return buf_.size(); }
  double* flat() { return buf_.data(); }

 private:
  std::vector<int64_t> ks_;
  bool set_metrics_;
  size_t per_k_;
  std::vector<double> buf_;  // [per K: per_k_ sums, mrr sum, weight]
};

// The rank of `pos` among scores[0..n) (pos included in the array), excluding the indices in
// `excluded` (sorted; pos is never excluded), ties broken by u in [0, 1): greater + floor(u x
// (equal + 1)), where equal counts other candidates with the same score.
int64_t RankWithTies(const double* scores, int64_t n, int64_t pos, const std::vector<int64_t>& excluded, double u);

// The positions (0 = top, sorted) of the `relevant` indices among scores[0..n), the indices in
// `excluded` left out: index c is above j when its score is higher, or equal with a higher tie[c]
// (then the lower index). Relevant items count for each other's positions.
std::vector<int64_t> PositionsWithTies(const double* scores, const double* tie, int64_t n,
                                       const std::vector<int64_t>& relevant, const std::vector<int64_t>& excluded);

// NDCG@k of one list with tie-averaged gains (scikit-learn's definition); 0 when no gain.
double NdcgAtK(const std::vector<double>& scores, const std::vector<uint8_t>& relevance, int64_t k);

}  // namespace recprism::metrics
