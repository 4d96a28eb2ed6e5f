// The evaluator under threads-as-ranks (inproc): exact and identical at every world size; the
// report's JSON round trip, comparison and HTML escaping; the predictions reader's errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include <unistd.h>

#include "comm/inproc/inproc_comm.h"
#include "core/status.h"
#include "data/predictions.h"
#include "eval/evaluator.h"
#include "eval/exact_scan.h"
#include "eval/intervals.h"
#include "eval/leaderboard.h"
#include "eval/report_io.h"
#include "metrics/ranking.h"

namespace recprism::eval {
namespace {

CommOptions Options() {
  CommOptions o;
  o.timeout_s = 60;
  return o;
}

TEST(DistributedExactRank, EqualsTheSingleRankScanAtEveryWorldSizeWithTiesAndEmptyRanks) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<metrics::ScoreRun> all;
  for (int i = 0; i < 20000; ++i) {
    const double p = i % 3 == 0 ? std::round(u(rng) * 50) / 50 : u(rng);  // many ties
    const int y = u(rng) < p;
    all.push_back({p, static_cast<double>(y), static_cast<double>(1 - y)});
  }
  const auto ref = metrics::ExactRank(all);
  for (int world : {1, 2, 3, 4, 5}) {
    std::mutex mu;
    std::vector<metrics::ExactRankResult> got(static_cast<size_t>(world));
    RunInProc(world, Options(), [&](Communicator& c) {
      std::vector<metrics::ScoreRun> mine;
      // Rank 1 holds nothing when world > 2; the rest split rows round-robin.
      for (size_t i = 0; i < all.size(); ++i) {
        int owner = static_cast<int>(i % static_cast<size_t>(world));
        if (world > 2 && owner == 1) owner = 0;
        if (owner == c.Rank()) mine.push_back(all[i]);
      }
      auto r = DistributedExactRank(c, mine);
      std::lock_guard<std::mutex> lock(mu);
      got[static_cast<size_t>(c.Rank())] = r;
    });
    for (const auto& r : got) {
      EXPECT_EQ(r.auc, ref.auc) << "world " << world;  // integer pair counts: exact
      EXPECT_NEAR(r.average_precision, ref.average_precision, 1e-13) << "world " << world;
      EXPECT_EQ(r.best_f1, ref.best_f1) << "world " << world;
      EXPECT_EQ(r.best_threshold, ref.best_threshold) << "world " << world;
    }
  }
}

// Synthetic predictions: users with 3..40 candidates, user-level effects, categories, values.
struct Synthetic {
  std::vector<std::string> user, item, gender;
  std::vector<uint8_t> click, conv;
  std::vector<double> p_ctr, p_cvr, value;
  std::vector<std::vector<uint64_t>> cats;
};

Synthetic MakeSynthetic(int users, uint32_t seed) {
  Synthetic s;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (int us = 0; us < users; ++us) {
    const int n = 3 + static_cast<int>(u(rng) * 38);
    const double bias = u(rng) - 0.5;
    const std::string g = us % 3 == 0 ? "F" : "M";
    for (int k = 0; k < n; ++k) {
      const int it = static_cast<int>(std::pow(u(rng), 2) * 300);
      const double p = 1 / (1 + std::exp(-(bias + (150 - it) / 100.0 + (u(rng) - 0.5))));
      const uint8_t c = u(rng) < p;
      const uint8_t v = c && u(rng) < 0.3;
      s.user.push_back("u" + std::to_string(us));
      s.item.push_back("i" + std::to_string(it));
      s.gender.push_back(g);
      s.click.push_back(c);
      s.conv.push_back(v);
      s.p_ctr.push_back(std::round(p * 1000) / 1000);
      s.p_cvr.push_back(std::round((0.2 + 0.3 * u(rng)) * 1000) / 1000);
      s.value.push_back(1 + it % 17);
      s.cats.push_back({static_cast<uint64_t>(it % 7), static_cast<uint64_t>(10 + it % 3)});
    }
  }
  return s;
}

data::PredictionRows ShardOf(const Synthetic& s, int rank, int world) {
  data::PredictionRows r;
  r.has_conversion = r.has_value = r.has_category = true;
  r.slice_codes.resize(1);
  r.slice_values.resize(1);
  r.file_rows = static_cast<int64_t>(s.user.size());
  for (size_t i = 0; i < s.user.size(); ++i) {
    const uint64_t key = data::IdKey(s.user[i]);
    if (data::UserShard(key, world) != rank) continue;
    r.user.push_back(key);
    r.item.push_back(data::IdKey(s.item[i]));
    r.click.push_back(s.click[i]);
    r.conversion.push_back(s.conv[i]);
    r.p_ctr.push_back(s.p_ctr[i]);
    r.p_cvr.push_back(s.p_cvr[i]);
    r.p_ctcvr.push_back(s.p_ctr[i] * s.p_cvr[i]);
    r.value.push_back(s.value[i]);
    r.categories.insert(r.categories.end(), s.cats[i].begin(), s.cats[i].end());
    r.category_offsets.push_back(static_cast<uint32_t>(r.categories.size()));
    auto& vals = r.slice_values[0];
    auto it = std::find(vals.begin(), vals.end(), s.gender[i]);
    if (it == vals.end()) it = vals.insert(vals.end(), s.gender[i]);
    r.slice_codes[0].push_back(static_cast<uint32_t>(it - vals.begin()));
  }
  return r;
}

EvalOptions TestOptions() {
  EvalOptions o;
  o.top_k = {5, 10};
  o.slices = {"gender"};
  o.bootstrap_replicates = 30;
  o.min_slice_size = 50;
  return o;
}

Report EvaluateAt(const Synthetic& s, int world, const EvalOptions& o) {
  std::mutex mu;
  Report out;
  RunInProc(world, Options(), [&](Communicator& c) {
    auto rows = ShardOf(s, c.Rank(), world);
    Report r = EvaluatePredictions(c, o, rows, 42);
    std::lock_guard<std::mutex> lock(mu);
    if (c.Rank() == 0) out = std::move(r);
  });
  return out;
}

void ExpectSameReport(const Report& a, const Report& b, double tol, const std::string& what) {
  ASSERT_EQ(a.metrics.size(), b.metrics.size()) << what;
  for (size_t i = 0; i < a.metrics.size(); ++i) {
    const auto& x = a.metrics[i];
    const auto& y = b.metrics[i];
    ASSERT_EQ(x.Key(), y.Key()) << what;
    for (auto [p, q] : {std::pair{x.value, y.value}, {x.lo, y.lo}, {x.hi, y.hi}}) {
      if (std::isnan(p) || std::isnan(q)) {
        EXPECT_TRUE(std::isnan(p) && std::isnan(q)) << what << " " << x.Key();
      } else {
        EXPECT_LE(std::fabs(p - q), tol * std::max(1.0, std::fabs(p))) << what << " " << x.Key() << ": " << p << " vs " << q;
      }
    }
  }
}

TEST(EvaluatePredictions, TheSameReportAtWorldSizes1To4) {
  const auto s = MakeSynthetic(400, 9);
  const auto o = TestOptions();
  const Report one = EvaluateAt(s, 1, o);
  ASSERT_NE(one.Find("model", "ctr", "auc"), nullptr);
  ASSERT_NE(one.Find("model", "ctr", "auc", "gender", "F"), nullptr);
  EXPECT_TRUE(std::isfinite(one.Find("model", "ctr", "auc")->lo));
  for (int w : {2, 3, 4}) ExpectSameReport(one, EvaluateAt(s, w, o), 1e-12, "world " + std::to_string(w));
}

TEST(EvaluatePredictions, EverySliceReplicateIsARealResampleAndIntervalsBracketThePoint) {
  const Report r = EvaluateAt(MakeSynthetic(400, 6), 2, TestOptions());
  size_t checked = 0;
  for (const auto& m : r.metrics) {
    if (m.model != "model" || (m.name != "logloss" && m.name != "brier" && m.name != "observed_ctr")) continue;
    ASSERT_EQ(m.replicates.size(), 30u) << m.Key();
    // An empty replicate would read 0 (no rows), a delta of -value.
    for (double d : m.replicates) EXPECT_LT(std::fabs(d), 0.5 * std::fabs(m.value)) << m.Key();
    EXPECT_LE(m.lo, m.value) << m.Key();
    EXPECT_GE(m.hi, m.value) << m.Key();
    checked += m.slice != "all";
  }
  EXPECT_GT(checked, 10u);
}

TEST(EvaluatePredictions, UserCountDependentExposureStatisticsHaveIntervalsAroundThePoint) {
  // A replicate keeps about 63% of the users, so its coverage is lower and its Gini higher than
  // the point: a percentile interval around the point would miss it. Centred on the replicate
  // mean, the interval brackets the point.
  const Report r = EvaluateAt(MakeSynthetic(400, 6), 2, TestOptions());
  for (const char* name : {"coverage@5", "gini@5", "entropy@5", "personalization@5", "coverage@10"}) {
    const auto* m = r.Find("model", "", name);
    ASSERT_NE(m, nullptr) << name;
    ASSERT_EQ(m->replicates.size(), 30u) << name;
    double mean = 0;
    for (double d : m->replicates) mean += d / 30;
    EXPECT_NEAR(mean, 0, 1e-9) << name;
    EXPECT_LT(m->lo, m->value) << name;
    EXPECT_GT(m->hi, m->value) << name;
    EXPECT_NE(m->method.find("replicate mean"), std::string::npos) << name;
  }
  // Means over exposures (novelty) keep the interval around the unit-weight value.
  const auto* novelty = r.Find("model", "", "novelty@5");
  ASSERT_NE(novelty, nullptr);
  EXPECT_EQ(novelty->method.find("replicate mean"), std::string::npos);
}

TEST(EvaluatePredictions, ExactAucMatchesTheSingleScanAndTheIntervalBracketsIt) {
  const auto s = MakeSynthetic(300, 2);
  const Report r = EvaluateAt(s, 3, TestOptions());
  std::vector<metrics::ScoreRun> runs;
  for (size_t i = 0; i < s.user.size(); ++i) runs.push_back({s.p_ctr[i], double(s.click[i]), double(1 - s.click[i])});
  const auto* auc = r.Find("model", "ctr", "auc");
  EXPECT_EQ(auc->value, metrics::ExactRank(runs).auc);
  EXPECT_LT(auc->lo, auc->value);
  EXPECT_GT(auc->hi, auc->value);
  // The popularity baseline is scored on the same users.
  EXPECT_NE(r.Find("popularity", "ctr", "ndcg@5"), nullptr);
  EXPECT_NE(r.Find("model", "ctr", "lift_vs_popularity:clicks_per_1000@5"), nullptr);
}

TEST(EvaluatePredictions, IntervalsStayInTheMetricsRangeAndEmptyReplicatesAreLeftOut) {
  // One user: about e^-1 of the replicates draw no user at all. They used to count as 0 (logloss
  // 0.52 [0.00, 0.52]); left out, every other replicate is the point itself.
  const auto one = MakeSynthetic(1, 3);
  EvalOptions o = TestOptions();
  o.bootstrap_replicates = 40;
  const Report r = EvaluateAt(one, 1, o);
  for (const char* name : {"logloss", "brier", "observed_ctr"}) {
    const auto* m = r.Find("model", "ctr", name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_NEAR(m->lo, m->value, 1e-12) << name;
    EXPECT_NEAR(m->hi, m->value, 1e-12) << name;
    size_t empty = 0;
    for (double d : m->replicates) empty += std::isnan(d);
    EXPECT_GT(empty, 5u) << name;
    EXPECT_LT(empty, 30u) << name;
    EXPECT_NE(m->method.find(std::to_string(empty) + " of 40 replicates left out"), std::string::npos) << m->method;
  }
  // Every interval lies inside its metric's range, on a small population whose coverage is near 1.
  const Report small = EvaluateAt(MakeSynthetic(12, 5), 2, o);
  size_t bounded = 0;
  for (const Report* rep : {&r, &small}) {
    for (const auto& m : rep->metrics) {
      const auto [lo, hi] = MetricRange(m.name);
      if (std::isfinite(m.lo)) {
        EXPECT_GE(m.lo, lo) << m.Key();
      }
      if (std::isfinite(m.hi)) {
        EXPECT_LE(m.hi, hi) << m.Key();
      }
      bounded += std::isfinite(lo) && std::isfinite(m.lo);
    }
  }
  EXPECT_GT(bounded, 100u);
  // Replicates spread past a bound: the shifted percentile interval is clipped to the range.
  MetricValue near_one = MakeMetric("satisfaction", "", "coverage@10", "candidates", 0.99, 50, "exact");
  SetInterval(&near_one, 0.99, {0.95, 0.97, 0.99, 1.01, 1.03, 1.05}, 0.95);
  EXPECT_DOUBLE_EQ(near_one.hi, 1.0);
  EXPECT_GT(near_one.lo, 0.9);
  MetricValue lift = MakeMetric("business", "ctr", "lift_vs_popularity:hit_rate@10", "candidates", -0.9, 50, "");
  SetInterval(&lift, -0.9, {-1.2, -1.1, -0.9, -0.7}, 0.95);
  EXPECT_DOUBLE_EQ(lift.lo, -1.0);
  EXPECT_EQ(MetricRange("coverage@10"), std::make_pair(0.0, 1.0));
  EXPECT_EQ(MetricRange("clicks_per_1000@5"), std::make_pair(0.0, 1000.0));
  EXPECT_EQ(MetricRange("lift_vs_popularity:ndcg@5").first, -1.0);
  EXPECT_EQ(MetricRange("logloss").first, 0.0);
}

TEST(Report, JsonRoundTripKeepsEveryValueAndInterval) {
  const Report r = EvaluateAt(MakeSynthetic(120, 4), 2, TestOptions());
  const Report back = ReportFromJson(ReportToJson(r), "mem");
  ExpectSameReport(r, back, 0, "round trip");
  EXPECT_EQ(back.replicates, r.replicates);
  EXPECT_THROW(ReportFromJson("{\"format\": \"recprism-report\", \"version\": 99}", "x.json"), Error);
  EXPECT_THROW(ReportFromJson("not json", "x.json"), Error);
}

TEST(Compare, AReportAgainstItselfHasNoDifferenceAndDifferentUsersAreRefused) {
  const auto o = TestOptions();
  const Report a = EvaluateAt(MakeSynthetic(150, 4), 1, o);
  const Report c = CompareReports(a, a, "a", "a");
  ASSERT_FALSE(c.metrics.empty());
  for (const auto& m : c.metrics) {
    if (std::isfinite(m.value)) {
      EXPECT_EQ(m.value, 0.0) << m.Key();
    }
  }
  const Report b = EvaluateAt(MakeSynthetic(151, 4), 1, o);
  try {
    CompareReports(a, b, "runA", "runB");
    FAIL() << "different users must not be paired";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("users_fingerprint"), std::string::npos) << e.what();
  }
}

TEST(Compare, ABetterModelIsSignificantlyBetter) {
  auto s = MakeSynthetic(300, 8);
  const auto o = TestOptions();
  const Report good = EvaluateAt(s, 1, o);
  for (size_t i = 0; i < s.p_ctr.size(); ++i) s.p_ctr[i] = 0.5 * s.p_ctr[i] + 0.5 * ((i * 7919) % 1000) / 1000.0;
  const Report noisy = EvaluateAt(s, 1, o);
  const Report c = CompareReports(good, noisy, "good", "noisy");
  const MetricValue* auc = c.Find("model", "ctr", "auc");
  ASSERT_NE(auc, nullptr);
  EXPECT_GT(auc->value, 0);
  EXPECT_GT(auc->lo, 0);
  EXPECT_LT(auc->extra.at("p_holm"), 0.05);
}

TEST(Report, HtmlEscapesEveryStringFromData) {
  Report r = EvaluateAt(MakeSynthetic(80, 1), 1, TestOptions());
  r.provenance["input"] = "</script><img src=x onerror=alert(1)>&";
  r.warnings.push_back("<b>bold</b>");
  const std::string html = ReportToHtml(r);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  EXPECT_EQ(html.find("<b>bold"), std::string::npos);
  EXPECT_NE(html.find("\\u003c/script\\u003e\\u003cimg"), std::string::npos);
  EXPECT_EQ(html.find("__RECPRISM_REPORT_JSON__"), std::string::npos);
  const std::string md = ReportToMarkdown(r);
  EXPECT_NE(md.find("## Model quality"), std::string::npos);
}

// ---- the predictions reader ----

}  // namespace
}  // namespace recprism::eval

// Held-out ranking's rank: candidates above, plus a uniform draw over the tied ones, with the
// user's other positives left out (hand-worked).
TEST(HeldOutRanking, PositionsOfASetCountEveryCandidateAboveIncludingOtherRelevantOnes) {
  // Scores by index; relevant {0, 3}. Index 3 (0.5) is tied with 0 and 5; ties go to the higher key.
  const std::vector<double> s = {0.5, 0.9, 0.1, 0.5, 0.7, 0.5};
  const std::vector<double> tie = {0.2, 0.0, 0.0, 0.6, 0.0, 0.4};
  // Above 0: 0.9, 0.7, and the tied 3 and 5 (higher keys) = 4. Above 3: 0.9, 0.7 = 2.
  EXPECT_EQ(recprism::metrics::PositionsWithTies(s.data(), tie.data(), 6, {0, 3}, {}), (std::vector<int64_t>{2, 4}));
  // Excluding 1 and 5: above 0 are 4 and 3 (2); above 3 is 4 (1).
  EXPECT_EQ(recprism::metrics::PositionsWithTies(s.data(), tie.data(), 6, {0, 3}, {1, 5}), (std::vector<int64_t>{1, 2}));
  // Equal keys fall back to the index, so positions are a permutation: n items take 0..n-1.
  const std::vector<double> flat(5, 1.0), zero(5, 0.0);
  EXPECT_EQ(recprism::metrics::PositionsWithTies(flat.data(), zero.data(), 5, {4, 0, 2}, {}), (std::vector<int64_t>{0, 2, 4}));
  // More than 16 relevant items take the sorting path: the same positions as counting them one by one.
  std::mt19937_64 rng(3);
  std::vector<double> sc(300), tk(300);
  for (size_t i = 0; i < sc.size(); ++i) {
    sc[i] = static_cast<double>(rng() % 20);  // many ties
    tk[i] = static_cast<double>(rng() % 7) / 7;
  }
  std::vector<int64_t> rel, exc;
  for (int64_t i = 0; i < 300; ++i) {
    if (i % 5 == 0) rel.push_back(i);
    else if (i % 7 == 0) exc.push_back(i);
  }
  std::vector<int64_t> want;
  for (int64_t j : rel) {
    int64_t p = 0;
    for (int64_t c = 0; c < 300; ++c) {
      if (c == j || std::find(exc.begin(), exc.end(), c) != exc.end()) continue;
      p += sc[c] > sc[j] || (sc[c] == sc[j] && (tk[c] > tk[j] || (tk[c] == tk[j] && c < j)));
    }
    want.push_back(p);
  }
  std::sort(want.begin(), want.end());
  EXPECT_EQ(recprism::metrics::PositionsWithTies(sc.data(), tk.data(), 300, rel, exc), want);
}

TEST(HeldOutRanking, RankCountsHigherScoresAndBreaksTiesUniformly) {
  const std::vector<double> s = {0.5, 0.9, 0.1, 0.5, 0.7, 0.5};  // the query's item is index 0
  // Above: 0.9 and 0.7 (2). Tied: indices 3 and 5 (2 others), so the rank is 2 + floor(u x 3).
  EXPECT_EQ(recprism::metrics::RankWithTies(s.data(), 6, 0, {}, 0.0), 2);
  EXPECT_EQ(recprism::metrics::RankWithTies(s.data(), 6, 0, {}, 0.34), 3);
  EXPECT_EQ(recprism::metrics::RankWithTies(s.data(), 6, 0, {}, 0.999), 4);
  // Excluding index 1 (a higher one) and 5 (a tied one): 1 above, 1 tied.
  EXPECT_EQ(recprism::metrics::RankWithTies(s.data(), 6, 0, {1, 5}, 0.0), 1);
  EXPECT_EQ(recprism::metrics::RankWithTies(s.data(), 6, 0, {1, 5}, 0.6), 2);
  // The query's own index in `excluded` is ignored; the best item ranks 0.
  EXPECT_EQ(recprism::metrics::RankWithTies(s.data(), 6, 1, {1}, 0.5), 0);
  // A constant model: every rank in [0, n) equally likely, mean (n - 1) / 2 as a random ranker's.
  const std::vector<double> flat(100, 1.0);
  double mean = 0;
  for (int i = 0; i < 1000; ++i) mean += static_cast<double>(recprism::metrics::RankWithTies(flat.data(), 100, 7, {}, (i + 0.5) / 1000));
  EXPECT_NEAR(mean / 1000, 49.5, 1e-9);
}

namespace recprism::eval {
namespace {

TEST(Leaderboard, SeedGroupsAreTheOtherKeysConfigurationsWithTIntervalsOverSeeds) {
  // Two configurations (lr 0.1 and 0.2) x three seeds; one seed of lr 0.2 failed (NaN).
  std::vector<LeaderboardRun> runs;
  const double values[2][3] = {{1, 2, 3}, {5, NAN, 7}};
  for (int c = 0; c < 2; ++c) {
    for (int seed = 1; seed <= 3; ++seed) {
      LeaderboardRun r;
      r.id = "r" + std::to_string(c) + std::to_string(seed);
      r.value = values[c][seed - 1];
      r.swept = {{"train.lr", c == 0 ? "0.1" : "0.2"}, {"run.seed", std::to_string(seed)}};
      runs.push_back(r);
    }
  }
  const auto groups = GroupSeeds(runs, {"train.lr", "run.seed"});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].values, std::vector<std::string>{"0.1"});
  EXPECT_EQ(groups[0].runs, 3);
  EXPECT_DOUBLE_EQ(groups[0].mean, 2.0);
  EXPECT_DOUBLE_EQ(groups[0].sd, 1.0);
  // Student's t with 2 degrees of freedom: 4.302653; half-width t x sd / sqrt(3).
  EXPECT_NEAR(groups[0].hi - groups[0].mean, 4.302653 / std::sqrt(3.0), 1e-5);
  EXPECT_EQ(groups[1].done.size(), 2u);
  EXPECT_DOUBLE_EQ(groups[1].mean, 6.0);
  EXPECT_DOUBLE_EQ(groups[1].min, 5.0);
  EXPECT_DOUBLE_EQ(groups[1].max, 7.0);
}

}  // namespace
}  // namespace recprism::eval
