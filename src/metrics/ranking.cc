#include "metrics/ranking.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/check.h"

namespace recprism::metrics {
namespace {

double Discount(size_t position) { return 1.0 / std::log2(static_cast<double>(position) + 2.0); }

// DCG@k over `order` with the gain averaged within runs of equal score.
double TieAveragedDcg(const std::vector<double>& scores, const std::vector<uint8_t>& rel,
                      const std::vector<uint32_t>& order, size_t k) {
  double dcg = 0;
  size_t start = 0;
  while (start < order.size() && start < k) {
    size_t end = start + 1;
    while (end < order.size() && scores[order[end]] == scores[order[start]]) ++end;
    double gain = 0;
    for (size_t i = start; i < end; ++i) gain += rel[order[i]];
    double disc = 0;
    for (size_t i = start; i < std::min(end, k); ++i) disc += Discount(i);
    dcg += gain / static_cast<double>(end - start) * disc;
    start = end;
  }
  return dcg;
}

double IdealDcg(size_t relevant, size_t k) {
  double idcg = 0;
  for (size_t i = 0; i < std::min(relevant, k); ++i) idcg += Discount(i);
  return idcg;
}

}  // namespace

const char* RankMetricName(RankMetric m) {
  static constexpr const char* kNames[] = {"hit_rate", "recall", "precision", "ndcg", "mrr", "map"};
  return kNames[m];
}

void OrderByScore(const std::vector<double>& scores, const std::vector<uint64_t>& tiebreak,
                  std::vector<uint32_t>* order) {
  order->resize(scores.size());
  std::iota(order->begin(), order->end(), 0u);
  std::sort(order->begin(), order->end(), [&](uint32_t a, uint32_t b) {
    if (scores[a] != scores[b]) return scores[a] > scores[b];
    return tiebreak[a] < tiebreak[b];
  });
}

RankingState::RankingState(std::vector<int64_t> ks)
    : ks_(std::move(ks)), buf_(2 + ks_.size() * kNumRankMetrics, 0.0) {}

void RankingState::AddUser(const std::vector<double>& scores, const std::vector<uint8_t>& relevance,
                           const std::vector<uint32_t>& order, double weight) {
  std::vector<double> c(buf_.size());
  UserContribution(scores, relevance, order, c.data());
  for (size_t i = 0; i < buf_.size(); ++i) buf_[i] += weight * c[i];
}

void RankingState::UserContribution(const std::vector<double>& scores, const std::vector<uint8_t>& relevance,
                                    const std::vector<uint32_t>& order, double* out) const {
  std::fill(out, out + buf_.size(), 0.0);
  size_t relevant = 0;
  for (uint8_t r : relevance) relevant += r != 0;
  if (relevant == 0) {
    out[1] = 1;
    return;
  }
  out[0] = 1;
  for (size_t ki = 0; ki < ks_.size(); ++ki) {
    const auto k = static_cast<size_t>(ks_[ki]);
    double hits = 0, first = 0, ap = 0;
    for (size_t i = 0; i < std::min(k, order.size()); ++i) {
      if (!relevance[order[i]]) continue;
      hits += 1;
      if (first == 0) first = 1.0 / static_cast<double>(i + 1);
      ap += hits / static_cast<double>(i + 1);
    }
    double* s = out + 2 + ki * kNumRankMetrics;
    s[kHit] = hits > 0 ? 1.0 : 0.0;
    s[kRecall] = hits / static_cast<double>(relevant);
    s[kPrecision] = hits / static_cast<double>(k);
    s[kNdcg] = TieAveragedDcg(scores, relevance, order, k) / IdealDcg(relevant, k);
    s[kMrr] = first;
    s[kMap] = ap / static_cast<double>(std::min(k, relevant));
  }
}

void RankingState::Merge(const RankingState& other) {
  RP_CHECK(other.buf_.size() == buf_.size(), "RankingState::Merge: {} vs {} values", other.buf_.size(), buf_.size());
  for (size_t i = 0; i < buf_.size(); ++i) buf_[i] += other.buf_[i];
}

double RankingState::Value(size_t k_index, RankMetric m) const {
  if (buf_[0] <= 0) return std::numeric_limits<double>::quiet_NaN();
  return buf_[2 + k_index * kNumRankMetrics + m] / buf_[0];
}

double NdcgAtK(const std::vector<double>& scores, const std::vector<uint8_t>& relevance, int64_t k) {
  std::vector<uint32_t> order;
  OrderByScore(scores, std::vector<uint64_t>(scores.size(), 0), &order);
  size_t relevant = 0;
  for (uint8_t r : relevance) relevant += r != 0;
  if (relevant == 0) return 0.0;
  return TieAveragedDcg(scores, relevance, order, static_cast<size_t>(k)) / IdealDcg(relevant, static_cast<size_t>(k));
}

PositionRankingState::PositionRankingState(std::vector<int64_t> ks, bool set_metrics)
    : ks_(std::move(ks)), set_metrics_(set_metrics), per_k_(set_metrics ? 4 : 2),
      buf_(per_k_ * ks_.size() + 2, 0.0) {}

std::vector<std::string> PositionRankingState::Names() const {
  const std::vector<std::string> per_k = set_metrics_ ? std::vector<std::string>{"hit_rate", "recall", "precision", "ndcg"}
                                                      : std::vector<std::string>{"hit_rate", "ndcg"};
  std::vector<std::string> names;
  for (const int64_t k : ks_) {
    for (const auto& n : per_k) names.push_back(n + "@" + std::to_string(k));
  }
  names.push_back("mrr");
  return names;
}

void PositionRankingState::QueryContribution(const int64_t* p, int64_t n_rel, double* out) const {
  for (size_t k = 0; k < ks_.size(); ++k) {
    double hits = 0, dcg = 0, ideal = 0;
    for (int64_t r = 0; r < n_rel && p[r] < ks_[k]; ++r) {
      hits += 1;
      dcg += 1.0 / std::log2(static_cast<double>(p[r]) + 2.0);
    }
    for (int64_t r = 0; r < std::min(n_rel, ks_[k]); ++r) ideal += 1.0 / std::log2(static_cast<double>(r) + 2.0);
    double* o = out + k * per_k_;
    o[0] = hits > 0 ? 1.0 : 0.0;
    if (set_metrics_) {
      o[1] = hits / static_cast<double>(n_rel);
      o[2] = hits / static_cast<double>(ks_[k]);
      o[3] = dcg / ideal;
    } else {
      o[1] = dcg;  // one relevant item: the ideal DCG is 1
    }
  }
  out[buf_.size() - 2] = 1.0 / (static_cast<double>(p[0]) + 1.0);
  out[buf_.size() - 1] = 1.0;
}

void PositionRankingState::AddContribution(const double* c, double weight) {
  for (size_t i = 0; i < buf_.size(); ++i) buf_[i] += weight * c[i];
}

double PositionRankingState::Value(size_t i) const {
  const double w = buf_.back();
  return w > 0 ? buf_[i] / w : std::numeric_limits<double>::quiet_NaN();
}

int64_t RankWithTies(const double* scores, int64_t n, int64_t pos, const std::vector<int64_t>& excluded, double u) {
  const double s = scores[pos];
  int64_t greater = 0, equal = 0;
  for (int64_t i = 0; i < n; ++i) {
    greater += scores[i] > s;
    equal += scores[i] == s;
  }
  equal -= 1;  // the query's own item
  for (int64_t e : excluded) {
    if (e == pos) continue;
    greater -= scores[e] > s;
    equal -= scores[e] == s;
  }
  return greater + static_cast<int64_t>(std::floor(u * static_cast<double>(equal + 1)));
}

std::vector<int64_t> PositionsWithTies(const double* scores, const double* tie, int64_t n,
                                       const std::vector<int64_t>& relevant, const std::vector<int64_t>& excluded) {
  auto above = [&](int64_t c, int64_t j) {
    return scores[c] > scores[j] || (scores[c] == scores[j] && (tie[c] > tie[j] || (tie[c] == tie[j] && c < j)));
  };
  std::vector<int64_t> out;
  if (relevant.size() <= 16) {  // a count per relevant item: O(n R)
    for (int64_t j : relevant) {
      int64_t p = 0;
      for (int64_t c = 0; c < n; ++c) p += c != j && above(c, j);
      for (int64_t e : excluded) p -= e != j && above(e, j);
      out.push_back(p);
    }
  } else {  // many relevant items: sort the candidates once, O(n log n)
    std::vector<uint8_t> state(static_cast<size_t>(n), 0);  // 1 excluded, 2 relevant
    for (int64_t e : excluded) state[static_cast<size_t>(e)] = 1;
    for (int64_t j : relevant) state[static_cast<size_t>(j)] = 2;
    std::vector<int64_t> order;
    for (int64_t c = 0; c < n; ++c) {
      if (state[static_cast<size_t>(c)] != 1) order.push_back(c);
    }
    std::sort(order.begin(), order.end(), above);
    for (size_t k = 0; k < order.size(); ++k) {
      if (state[static_cast<size_t>(order[k])] == 2) out.push_back(static_cast<int64_t>(k));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace recprism::metrics
