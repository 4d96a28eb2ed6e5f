// The sharded evaluator's internals, shared by its two halves: evaluator.cc (the catalogue,
// slices, the per-user pass and the merge) and evaluator_report.cc (finalizing the merged states
// into the Report). Internal to the eval module; the interface is evaluator.h.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "data/predictions.h"
#include "eval/options.h"
#include "eval/report.h"
#include "metrics/binary.h"
#include "metrics/exact_rank.h"
#include "metrics/ranking.h"

namespace recprism::eval::detail {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum Task { kCtr = 0, kCvr = 1, kCtcvr = 2, kNumTasks };
constexpr const char* kTaskName[] = {"ctr", "cvr", "ctcvr"};
constexpr const char* kTaskProtocol[] = {"impressions", "clicked_impressions", "impressions"};

// Per-K sums of a user's top-K list (ranked by p_ctr for the model, by the baseline's score for a
// baseline).
enum ListField : size_t { kSlots, kSumPctr, kClicks, kSumPctcvr, kConversions, kRevenue, kHitUsers, kIldSum, kIldUsers, kListN };
// Per-task group AUC sums.
enum GaucField : size_t { kGWeightedAuc, kGWeight, kGAucSum, kGUsers, kGSkipped, kGaucN };

// Offsets in a set's per-user sum vector.
struct UserLayout {
  size_t ranking = 0, nk = 0;
  size_t users = 0, active = 1, rank_ctr = 2, rank_ctcvr = 0, list = 0, gauc = 0, size = 0;
  UserLayout(size_t ranking_size, size_t num_k) : ranking(ranking_size), nk(num_k) {
    rank_ctcvr = rank_ctr + ranking;
    list = rank_ctcvr + ranking;
    gauc = list + nk * kListN;
    size = gauc + kNumTasks * kGaucN;
  }
  size_t List(size_t k, ListField f) const { return list + k * kListN + f; }
  size_t Gauc(int task, GaucField f) const { return gauc + static_cast<size_t>(task) * kGaucN + f; }
};

// One population's (or replicate's) states.
struct MetricSet {
  std::vector<metrics::BinaryState> binary;  // per task; empty for baselines
  std::vector<double> user;                  // UserLayout sums
};

struct Scalar {
  std::string dimension, task, name, protocol, method;
  double value = kNaN, n = 0;
};

struct SliceSpec {
  std::string name;
  bool user_level = false;
  std::vector<std::string> groups;
  size_t first_group = 0;  // index of its first group among all groups (0 = whole population)
};

inline double Div(double a, double b) { return b != 0 ? a / b : kNaN; }

// The mean of the finite values; NaN when there is none.
inline double FiniteMean(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v) {
    if (std::isfinite(x)) {
      sum += x;
      ++n;
    }
  }
  return n > 0 ? sum / n : kNaN;
}

class Evaluator {
 public:
  Evaluator(Communicator& comm, const EvalOptions& opt, const data::PredictionRows& rows, uint64_t seed)
      : comm_(comm), opt_(opt), rows_(rows), seed_(seed), reps_(std::max(0, opt.bootstrap_replicates)),
        ks_(opt.top_k), ranking_proto_(opt.top_k),
        layout_(ranking_proto_.FlatSize(), opt.top_k.size()) {}

  Report Run();

 private:
  void BuildCatalogue();
  void BuildSlices();
  void AllocateStates();
  struct Scratch;
  void UserPass();
  void UserSums(size_t b, size_t e, const std::vector<double>& rank_scores, const std::vector<double>& rank_scores_conv,
                bool model, Scratch& x) const;
  void PointwiseStates(size_t b, size_t e, const std::vector<size_t>& user_groups, Scratch& x);
  void ModelLists(size_t b, size_t e, const std::vector<size_t>& user_groups, Scratch& x);
  void BaselineLists(size_t b, size_t e, uint64_t user, Scratch& x);
  void Merge();
  Report Finalize();

  std::vector<Scalar> Extract(const MetricSet& s, bool model) const;
  void AddIntervals(MetricValue* mv, double center, const std::vector<double>& reps) const;
  void UseExactScan(MetricValue* mv) const;
  void EmitSets(Report* rep, const std::vector<MetricSet>& sets, const std::string& model, const std::string& slice,
                const std::string& group, bool overall, bool with_center) const;
  void EmitBaselines(Report* rep) const;
  void EmitSlices(Report* rep) const;
  void EmitSatisfaction(Report* rep) const;
  void AddWarnings(Report* rep) const;
  size_t NumSetsPerGroup() const { return reps_ > 0 ? static_cast<size_t>(reps_) + 2 : 1; }
  // The one definition of where replicate r lives. Per group the model's sets are [point, center,
  // replicate 0, ...] (the center holds the overall estimator at replicate resolution; slice
  // groups leave it empty); a baseline's are [point, replicate 0, ...].
  static size_t FirstRep(bool model) { return model ? 2 : 1; }
  // A task's sample space, score and label for a local row (docs/metrics.md).
  bool InTask(int t, size_t row) const { return t != kCvr || rows_.click[row] != 0; }
  double TaskScore(int t, size_t row) const {
    return t == kCtr ? rows_.p_ctr[row] : t == kCvr ? rows_.p_cvr[row] : rows_.p_ctcvr[row];
  }
  uint8_t TaskLabel(int t, size_t row) const { return t == kCtr ? rows_.click[row] : rows_.conversion[row]; }
  // fn(set, weight, is_point) for the point (weight 1), the center when with_center (weight 1),
  // and every replicate whose weight w[r] is not 0.
  template <typename Fn>
  void ForEachWeighted(std::vector<MetricSet>& sets, bool model, bool with_center, const std::vector<double>& w,
                       Fn&& fn) const {
    fn(sets[0], 1.0, true);
    if (reps_ == 0) return;
    if (with_center) fn(sets[1], 1.0, false);
    for (int r = 0; r < reps_; ++r) {
      const double wt = w[static_cast<size_t>(r)];
      if (wt != 0) fn(sets[FirstRep(model) + static_cast<size_t>(r)], wt, false);
    }
  }

  Communicator& comm_;
  const EvalOptions& opt_;
  const data::PredictionRows& rows_;
  uint64_t seed_;
  int reps_;
  std::vector<int64_t> ks_;
  metrics::RankingState ranking_proto_;
  UserLayout layout_;
  std::vector<int> tasks_;  // tasks present: ctr, and cvr + ctcvr when the file has conversions

  // Local rows grouped by user.
  std::vector<uint32_t> order_;                 // row indices sorted by user
  std::vector<std::pair<size_t, size_t>> users_;  // [begin, end) in order_
  // Global item catalogue.
  std::vector<uint64_t> catalogue_;
  std::vector<uint32_t> item_index_;  // per local row
  std::vector<double> popularity_;    // users who clicked the item, all ranks
  std::vector<uint8_t> head_;
  double population_ = 0;             // users in the data, all ranks
  std::string users_fingerprint_;
  // Slices.
  std::vector<SliceSpec> slices_;
  size_t num_groups_ = 1;
  std::vector<std::vector<uint32_t>> row_group_;  // per slice: group index of each local row
  // States: sets_[group][0] point, [1] center (overall only), [2 + r] replicate r.
  std::vector<std::vector<MetricSet>> sets_;
  // Baselines: base_[b][0] point, [1 + r] replicate r (user sums only).
  std::vector<std::string> baseline_names_;
  std::vector<std::vector<MetricSet>> base_;
  // Exposures per K over the catalogue: model point, model replicates (r * items + i), baselines.
  std::vector<std::vector<double>> exposure_;
  std::vector<std::vector<double>> exposure_reps_;
  bool exposure_intervals_ = false;
  std::vector<std::vector<std::vector<double>>> base_exposure_;
  // Baseline scores per local row (for the exact AUC scans).
  std::vector<std::vector<double>> base_score_;
  std::vector<metrics::ExactRankResult> exact_;                    // per task
  std::vector<std::vector<metrics::ExactRankResult>> base_exact_;  // per baseline, per task
  std::map<std::string, double> timings_;
};


}  // namespace recprism::eval::detail
