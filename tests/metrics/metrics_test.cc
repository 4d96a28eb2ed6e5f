// Metric states: merge of random partitions equals the whole (STYLE.md §2), brute-force and
// hand-worked references from the published definitions, bootstrap coverage.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/hash.h"
#include "metrics/binary.h"
#include "metrics/bootstrap.h"
#include "metrics/exact_rank.h"
#include "metrics/ranking.h"
#include "metrics/satisfaction.h"

namespace recprism::metrics {
namespace {

struct Row {
  double p;
  int y;
};

std::vector<Row> RandomRows(size_t n, uint32_t seed, bool ties) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<Row> rows(n);
  for (auto& r : rows) {
    r.p = ties ? std::round(u(rng) * 20) / 20 : u(rng);
    r.y = u(rng) < 0.2 + 0.6 * r.p;
  }
  return rows;
}

void ExpectClose(double a, double b, double rel, const std::string& what) {
  if (std::isnan(a) || std::isnan(b)) {
    EXPECT_TRUE(std::isnan(a) && std::isnan(b)) << what << ": " << a << " vs " << b;
    return;
  }
  EXPECT_LE(std::fabs(a - b), rel * std::max(1.0, std::fabs(b))) << what << ": " << a << " vs " << b;
}

TEST(BinaryState, MergeOfRandomPartitionsEqualsWholeData) {
  for (uint32_t trial = 0; trial < 20; ++trial) {
    const auto rows = RandomRows(2000 + trial * 37, trial, trial % 2 == 0);
    std::mt19937 rng(trial);
    const int k = 2 + static_cast<int>(trial % 6);
    BinaryState whole(256, 10);
    std::vector<BinaryState> parts(static_cast<size_t>(k), BinaryState(256, 10));
    for (const auto& r : rows) {
      whole.Update(r.p, r.y);
      parts[rng() % static_cast<uint32_t>(k)].Update(r.p, r.y);
    }
    BinaryState merged(256, 10);
    for (const auto& p : parts) merged.Merge(p);
    const auto a = merged.Finalize(), b = whole.Finalize();
    EXPECT_EQ(a.count, b.count);  // counts: exact
    EXPECT_EQ(a.positives, b.positives);
    EXPECT_EQ(a.auc_hist, b.auc_hist);  // integer pair counts: exact
    ExpectClose(a.logloss, b.logloss, 1e-12, "logloss");
    ExpectClose(a.brier, b.brier, 1e-12, "brier");
    ExpectClose(a.ece, b.ece, 1e-12, "ece");
    ExpectClose(a.calibration, b.calibration, 1e-12, "calibration");
    ExpectClose(a.pr_auc_hist, b.pr_auc_hist, 1e-12, "pr_auc");
    EXPECT_EQ(a.f1, b.f1);
  }
}

TEST(BinaryState, HandWorkedExample) {
  // p = 0.9 (y=1), 0.6 (y=0), 0.4 (y=1), 0.1 (y=0).
  BinaryState s(1024, 10);
  s.Update(0.9, 1);
  s.Update(0.6, 0);
  s.Update(0.4, 1);
  s.Update(0.1, 0);
  const auto r = s.Finalize();
  EXPECT_DOUBLE_EQ(r.count, 4);
  EXPECT_DOUBLE_EQ(r.base_rate, 0.5);
  EXPECT_NEAR(r.logloss, -(std::log(0.9) + std::log(0.4) + std::log(0.4) + std::log(0.9)) / 4, 1e-15);
  EXPECT_NEAR(r.brier, (0.01 + 0.36 + 0.36 + 0.01) / 4, 1e-15);
  // At 0.5: tp = 1 (0.9), fp = 1 (0.6), fn = 1 (0.4), tn = 1 (0.1).
  EXPECT_DOUBLE_EQ(r.precision, 0.5);
  EXPECT_DOUBLE_EQ(r.recall, 0.5);
  EXPECT_DOUBLE_EQ(r.accuracy, 0.5);
  // Pairs (pos, neg): (0.9,0.6) (0.9,0.1) (0.4,0.1) correct, (0.4,0.6) wrong: AUC 3/4. Distinct bins.
  EXPECT_DOUBLE_EQ(r.auc_hist, 0.75);
  EXPECT_DOUBLE_EQ(r.auc_hist_error_bound, 0.0);
  EXPECT_NEAR(r.calibration, 0.5 / 0.5, 1e-15);
  // ECE: every point alone in its bin: mean |p - y| = (0.1 + 0.6 + 0.6 + 0.1) / 4.
  EXPECT_NEAR(r.ece, 0.35, 1e-15);
}

TEST(ExactRank, MatchesBruteForcePairCountingAndAveragePrecision) {
  for (uint32_t trial = 0; trial < 30; ++trial) {
    const auto rows = RandomRows(50 + trial * 7, 100 + trial, trial % 3 != 0);
    std::vector<ScoreRun> runs;
    double pos = 0, neg = 0;
    for (const auto& r : rows) {
      runs.push_back({r.p, static_cast<double>(r.y), static_cast<double>(1 - r.y)});
      pos += r.y;
      neg += 1 - r.y;
    }
    double pairs = 0;
    for (const auto& a : rows) {
      for (const auto& b : rows) {
        if (a.y == 1 && b.y == 0) pairs += a.p > b.p ? 1.0 : a.p == b.p ? 0.5 : 0.0;
      }
    }
    // AP by its definition: sum over positives of precision at their score (rows with score >= it).
    double ap = 0;
    std::vector<double> distinct;
    for (const auto& r : rows) distinct.push_back(r.p);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    double best_f1 = 0;
    for (double t : distinct) {
      double tp = 0, fp = 0, here = 0;
      for (const auto& r : rows) {
        if (r.p >= t) (r.y ? tp : fp) += 1;
        if (r.p == t && r.y) here += 1;
      }
      ap += here / pos * tp / (tp + fp);
      best_f1 = std::max(best_f1, 2 * tp / (tp + fp + pos));
    }
    const auto ex = ExactRank(runs);
    EXPECT_NEAR(ex.auc, pairs / (pos * neg), 1e-14);
    EXPECT_NEAR(ex.average_precision, ap, 1e-12);
    EXPECT_NEAR(ex.best_f1, best_f1, 1e-14);
  }
}

// Four paths: single rows with full doubles (16-byte keys), rows whose scores came from float32 or
// are multiples of 1/8 (the label packed into the keys' constant zero bits), and weighted runs.
TEST(ExactRank, RadixSortPathsMatchAComparisonSortWithNegativeScoresTiesAndWeights) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> u(-3, 3);
  for (int mode = 0; mode < 4; ++mode) {
    const bool weighted = mode == 1;
    std::vector<ScoreRun> runs;
    for (int i = 0; i < 50000; ++i) {
      double s = i % 4 == 0 ? std::round(u(rng) * 8) / 8 : u(rng);  // ties, negatives, -0/+0
      if (mode == 2) s = static_cast<double>(static_cast<float>(s));
      if (mode == 3) s = std::round(s * 8) / 8;
      const double w = weighted ? 1 + static_cast<double>(rng() % 3) : 1;
      runs.push_back(rng() % 3 == 0 ? ScoreRun{s, w, 0} : ScoreRun{s, 0, w});
    }
    runs.push_back({-0.0, 1, 0});
    runs.push_back({0.0, 0, 1});
    std::vector<ScoreRun> ref = runs;
    std::sort(ref.begin(), ref.end(), [](const ScoreRun& a, const ScoreRun& b) { return a.score < b.score; });
    std::vector<ScoreRun> merged;
    for (const auto& r : ref) {
      if (!merged.empty() && merged.back().score == r.score) {
        merged.back().pos += r.pos;
        merged.back().neg += r.neg;
      } else {
        merged.push_back(r);
      }
    }
    std::vector<ScoreRun> got = runs;
    SortAndCompress(&got);
    ASSERT_EQ(got.size(), merged.size()) << "mode " << mode;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].score, merged[i].score) << i;
      ASSERT_EQ(got[i].pos, merged[i].pos) << i;
      ASSERT_EQ(got[i].neg, merged[i].neg) << i;
    }
  }
}

// The scan of a merge it never builds equals, bit for bit, the scan of the built merge.
TEST(ExactRank, MergedPartitionScanEqualsScanningTheMergedRuns) {
  std::mt19937_64 rng(29);
  for (int k = 1; k <= 5; ++k) {
    std::vector<ScoreRun> all;
    std::vector<size_t> bounds = {0};
    for (int q = 0; q < k; ++q) {
      std::vector<ScoreRun> part;
      for (int i = 0; i < 3000; ++i) {
        const double score = static_cast<double>(rng() % 700) / 64 - 3;  // shared scores across parts
        part.push_back({score, static_cast<double>(rng() % 3) * 0.5, static_cast<double>(rng() % 2)});
      }
      SortAndCompress(&part);
      all.insert(all.end(), part.begin(), part.end());
      bounds.push_back(all.size());
    }
    std::vector<RunSpan> spans;
    for (int q = 0; q < k; ++q) spans.push_back({all.data() + bounds[q], bounds[q + 1] - bounds[q]});
    const PartitionScan got = ScanMergedPartition(spans, 3.5, 2, 7.25, 4000);
    std::vector<ScoreRun> merged = all;
    MergeSortedRuns(&merged, bounds);
    const PartitionScan want = ScanPartition(merged, 3.5, 2, 7.25, 4000);
    EXPECT_EQ(got.auc_pairs, want.auc_pairs) << k;
    EXPECT_EQ(got.ap_sum, want.ap_sum) << k;
    EXPECT_EQ(got.best_f1, want.best_f1) << k;
    EXPECT_EQ(got.best_threshold, want.best_threshold) << k;
    EXPECT_EQ(got.tp_at_best, want.tp_at_best) << k;
    EXPECT_EQ(got.fp_at_best, want.fp_at_best) << k;
  }
}

TEST(ExactRank, PartitionScansAddUpToTheWhole) {
  const auto rows = RandomRows(3000, 7, true);
  std::vector<ScoreRun> runs;
  for (const auto& r : rows) runs.push_back({r.p, static_cast<double>(r.y), static_cast<double>(1 - r.y)});
  SortAndCompress(&runs);
  double pos = 0, neg = 0;
  for (const auto& r : runs) pos += r.pos, neg += r.neg;
  const auto whole = ScanPartition(runs, 0, 0, 0, pos);
  for (size_t cut : {size_t{1}, runs.size() / 3, runs.size() / 2, runs.size() - 1}) {
    std::vector<ScoreRun> lo(runs.begin(), runs.begin() + static_cast<long>(cut)), hi(runs.begin() + static_cast<long>(cut), runs.end());
    double lo_pos = 0, lo_neg = 0, hi_pos = 0;
    for (const auto& r : lo) lo_pos += r.pos, lo_neg += r.neg;
    for (const auto& r : hi) hi_pos += r.pos;
    const auto a = ScanPartition(lo, 0, hi_pos, neg - lo_neg, pos);
    const auto b = ScanPartition(hi, lo_neg, 0, 0, pos);
    EXPECT_EQ(a.auc_pairs + b.auc_pairs, whole.auc_pairs);
    EXPECT_NEAR(a.ap_sum + b.ap_sum, whole.ap_sum, 1e-9);
    EXPECT_EQ(std::max(a.best_f1, b.best_f1), whole.best_f1);
  }
}

TEST(Ranking, HandWorkedListAtK3) {
  RankingState s({3});
  const std::vector<double> scores = {0.9, 0.8, 0.7, 0.6, 0.5};
  const std::vector<uint8_t> rel = {0, 1, 0, 1, 0};
  std::vector<uint32_t> order;
  OrderByScore(scores, {1, 2, 3, 4, 5}, &order);
  s.AddUser(scores, rel, order);
  EXPECT_DOUBLE_EQ(s.Value(0, kHit), 1.0);
  EXPECT_DOUBLE_EQ(s.Value(0, kRecall), 0.5);          // 1 of 2 relevant in the top 3
  EXPECT_DOUBLE_EQ(s.Value(0, kPrecision), 1.0 / 3);  // 1 hit / K
  EXPECT_DOUBLE_EQ(s.Value(0, kMrr), 0.5);             // first hit at rank 2
  EXPECT_DOUBLE_EQ(s.Value(0, kMap), 0.5 / 2);         // precision@2 = 1/2, over min(3, 2)
  const double dcg = 1 / std::log2(3.0), idcg = 1 + 1 / std::log2(3.0);
  EXPECT_NEAR(s.Value(0, kNdcg), dcg / idcg, 1e-15);
  // A user with nothing relevant is skipped, not counted as zero.
  s.AddUser(scores, {0, 0, 0, 0, 0}, order);
  EXPECT_DOUBLE_EQ(s.users(), 1);
  EXPECT_DOUBLE_EQ(s.skipped(), 1);
}

TEST(Ranking, NdcgAveragesGainOverTiedScores) {
  // Two tied candidates, one relevant, K = 1: the tied gain 1/2 at rank 1 (scikit-learn's rule).
  EXPECT_DOUBLE_EQ(NdcgAtK({0.5, 0.5}, {1, 0}, 1), 0.5);
  // Three tied, K = 2: gain 1/3 spread over the discounts of ranks 1 and 2.
  const double d = 1 + 1 / std::log2(3.0);
  EXPECT_NEAR(NdcgAtK({0.2, 0.2, 0.2}, {0, 1, 0}, 2), (d / 3) / 1.0, 1e-15);
}

TEST(Ranking, MergeOfRandomPartitionsOfUsersEqualsWhole) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  RankingState whole({1, 5, 10});
  std::vector<RankingState> parts(3, RankingState({1, 5, 10}));
  for (int user = 0; user < 300; ++user) {
    const size_t n = 2 + rng() % 30;
    std::vector<double> sc(n);
    std::vector<uint8_t> rel(n);
    std::vector<uint64_t> tb(n);
    for (size_t i = 0; i < n; ++i) sc[i] = u(rng), rel[i] = u(rng) < 0.2, tb[i] = i;
    std::vector<uint32_t> order;
    OrderByScore(sc, tb, &order);
    whole.AddUser(sc, rel, order);
    parts[rng() % 3].AddUser(sc, rel, order);
  }
  RankingState merged({1, 5, 10});
  for (const auto& p : parts) merged.Merge(p);
  EXPECT_EQ(merged.users(), whole.users());
  for (size_t k = 0; k < 3; ++k) {
    for (size_t m = 0; m < kNumRankMetrics; ++m) {
      ExpectClose(merged.Value(k, static_cast<RankMetric>(m)), whole.Value(k, static_cast<RankMetric>(m)), 1e-12,
                  RankMetricName(static_cast<RankMetric>(m)));
    }
  }
}

TEST(Satisfaction, HandWorkedExposureMetrics) {
  // Catalogue A, B, C, D. Lists (K = 2): u1 {A, B}, u2 {A, C}, u3 {A, B}.
  const std::vector<double> exposures = {3, 2, 1, 0};
  const std::vector<double> popularity = {3, 1, 0, 0};  // users who clicked each item; 3 users
  const auto head = HeadMask(popularity);                // top 20% of 4 items: A
  EXPECT_EQ(head, (std::vector<uint8_t>{1, 0, 0, 0}));
  const auto r = FinalizeSatisfaction(exposures, popularity, head, 3, 3, 2);
  EXPECT_DOUBLE_EQ(r.coverage, 0.75);
  EXPECT_NEAR(r.gini, 10.0 / 24.0, 1e-15);  // sum (2i - n - 1) x_(i) / (n sum x), x sorted = 0,1,2,3
  EXPECT_NEAR(r.entropy, 0.5 + std::log2(3.0) / 3 + std::log2(6.0) / 6, 1e-15);
  // Overlaps |Lu ∩ Lv| / K: (u1,u2) 1/2, (u1,u3) 1, (u2,u3) 1/2: mean 2/3.
  EXPECT_NEAR(r.personalization, 1.0 / 3.0, 1e-15);
  // Self-information -log2((pop + 1) / (users + 1)): A 0, B 1, C 2; exposure-weighted: (0*3 + 1*2 + 2*1) / 6.
  EXPECT_NEAR(r.novelty, 4.0 / 6.0, 1e-15);
  EXPECT_NEAR(r.mean_popularity, (3 * 3 + 2 * 1 + 1 * 0) / 6.0, 1e-15);
  EXPECT_NEAR(r.long_tail_share, 3.0 / 6.0, 1e-15);
}

TEST(Satisfaction, IntraListDiversityIsMeanPairwiseJaccardDistance) {
  const std::vector<uint64_t> a = {1}, b = {1, 2}, c = {3};
  EXPECT_NEAR(IntraListDiversity({&a, &b, &c}), (0.5 + 1 + 1) / 3, 1e-15);
  EXPECT_TRUE(std::isnan(IntraListDiversity({&a})));
}

TEST(Bootstrap, PoissonWeightsHaveMeanAndVarianceOneAndAreDeterministic) {
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int u = 0; u < n; ++u) {
    const int w = PoissonWeight(Fnv1a64(std::to_string(u)), 3, 42);
    EXPECT_EQ(w, PoissonWeight(Fnv1a64(std::to_string(u)), 3, 42));
    sum += w;
    sq += w * w;
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  EXPECT_NEAR(mean, 1.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
  // Replicates and seeds give different draws.
  int differ = 0;
  for (int u = 0; u < 1000; ++u) differ += PoissonWeight(u, 0, 42) != PoissonWeight(u, 1, 42);
  EXPECT_GT(differ, 400);
}

TEST(Bootstrap, ClusteredIntervalCoversTheTrueCtrNear95Percent) {
  // Users with correlated rows: p_u = sigmoid(logit(0.1) + N(0, 0.8)), 5..30 rows each. The true
  // CTR is E[p_u] (rows per user independent of p_u), computed from 2M draws.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> z(0, 0.8);
  auto draw_p = [&] { return 1 / (1 + std::exp(-(std::log(0.1 / 0.9) + z(rng)))); };
  double truth = 0;
  for (int i = 0; i < 2000000; ++i) truth += draw_p();
  truth /= 2000000;
  const int trials = 400, reps = 100;
  int covered = 0;
  std::uniform_real_distribution<double> u(0, 1);
  for (int t = 0; t < trials; ++t) {
    BinaryState point(16, 1);
    std::vector<BinaryState> rep(reps, BinaryState(16, 1));
    for (int user = 0; user < 150; ++user) {
      const double p = draw_p();
      const int rows = 5 + static_cast<int>(u(rng) * 26);
      const uint64_t key = Fnv1a64(std::to_string(t * 100000 + user));
      std::vector<double> w(reps);
      for (int r = 0; r < reps; ++r) w[r] = PoissonWeight(key, r, 7);
      for (int i = 0; i < rows; ++i) {
        const int y = u(rng) < p;
        const auto x = point.Prepare(0.1, y);
        point.Add(x, 1);
        for (int r = 0; r < reps; ++r) rep[r].Add(x, w[r]);
      }
    }
    const double est = point.Finalize().base_rate;
    std::vector<double> rv;
    for (const auto& s : rep) rv.push_back(s.Finalize().base_rate);
    const auto ci = BootstrapInterval(est, est, rv, 0.95);
    covered += ci.lo <= truth && truth <= ci.hi;
  }
  const double coverage = static_cast<double>(covered) / trials;
  // Binomial sd at 400 trials is about 1.1 points; a row-level bootstrap here covers about 80%.
  EXPECT_GE(coverage, 0.91) << "coverage " << coverage;
  EXPECT_LE(coverage, 0.985) << "coverage " << coverage;
}

TEST(Bootstrap, StudentTCriticalValuesMatchTheTables) {
  // scipy.stats.t.ppf(0.975, df) and t.ppf(0.95, df).
  const std::vector<std::pair<int, double>> t975 = {{1, 12.706204736}, {2, 4.302652730}, {3, 3.182446305},
                                                    {4, 2.776445105}, {5, 2.570581837}, {8, 2.306004135},
                                                    {30, 2.042272456}, {100, 1.983971518}};
  for (const auto& [df, t] : t975) EXPECT_NEAR(StudentTCritical(df, 0.95), t, 1e-8) << "df " << df;
  EXPECT_NEAR(StudentTCritical(3, 0.90), 2.353363435, 1e-8);
  EXPECT_NEAR(StudentTCentralMass(0, 7), 0.0, 1e-15);
  EXPECT_NEAR(StudentTCentralMass(1.0, 1), 0.5, 1e-15);  // Cauchy: P(|T| <= 1) = 1/2
  EXPECT_TRUE(std::isnan(StudentTCritical(0)));
}

TEST(Bootstrap, HolmAdjustmentOfAWorkedExample) {
  // Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06.
  const auto adj = HolmAdjust({0.01, 0.04, 0.03, 0.005});
  EXPECT_NEAR(adj[0], 0.03, 1e-15);
  EXPECT_NEAR(adj[1], 0.06, 1e-15);
  EXPECT_NEAR(adj[2], 0.06, 1e-15);
  EXPECT_NEAR(adj[3], 0.02, 1e-15);
}

TEST(Bootstrap, PairedPValueAndPercentileInterval) {
  // Replicates with standard deviation 1: a difference of 1.959964 is p = 0.05, of 0 is p = 1.
  std::vector<double> unit = {-1, 1, -1, 1, -1, 1, -1, 1};
  const double sd = std::sqrt(8.0 / 7.0);
  EXPECT_NEAR(PairedBootstrapPValue(1.959963985 * sd, unit), 0.05, 1e-9);
  EXPECT_DOUBLE_EQ(PairedBootstrapPValue(0, unit), 1.0);
  EXPECT_DOUBLE_EQ(PairedBootstrapPValue(0.3, std::vector<double>(5, 0.0)), 0.0);
  EXPECT_TRUE(std::isnan(PairedBootstrapPValue(0.3, {1.0})));
  // Percentile interval of 0..100 at 95%: 2.5 and 97.5, shifted by point - center.
  std::vector<double> v;
  for (int i = 0; i <= 100; ++i) v.push_back(i);
  const auto ci = BootstrapInterval(10, 50, v, 0.95);
  EXPECT_DOUBLE_EQ(ci.lo, 10 + 2.5 - 50);
  EXPECT_DOUBLE_EQ(ci.hi, 10 + 97.5 - 50);
}

}  // namespace
}  // namespace recprism::metrics

namespace recprism::metrics {
namespace {

TEST(PositionRankingState, HandWorkedSetAndSingleItemQueries) {
  // One user's list with its 2 relevant items at positions 0 and 2 (hand-worked):
  // @1: hit 1, recall 1/2, precision 1/1, NDCG 1 (ideal: one item at the top);
  // @3: hit 1, recall 1, precision 2/3, NDCG (1 + 1/log2 4) / (1 + 1/log2 3); MRR 1.
  PositionRankingState set({1, 3}, /*set_metrics=*/true);
  ASSERT_EQ(set.Names(), (std::vector<std::string>{"hit_rate@1", "recall@1", "precision@1", "ndcg@1", "hit_rate@3",
                                                    "recall@3", "precision@3", "ndcg@3", "mrr"}));
  std::vector<double> c(set.FlatSize());
  const int64_t positions[] = {0, 2};
  set.QueryContribution(positions, 2, c.data());
  set.AddContribution(c.data(), 2.0);  // a weight scales sums and count alike
  const std::vector<double> want = {1, 0.5, 1, 1, 1, 1, 2.0 / 3, 1.5 / (1 + 1 / std::log2(3.0)), 1};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(set.Value(i), want[i], 1e-12) << set.Names()[i];
  // One held-out item per query: hit and NDCG (the item's DCG), then MRR; two queries averaged.
  PositionRankingState one({5}, false);
  ASSERT_EQ(one.Names(), (std::vector<std::string>{"hit_rate@5", "ndcg@5", "mrr"}));
  for (int64_t p : {1, 7}) {
    one.QueryContribution(&p, 1, c.data());
    one.AddContribution(c.data(), 1.0);
  }
  EXPECT_NEAR(one.Value(0), 0.5, 1e-12);
  EXPECT_NEAR(one.Value(1), 0.5 / std::log2(3.0), 1e-12);
  EXPECT_NEAR(one.Value(2), (1.0 / 2 + 1.0 / 8) / 2, 1e-12);
  EXPECT_TRUE(std::isnan(PositionRankingState({5}, false).Value(0)));
}

}  // namespace
}  // namespace recprism::metrics
