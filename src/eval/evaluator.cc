#include "eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include "comm/collectives.h"
#include "core/check.h"
#include "core/hash.h"
#include "core/log.h"
#include "eval/exact_scan.h"
#include "eval/fused_sum.h"
#include "eval/intervals.h"
#include "eval/report_views.h"
#include "metrics/binary.h"
#include "metrics/bootstrap.h"
#include "metrics/exact_rank.h"
#include "metrics/ranking.h"
#include "metrics/satisfaction.h"

namespace recprism::eval {
namespace {

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

double Div(double a, double b) { return b != 0 ? a / b : kNaN; }

// The mean of the finite values; NaN when there is none.
double FiniteMean(const std::vector<double>& v) {
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

std::string ActivityBucket(size_t rows) {
  if (rows < 5) return "01-04 rows";
  if (rows < 10) return "05-09 rows";
  if (rows < 20) return "10-19 rows";
  if (rows < 50) return "20-49 rows";
  if (rows < 100) return "50-99 rows";
  return "100+ rows";
}
const std::vector<std::string> kActivityBuckets = {"01-04 rows", "05-09 rows", "10-19 rows",
                                                   "20-49 rows", "50-99 rows", "100+ rows"};

// Union of every rank's strings, sorted (collective).
std::vector<std::string> AllGatherStrings(Communicator& comm, const std::vector<std::string>& mine) {
  std::vector<uint8_t> bytes;
  for (const auto& s : mine) {
    bytes.insert(bytes.end(), s.begin(), s.end());
    bytes.push_back(0);
  }
  std::vector<uint8_t> all = AllGatherV(comm, bytes);
  std::set<std::string> uniq;
  std::string cur;
  for (uint8_t b : all) {
    if (b == 0) {
      uniq.insert(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(b));
    }
  }
  return {uniq.begin(), uniq.end()};
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

void Evaluator::BuildCatalogue() {
  const size_t n = rows_.size();
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0u);
  std::stable_sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) { return rows_.user[a] < rows_.user[b]; });
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && rows_.user[order_[j]] == rows_.user[order_[i]]) ++j;
    users_.emplace_back(i, j);
    i = j;
  }
  std::vector<uint64_t> local(rows_.item.begin(), rows_.item.end());
  std::sort(local.begin(), local.end());
  local.erase(std::unique(local.begin(), local.end()), local.end());
  std::vector<int64_t> mine(local.size());
  std::memcpy(mine.data(), local.data(), local.size() * sizeof(uint64_t));
  std::vector<int64_t> all = AllGatherV(comm_, mine);
  catalogue_.resize(all.size());
  std::memcpy(catalogue_.data(), all.data(), all.size() * sizeof(uint64_t));
  std::sort(catalogue_.begin(), catalogue_.end());
  catalogue_.erase(std::unique(catalogue_.begin(), catalogue_.end()), catalogue_.end());
  item_index_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    item_index_[i] = static_cast<uint32_t>(std::lower_bound(catalogue_.begin(), catalogue_.end(), rows_.item[i]) -
                                           catalogue_.begin());
  }
  // Popularity: users who clicked the item (a user counts once per item).
  popularity_.assign(catalogue_.size(), 0.0);
  std::vector<uint32_t> clicked;
  for (const auto& [b, e] : users_) {
    clicked.clear();
    for (size_t k = b; k < e; ++k) {
      if (rows_.click[order_[k]]) clicked.push_back(item_index_[order_[k]]);
    }
    std::sort(clicked.begin(), clicked.end());
    clicked.erase(std::unique(clicked.begin(), clicked.end()), clicked.end());
    for (uint32_t i : clicked) popularity_[i] += 1;
  }
  std::vector<double> counts = popularity_;
  counts.push_back(static_cast<double>(users_.size()));
  AllReduce(comm_, counts, ReduceOp::kSum);
  population_ = counts.back();
  counts.pop_back();
  std::vector<uint64_t> keys;
  keys.reserve(users_.size());
  for (const auto& ue : users_) keys.push_back(rows_.user[order_[ue.first]]);
  users_fingerprint_ = UsersFingerprint(comm_, keys);
  popularity_ = std::move(counts);
  head_ = metrics::HeadMask(popularity_);
}

void Evaluator::BuildSlices() {
  const size_t n = rows_.size();
  // Built-in: user activity (user level) and item popularity (row level).
  SliceSpec activity{"user_activity", true, kActivityBuckets, 0};
  SliceSpec popularity{"item_popularity", false, {"head", "tail"}, 0};
  std::vector<uint32_t> act(n), pop(n);
  for (const auto& [b, e] : users_) {
    const std::string bucket = ActivityBucket(e - b);
    const auto code = static_cast<uint32_t>(std::find(kActivityBuckets.begin(), kActivityBuckets.end(), bucket) -
                                            kActivityBuckets.begin());
    for (size_t k = b; k < e; ++k) act[order_[k]] = code;
  }
  for (size_t i = 0; i < n; ++i) pop[i] = head_[item_index_[i]] ? 0 : 1;
  slices_.push_back(activity);
  row_group_.push_back(std::move(act));
  slices_.push_back(popularity);
  row_group_.push_back(std::move(pop));
  // Extra columns: agree the values, then whether each is constant within every user.
  for (size_t s = 0; s < rows_.slice_values.size(); ++s) {
    SliceSpec spec;
    spec.name = opt_.slices[s];
    spec.groups = AllGatherStrings(comm_, rows_.slice_values[s]);
    std::vector<uint32_t> remap(rows_.slice_values[s].size());
    for (size_t c = 0; c < remap.size(); ++c) {
      remap[c] = static_cast<uint32_t>(std::lower_bound(spec.groups.begin(), spec.groups.end(), rows_.slice_values[s][c]) -
                                       spec.groups.begin());
    }
    std::vector<uint32_t> g(n);
    for (size_t i = 0; i < n; ++i) g[i] = remap[rows_.slice_codes[s][i]];
    int32_t constant = 1;
    for (const auto& [b, e] : users_) {
      for (size_t k = b + 1; k < e && constant; ++k) constant = g[order_[k]] == g[order_[b]];
    }
    spec.user_level = AllReduceScalar<int32_t>(comm_, constant, ReduceOp::kMin) == 1;
    slices_.push_back(std::move(spec));
    row_group_.push_back(std::move(g));
  }
  num_groups_ = 1;
  for (auto& s : slices_) {
    s.first_group = num_groups_;
    num_groups_ += s.groups.size();
  }
}

void Evaluator::AllocateStates() {
  auto make = [&](int bins, bool binary) {
    MetricSet s;
    if (binary) {
      for (int t = 0; t < kNumTasks; ++t) s.binary.emplace_back(bins, opt_.calibration_bins);
    }
    s.user.assign(layout_.size, 0.0);
    return s;
  };
  sets_.resize(num_groups_);
  for (size_t g = 0; g < num_groups_; ++g) {
    sets_[g].push_back(make(g == 0 ? opt_.histogram_bins : opt_.replicate_bins, true));
    if (reps_ > 0) {
      for (size_t j = 1; j < NumSetsPerGroup(); ++j) sets_[g].push_back(make(opt_.replicate_bins, true));
    }
  }
  if (opt_.baselines) baseline_names_ = {"popularity", "random"};
  base_.resize(baseline_names_.size());
  for (auto& b : base_) {
    for (int j = 0; j < 1 + reps_; ++j) b.push_back(make(0, false));
  }
  const size_t items = catalogue_.size();
  exposure_.assign(ks_.size(), std::vector<double>(items, 0.0));
  exposure_intervals_ = reps_ > 0 && static_cast<int64_t>(items) * reps_ <= opt_.max_exposure_cells;
  if (exposure_intervals_) exposure_reps_.assign(ks_.size(), std::vector<double>(items * static_cast<size_t>(reps_), 0.0));
  base_exposure_.assign(baseline_names_.size(), std::vector<std::vector<double>>(ks_.size(), std::vector<double>(items, 0.0)));
  base_score_.assign(baseline_names_.size(), std::vector<double>(rows_.size(), 0.0));
}

// Per-user scratch buffers of the user pass, reused across users (no allocation per user).
struct Evaluator::Scratch {
  std::vector<double> w;     // the user's weight in each replicate
  std::vector<double> uvec;  // the user's UserLayout sums for one ranking
  std::vector<double> scores, pctcvr;
  std::vector<uint8_t> rel_click, rel_conv;
  std::vector<uint64_t> tiebreak;
  std::vector<uint32_t> order, order_ctcvr;
  std::vector<size_t> groups;
  std::vector<const std::vector<uint64_t>*> cats;
  std::vector<std::vector<uint64_t>> row_cats;
  std::vector<metrics::ScoreRun> gauc_runs;
  std::vector<uint32_t> clicked_items;  // the user's clicked catalogue indices, sorted
  std::unique_ptr<metrics::BinaryState> coarse;  // prepares updates at the replicate resolution
};

// The user's per-user sums (x.uvec) for one ranking of its candidates [b, e) of order_: ranking
// metrics per relevance, the top-K lists' sums, and group AUC per task. model: the model's own
// scores (GAUC uses each task's score), else a baseline's (rank_scores for every task).
void Evaluator::UserSums(size_t b, size_t e, const std::vector<double>& rank_scores,
                         const std::vector<double>& rank_scores_conv, bool model, Scratch& x) const {
  const bool conv = rows_.has_conversion;
  const size_t n = e - b;
  std::fill(x.uvec.begin(), x.uvec.end(), 0.0);
  x.uvec[layout_.users] = 1;
  for (size_t k = 0; k < n; ++k) x.uvec[layout_.active] = std::max<double>(x.uvec[layout_.active], x.rel_click[k]);
  metrics::OrderByScore(rank_scores, x.tiebreak, &x.order);
  ranking_proto_.UserContribution(rank_scores, x.rel_click, x.order, x.uvec.data() + layout_.rank_ctr);
  if (conv) {
    metrics::OrderByScore(rank_scores_conv, x.tiebreak, &x.order_ctcvr);
    ranking_proto_.UserContribution(rank_scores_conv, x.rel_conv, x.order_ctcvr, x.uvec.data() + layout_.rank_ctcvr);
  }
  for (size_t ki = 0; ki < ks_.size(); ++ki) {
    const size_t top = std::min(static_cast<size_t>(ks_[ki]), n);
    double* l = x.uvec.data() + layout_.List(ki, kSlots);
    x.cats.clear();
    for (size_t q = 0; q < top; ++q) {
      const uint32_t row = order_[b + x.order[q]];
      l[kSlots] += 1;
      l[kSumPctr] += rows_.p_ctr[row];
      l[kClicks] += rows_.click[row];
      if (conv) {
        l[kSumPctcvr] += rows_.p_ctcvr[row];
        l[kConversions] += rows_.conversion[row];
        if (rows_.has_value) l[kRevenue] += rows_.value[row] * rows_.conversion[row];
      }
      if (rows_.has_category) x.cats.push_back(&x.row_cats[x.order[q]]);
    }
    for (size_t q = 0; q < top; ++q) {
      if (x.rel_click[x.order[q]]) {
        l[kHitUsers] = 1;
        break;
      }
    }
    if (rows_.has_category && x.cats.size() >= 2) {
      l[kIldSum] += metrics::IntraListDiversity(x.cats);
      l[kIldUsers] += 1;
    }
  }
  // Group AUC per task: the user's own rows of the task's sample space.
  for (int t : tasks_) {
    auto& runs = x.gauc_runs;
    runs.clear();
    for (size_t k = 0; k < n; ++k) {
      const uint32_t row = order_[b + k];
      if (!InTask(t, row)) continue;
      const double s = !model ? (t == kCtr ? rank_scores[k] : rank_scores_conv[k]) : TaskScore(t, row);
      const uint8_t y = TaskLabel(t, row);
      runs.push_back({s, static_cast<double>(y), static_cast<double>(1 - y)});
    }
    if (runs.empty()) continue;
    const auto nrows = static_cast<double>(runs.size());  // the user's rows in this task (before compression)
    metrics::SortAndCompress(&runs);
    double pos = 0, neg = 0;
    for (const auto& r : runs) pos += r.pos, neg += r.neg;
    const auto r = metrics::FinalizeExact(metrics::ScanPartition(runs, 0, 0, 0, pos), pos, neg);
    if (std::isfinite(r.auc)) {
      x.uvec[layout_.Gauc(t, kGWeightedAuc)] += nrows * r.auc;
      x.uvec[layout_.Gauc(t, kGWeight)] += nrows;
      x.uvec[layout_.Gauc(t, kGAucSum)] += r.auc;
      x.uvec[layout_.Gauc(t, kGUsers)] += 1;
    } else {
      x.uvec[layout_.Gauc(t, kGSkipped)] += 1;
    }
  }
}

// The point-wise states of the user's rows [b, e): every task's binary state, for the overall
// population (fine-binned point, replicate-resolution center and replicates) and each slice group.
void Evaluator::PointwiseStates(size_t b, size_t e, const std::vector<size_t>& user_groups, Scratch& x) {
  const metrics::BinaryState& fine = sets_[0][0].binary[0];
  const metrics::BinaryState& coarse = *x.coarse;
  for (size_t k = b; k < e; ++k) {
    const uint32_t row = order_[k];
    x.groups = user_groups;
    for (size_t s = 0; s < slices_.size(); ++s) {
      if (!slices_[s].user_level) x.groups.push_back(slices_[s].first_group + row_group_[s][row]);
    }
    for (int t : tasks_) {
      if (!InTask(t, row)) continue;
      const double p = TaskScore(t, row);
      const int y = TaskLabel(t, row);
      const auto pf = fine.Prepare(p, y);
      const auto pc = coarse.Prepare(p, y);
      // The overall point is fine-binned; every other state uses the replicate resolution.
      ForEachWeighted(sets_[0], true, true, x.w,
                      [&](MetricSet& st, double wt, bool point) { st.binary[t].Add(point ? pf : pc, wt); });
      for (size_t g : x.groups) {
        ForEachWeighted(sets_[g], true, false, x.w, [&](MetricSet& st, double wt, bool) { st.binary[t].Add(pc, wt); });
      }
    }
  }
}

// The model's list metrics of the user's candidates [b, e) and the exposures of its top-K lists.
void Evaluator::ModelLists(size_t b, size_t e, const std::vector<size_t>& user_groups, Scratch& x) {
  const bool conv = rows_.has_conversion;
  const size_t n = e - b;
  x.scores.resize(n);
  x.pctcvr.resize(n);
  x.rel_click.resize(n);
  x.rel_conv.resize(n);
  x.tiebreak.resize(n);
  x.row_cats.resize(n);
  x.clicked_items.clear();
  for (size_t k = 0; k < n; ++k) {
    const uint32_t row = order_[b + k];
    x.scores[k] = rows_.p_ctr[row];
    x.pctcvr[k] = conv ? rows_.p_ctcvr[row] : 0.0;
    x.rel_click[k] = rows_.click[row];
    x.rel_conv[k] = conv ? rows_.conversion[row] : 0;
    x.tiebreak[k] = rows_.item[row];
    if (rows_.click[row]) x.clicked_items.push_back(item_index_[row]);
    if (rows_.has_category) {
      x.row_cats[k].assign(rows_.categories.begin() + rows_.category_offsets[row],
                           rows_.categories.begin() + rows_.category_offsets[row + 1]);
    }
  }
  std::sort(x.clicked_items.begin(), x.clicked_items.end());
  UserSums(b, e, x.scores, x.pctcvr, true, x);
  auto add_sums = [&](MetricSet& s, double wt, bool /*point*/) {
    for (size_t i = 0; i < x.uvec.size(); ++i) s.user[i] += wt * x.uvec[i];
  };
  ForEachWeighted(sets_[0], true, true, x.w, add_sums);
  for (size_t g : user_groups) ForEachWeighted(sets_[g], true, false, x.w, add_sums);
  for (size_t ki = 0; ki < ks_.size(); ++ki) {
    const size_t top = std::min(static_cast<size_t>(ks_[ki]), n);
    for (size_t q = 0; q < top; ++q) {
      const uint32_t item = item_index_[order_[b + x.order[q]]];
      exposure_[ki][item] += 1;
      if (exposure_intervals_) {
        for (int r = 0; r < reps_; ++r) {
          exposure_reps_[ki][static_cast<size_t>(r) * catalogue_.size() + item] += x.w[static_cast<size_t>(r)];
        }
      }
    }
  }
}

// The baselines on the same user and candidates: popularity (leave-user-out) and random.
void Evaluator::BaselineLists(size_t b, size_t e, uint64_t user, Scratch& x) {
  const size_t n = e - b;
  auto add_sums = [&](MetricSet& s, double wt, bool /*point*/) {
    for (size_t i = 0; i < x.uvec.size(); ++i) s.user[i] += wt * x.uvec[i];
  };
  for (size_t bl = 0; bl < baseline_names_.size(); ++bl) {
    std::vector<double> bscore(n);
    for (size_t k = 0; k < n; ++k) {
      const uint32_t row = order_[b + k];
      const uint32_t item = item_index_[row];
      if (baseline_names_[bl] == "popularity") {
        // Leave-user-out popularity: the user's own clicks never score its candidates.
        const bool own = std::binary_search(x.clicked_items.begin(), x.clicked_items.end(), item);
        bscore[k] = popularity_[item] - (own ? 1.0 : 0.0);
      } else {
        bscore[k] = static_cast<double>(Mix64(rows_.item[row] ^ Mix64(user ^ seed_)) >> 11) * 0x1.0p-53;
      }
      base_score_[bl][row] = bscore[k];
    }
    UserSums(b, e, bscore, bscore, false, x);
    ForEachWeighted(base_[bl], false, false, x.w, add_sums);
    for (size_t ki = 0; ki < ks_.size(); ++ki) {
      const size_t top = std::min(static_cast<size_t>(ks_[ki]), n);
      for (size_t q = 0; q < top; ++q) base_exposure_[bl][ki][item_index_[order_[b + x.order[q]]]] += 1;
    }
  }
}

void Evaluator::UserPass() {
  Scratch x;
  x.coarse = std::make_unique<metrics::BinaryState>(opt_.replicate_bins, opt_.calibration_bins);
  x.w.resize(static_cast<size_t>(reps_));
  x.uvec.resize(layout_.size);
  for (const auto& [b, e] : users_) {
    const uint64_t user = rows_.user[order_[b]];
    for (int r = 0; r < reps_; ++r) x.w[static_cast<size_t>(r)] = metrics::PoissonWeight(user, r, seed_);
    // The user-level slice groups of this user; PointwiseStates adds each row's row-level ones.
    std::vector<size_t> user_groups;
    for (size_t s = 0; s < slices_.size(); ++s) {
      if (slices_[s].user_level) user_groups.push_back(slices_[s].first_group + row_group_[s][order_[b]]);
    }
    PointwiseStates(b, e, user_groups, x);
    ModelLists(b, e, user_groups, x);
    BaselineLists(b, e, user, x);
  }
}

void Evaluator::Merge() {
  // Every fixed-size state in as few SUM all-reduces as possible (eval/fused_sum.h).
  FusedSum sum(comm_);
  for (auto& group : sets_) {
    for (auto& s : group) {
      for (auto& b : s.binary) sum.Add(b.flat(), b.FlatSize());
      sum.Add(s.user.data(), s.user.size());
    }
  }
  for (auto& bl : base_) {
    for (auto& s : bl) sum.Add(s.user.data(), s.user.size());
  }
  for (auto& e : exposure_) sum.Add(e.data(), e.size());
  for (auto& e : exposure_reps_) sum.Add(e.data(), e.size());
  for (auto& bl : base_exposure_) {
    for (auto& e : bl) sum.Add(e.data(), e.size());
  }
  sum.Flush();

  // Exact threshold-free metrics, one distributed scan per task and baseline.
  auto scan = [&](int t, auto&& score) {
    std::vector<metrics::ScoreRun> runs;
    runs.reserve(rows_.size());
    for (size_t i = 0; i < rows_.size(); ++i) {
      if (!InTask(t, i)) continue;
      const uint8_t y = TaskLabel(t, i);
      runs.push_back({score(i), static_cast<double>(y), static_cast<double>(1 - y)});
    }
    return DistributedExactRank(comm_, std::move(runs));
  };
  exact_.assign(kNumTasks, {});
  for (int t : tasks_) exact_[t] = scan(t, [&](size_t i) { return TaskScore(t, i); });
  base_exact_.assign(baseline_names_.size(), std::vector<metrics::ExactRankResult>(kNumTasks));
  for (size_t bl = 0; bl < baseline_names_.size(); ++bl) {
    for (int t : tasks_) {
      if (t != kCvr) base_exact_[bl][t] = scan(t, [&](size_t i) { return base_score_[bl][i]; });
    }
  }
}

std::vector<Scalar> Evaluator::Extract(const MetricSet& s, bool model) const {
  std::vector<Scalar> out;
  auto add = [&](const char* dim, const std::string& task, const std::string& name, const char* protocol, double v,
                 double n, std::string method = "exact") {
    out.push_back({dim, task, name, protocol, std::move(method), v, n});
  };
  for (int t : tasks_) {
    if (s.binary.empty()) break;
    const auto r = s.binary[t].Finalize();
    const std::string task = kTaskName[t];
    const char* proto = kTaskProtocol[t];
    const std::string hist = fmt::format("histogram, {} bins (AUC error <= {:.2g})", s.binary[t].histogram_bins(),
                                         r.auc_hist_error_bound);
    add("quality", task, "auc", proto, r.auc_hist, r.count, hist);
    add("quality", task, "pr_auc", proto, r.pr_auc_hist, r.count, fmt::format("histogram, {} bins", s.binary[t].histogram_bins()));
    add("quality", task, "logloss", proto, r.logloss, r.count);
    add("quality", task, "normalized_entropy", proto, r.normalized_entropy, r.count);
    add("quality", task, "brier", proto, r.brier, r.count);
    add("quality", task, "calibration", proto, r.calibration, r.count);
    add("quality", task, "ece", proto, r.ece, r.count, fmt::format("{} equal-width bins", s.binary[t].calibration_bins()));
    add("quality", task, "precision@0.5", proto, r.precision, r.count);
    add("quality", task, "recall@0.5", proto, r.recall, r.count);
    add("quality", task, "f1@0.5", proto, r.f1, r.count);
    add("quality", task, "accuracy@0.5", proto, r.accuracy, r.count);
    add("quality", task, "best_f1", proto, r.best_f1_hist, r.count, fmt::format("histogram, {} bins", s.binary[t].histogram_bins()));
    add("quality", task, "best_f1_threshold", proto, r.best_f1_threshold_hist, r.count,
        fmt::format("histogram, {} bins", s.binary[t].histogram_bins()));
    add("business", task, "observed_" + task, proto, r.base_rate, r.count);
    add("business", task, "predicted_" + task, proto, r.mean_predicted, r.count);
  }
  const auto& u = s.user;
  const double users = u[layout_.users];
  for (int t : tasks_) {
    const std::string task = kTaskName[t];
    const double counted = u[layout_.Gauc(t, kGUsers)];
    add("quality", task, "gauc", kTaskProtocol[t], Div(u[layout_.Gauc(t, kGWeightedAuc)], u[layout_.Gauc(t, kGWeight)]),
        counted, "exact, impression-weighted; users with one class skipped");
    add("quality", task, "gauc_unweighted", kTaskProtocol[t], Div(u[layout_.Gauc(t, kGAucSum)], counted), counted,
        "exact; users with one class skipped");
    add("quality", task, "gauc_skipped_users", kTaskProtocol[t], u[layout_.Gauc(t, kGSkipped)],
        counted + u[layout_.Gauc(t, kGSkipped)], "count");
  }
  metrics::RankingState rs(ks_);
  for (int t : {kCtr, kCtcvr}) {
    if (std::find(tasks_.begin(), tasks_.end(), t) == tasks_.end()) continue;
    std::memcpy(rs.flat(), u.data() + (t == kCtr ? layout_.rank_ctr : layout_.rank_ctcvr), rs.FlatSize() * sizeof(double));
    for (size_t ki = 0; ki < ks_.size(); ++ki) {
      for (size_t m = 0; m < metrics::kNumRankMetrics; ++m) {
        add("quality", kTaskName[t], fmt::format("{}@{}", metrics::RankMetricName(static_cast<metrics::RankMetric>(m)), ks_[ki]),
            "candidates", rs.Value(ki, static_cast<metrics::RankMetric>(m)), rs.users(),
            "exact; users without a relevant candidate skipped");
      }
    }
  }
  add("business", "", "active_user_share", "impressions", Div(u[layout_.active], users), users);
  const bool conv = rows_.has_conversion;
  for (size_t ki = 0; ki < ks_.size(); ++ki) {
    const auto k = ks_[ki];
    auto l = [&](ListField f) { return u[layout_.List(ki, f)]; };
    const double slots = l(kSlots);
    add("satisfaction", "", fmt::format("user_coverage@{}", k), "candidates", Div(l(kHitUsers), users), users);
    if (rows_.has_category) {
      add("satisfaction", "", fmt::format("intra_list_diversity@{}", k), "candidates", Div(l(kIldSum), l(kIldUsers)),
          l(kIldUsers), "1 - Jaccard of category sets, mean over pairs");
    }
    add("business", "ctr", fmt::format("clicks_per_1000@{}", k), "candidates", Div(1000 * l(kClicks), slots), slots);
    if (model) {
      add("business", "ctr", fmt::format("expected_clicks_per_1000@{}", k), "candidates", Div(1000 * l(kSumPctr), slots), slots);
    }
    if (conv) {
      add("business", "ctcvr", fmt::format("conversions_per_1000@{}", k), "candidates", Div(1000 * l(kConversions), slots), slots);
      if (model) {
        add("business", "ctcvr", fmt::format("expected_conversions_per_1000@{}", k), "candidates",
            Div(1000 * l(kSumPctcvr), slots), slots);
      }
      if (rows_.has_value) {
        add("business", "ctcvr", fmt::format("revenue_per_1000@{}", k), "candidates", Div(1000 * l(kRevenue), slots), slots);
      }
    }
  }
  return out;
}

void Evaluator::AddIntervals(MetricValue* mv, double center, const std::vector<double>& reps) const {
  SetInterval(mv, center, reps, opt_.ci_level);
}

// The exact distributed scan's value of a threshold-free metric replaces the histogram's for the
// overall model.
void Evaluator::UseExactScan(MetricValue* mv) const {
  int t = -1;
  for (int x : tasks_) {
    if (mv->task == kTaskName[x]) t = x;
  }
  if (t < 0 || (mv->name != "auc" && mv->name != "pr_auc" && mv->name != "best_f1" && mv->name != "best_f1_threshold")) {
    return;
  }
  const auto& ex = exact_[static_cast<size_t>(t)];
  mv->value = mv->name == "auc" ? ex.auc : mv->name == "pr_auc" ? ex.average_precision
            : mv->name == "best_f1" ? ex.best_f1 : ex.best_threshold;
  mv->method = mv->name == "auc" ? "exact (distributed sort); ties count half"
             : mv->name == "pr_auc" ? "exact average precision (scikit-learn's definition)"
                                    : "exact over every distinct score";
}

// One population's metrics: the point, the center and every replicate extracted, then intervals.
// Replicates start at FirstRep. with_center: the overall model, whose point is exact or
// fine-binned and whose center set holds the same estimator at replicate resolution; elsewhere
// the point is its own center.
void Evaluator::EmitSets(Report* rep, const std::vector<MetricSet>& sets, const std::string& model,
                         const std::string& slice, const std::string& group, bool overall, bool with_center) const {
  const bool is_model = model == "model";
  const std::vector<Scalar> point = Extract(sets[0], is_model);
  const std::vector<Scalar> center = with_center && reps_ > 0 ? Extract(sets[1], is_model) : point;
  std::vector<std::vector<Scalar>> reps;
  for (int r = 0; r < reps_; ++r) reps.push_back(Extract(sets[FirstRep(is_model) + static_cast<size_t>(r)], is_model));
  for (size_t i = 0; i < point.size(); ++i) {
    const Scalar& p = point[i];
    MetricValue mv = MakeMetric(p.dimension, p.task, p.name, p.protocol, p.value, p.n, p.method, model);
    mv.slice = slice;
    mv.group = group;
    if (overall && is_model && mv.dimension == "quality") UseExactScan(&mv);
    // A replicate that drew no row or user of this metric's sample space has no value (its sums
    // read 0, not the metric): it is left out, not counted as 0.
    std::vector<double> rv;
    for (const auto& r : reps) rv.push_back(r[i].n > 0 ? r[i].value : kNaN);
    AddIntervals(&mv, center[i].value, rv);
    if (reps_ == 0) mv.lo = mv.hi = kNaN;
    if (mv.name == "best_f1_threshold" && reps_ > 0) {
      // Replicates find the threshold only to one of their histogram's bin edges, so its interval
      // collapsed onto a bin ([0.3045, 0.3045]) or hung off the point: none is given.
      mv.lo = mv.hi = kNaN;
      mv.replicates.clear();
      mv.method += " (no interval: replicates resolve the threshold only to a histogram bin edge)";
    }
    rep->metrics.push_back(std::move(mv));
  }
  if (!overall || !is_model) return;
  // Extra exact metrics at the best-F1 threshold (overall model only).
  for (int t : tasks_) {
    const auto& ex = exact_[t];
    for (const auto& [name, v] : {std::pair<const char*, double>{"precision@best_f1", ex.precision_at_best},
                                  {"recall@best_f1", ex.recall_at_best},
                                  {"accuracy@best_f1", ex.accuracy_at_best}}) {
      rep->metrics.push_back(MakeMetric("quality", kTaskName[t], name, kTaskProtocol[t], v,
                                        sets[0].binary[t].Finalize().count,
                                        "exact, at the best-F1 threshold (no interval: the threshold is chosen on "
                                        "the data)"));
    }
  }
}

void Evaluator::EmitBaselines(Report* rep) const {
  for (size_t bl = 0; bl < baseline_names_.size(); ++bl) {
    EmitSets(rep, base_[bl], baseline_names_[bl], "all", "all", false, false);
    for (int t : tasks_) {
      if (t == kCvr) continue;
      rep->metrics.push_back(MakeMetric("quality", kTaskName[t], "auc", kTaskProtocol[t], base_exact_[bl][t].auc,
                                        sets_[0][0].binary[t].Finalize().count,
                                        "exact (distributed sort); ties count half", baseline_names_[bl]));
    }
  }
}

void Evaluator::EmitSlices(Report* rep) const {
  for (const auto& s : slices_) {
    for (size_t gi = 0; gi < s.groups.size(); ++gi) {
      const auto& sets = sets_[s.first_group + gi];
      SliceGroupInfo info{s.name, s.groups[gi], s.user_level ? "user" : "row", sets[0].binary[kCtr].Finalize().count,
                          true};
      info.measured = info.rows >= static_cast<double>(opt_.min_slice_size);
      rep->slice_groups.push_back(info);
      if (!info.measured || info.rows <= 0) continue;
      const size_t before = rep->metrics.size();
      EmitSets(rep, sets, "model", s.name, s.groups[gi], false, false);
      if (!s.user_level) {
        // Row-level slices split users' lists: only point-wise metrics are defined there.
        rep->metrics.erase(std::remove_if(rep->metrics.begin() + static_cast<long>(before), rep->metrics.end(),
                                          [](const MetricValue& m) {
                                            return m.protocol == "candidates" || m.name.rfind("gauc", 0) == 0 ||
                                                   m.name == "active_user_share";
                                          }),
                           rep->metrics.end());
      }
    }
  }
}

// Satisfaction from the merged exposure counts, for the model (with intervals when the exposure
// replicates fit eval.max_exposure_cells) and each baseline.
void Evaluator::EmitSatisfaction(Report* rep) const {
  auto sat_values = [&](const std::vector<double>& exp, double users, int64_t k) {
    const auto r = metrics::FinalizeSatisfaction(exp, popularity_, head_, users, population_, k);
    return std::vector<double>{r.coverage, r.gini, r.entropy, r.novelty, r.mean_popularity, r.long_tail_share,
                               r.personalization};
  };
  const std::vector<std::string> sat_names = {"coverage", "gini", "entropy", "novelty", "mean_popularity",
                                              "long_tail_share", "personalization"};
  const double users = sets_[0][0].user[layout_.users];
  for (size_t ki = 0; ki < ks_.size(); ++ki) {
    const int64_t k = ks_[ki];
    const auto point = sat_values(exposure_[ki], users, k);
    std::vector<std::vector<double>> reps;
    if (exposure_intervals_) {
      const size_t items = catalogue_.size();
      for (int r = 0; r < reps_; ++r) {
        std::vector<double> e(exposure_reps_[ki].begin() + static_cast<long>(static_cast<size_t>(r) * items),
                              exposure_reps_[ki].begin() + static_cast<long>(static_cast<size_t>(r + 1) * items));
        const double rep_users = sets_[0][FirstRep(true) + static_cast<size_t>(r)].user[layout_.users];
        reps.push_back(rep_users > 0 ? sat_values(e, rep_users, k) : std::vector<double>(sat_names.size(), kNaN));
      }
    }
    for (size_t m = 0; m < sat_names.size(); ++m) {
      MetricValue mv = MakeMetric("satisfaction", "", fmt::format("{}@{}", sat_names[m], k), "candidates", point[m],
                                  users, "exact, from merged exposure counts");
      std::vector<double> rv;
      for (const auto& r : reps) rv.push_back(r[m]);
      // Coverage, Gini, entropy and personalization depend on how many distinct users there are,
      // and a Poisson replicate has about 63% of them (and counts some twice): their replicates
      // sit off the point (coverage@10 of 0.32 had replicates near 0.25). The spread is centred
      // on the replicates' own mean, so the interval measures variability, not that bias.
      if (sat_names[m] == "coverage" || sat_names[m] == "gini" || sat_names[m] == "entropy" ||
          sat_names[m] == "personalization") {
        AddIntervals(&mv, FiniteMean(rv), rv);
        if (!rv.empty()) mv.method += "; interval centred on the replicate mean (user-count-dependent statistic)";
      } else {
        AddIntervals(&mv, mv.value, rv);
      }
      if (!exposure_intervals_) mv.lo = mv.hi = kNaN;
      rep->metrics.push_back(mv);
    }
    for (size_t bl = 0; bl < baseline_names_.size(); ++bl) {
      const double base_users = base_[bl][0].user[layout_.users];
      const auto bp = sat_values(base_exposure_[bl][ki], base_users, k);
      for (size_t m = 0; m < sat_names.size(); ++m) {
        rep->metrics.push_back(MakeMetric("satisfaction", "", fmt::format("{}@{}", sat_names[m], k), "candidates",
                                          bp[m], base_users, "exact, from merged exposure counts",
                                          baseline_names_[bl]));
      }
    }
  }
}

// Warnings a reader must see.
void Evaluator::AddWarnings(Report* rep) const {
  rep->warnings.push_back(
      "Ranking, satisfaction and business metrics at K rank each user's candidates present in the predictions file "
      "(protocol 'candidates': sampled negatives or logged impressions). They are not comparable with full-catalogue "
      "ranking, where every item competes.");
  for (int t : tasks_) {
    const double skipped = rep->Find("model", kTaskName[t], "gauc_skipped_users")->value;
    if (skipped > 0) {
      rep->warnings.push_back(fmt::format("GAUC ({}): {} users with a single class were skipped.", kTaskName[t], skipped));
    }
    if (!std::isfinite(exact_[t].auc)) {
      rep->warnings.push_back(fmt::format("AUC ({}) is undefined: the sample space has a single class.", kTaskName[t]));
    }
  }
  size_t suppressed = 0;
  for (const auto& g : rep->slice_groups) suppressed += !g.measured;
  if (suppressed > 0) {
    rep->warnings.push_back(fmt::format("{} slice groups have fewer than eval.min_slice_size = {} rows and are listed "
                                        "without metrics.",
                                        suppressed, opt_.min_slice_size));
  }
  if (reps_ > 0 && !exposure_intervals_) {
    rep->warnings.push_back(fmt::format("No intervals for exposure-based satisfaction metrics: {} items x {} replicates "
                                        "exceeds eval.max_exposure_cells.",
                                        catalogue_.size(), reps_));
  }
}

Report Evaluator::Finalize() {
  Report rep;
  rep.top_k = ks_;
  rep.replicates = reps_;
  rep.ci_level = opt_.ci_level;
  EmitSets(&rep, sets_[0], "model", "all", "all", true, true);
  EmitBaselines(&rep);
  EmitSlices(&rep);
  EmitSatisfaction(&rep);
  if (!baseline_names_.empty()) AddLiftsVsPopularity(&rep, opt_.ci_level);
  AddFairnessGaps(&rep);
  // Curves of the overall model.
  for (int t : tasks_) {
    const auto r = sets_[0][0].binary[t].Finalize();
    rep.curves.push_back({kTaskName[t], r.roc, r.pr, r.reliability});
  }
  AddWarnings(&rep);
  rep.provenance["world_size"] = std::to_string(comm_.WorldSize());
  rep.provenance["backend"] = std::string(comm_.Backend());
  rep.provenance["seed"] = std::to_string(seed_);
  rep.provenance["bootstrap_replicates"] = std::to_string(reps_);
  rep.provenance["rows"] = fmt::format("{}", sets_[0][0].binary[kCtr].Finalize().count);
  rep.provenance["users"] = fmt::format("{}", population_);
  rep.provenance["items"] = std::to_string(catalogue_.size());
  rep.provenance["users_fingerprint"] = users_fingerprint_;
  for (const auto& [k, v] : timings_) rep.provenance["seconds_" + k] = fmt::format("{:.3f}", v);
  return rep;
}

Report Evaluator::Run() {
  tasks_ = {kCtr};
  if (rows_.has_conversion) tasks_ = {kCtr, kCvr, kCtcvr};
  // Every rank must agree on the file's shape (an empty shard has the same columns).
  const auto t0 = Clock::now();
  BuildCatalogue();
  BuildSlices();
  AllocateStates();
  const auto t1 = Clock::now();
  UserPass();
  const auto t2 = Clock::now();
  Merge();
  const auto t3 = Clock::now();
  timings_["prepare"] = std::chrono::duration<double>(t1 - t0).count();
  timings_["update"] = std::chrono::duration<double>(t2 - t1).count();
  timings_["merge"] = std::chrono::duration<double>(t3 - t2).count();
  Report r = Finalize();
  r.provenance["seconds_finalize"] = fmt::format("{:.3f}", std::chrono::duration<double>(Clock::now() - t3).count());
  return r;
}

}  // namespace

std::string UsersFingerprint(Communicator& comm, const std::vector<uint64_t>& user_keys) {
  std::vector<int64_t> fp = {0, 0};
  for (const uint64_t key : user_keys) {
    const uint64_t h = Mix64(key);
    fp[0] += static_cast<int64_t>(h & 0xffffffffULL);
    fp[1] += static_cast<int64_t>(h >> 32);
  }
  AllReduce(comm, fp, ReduceOp::kSum);
  return fmt::format("{:x}-{:x}", fp[0], fp[1]);
}

data::PredictionColumns ColumnsFrom(const EvalOptions& o) {
  data::PredictionColumns c;
  c.user = o.columns.user;
  c.item = o.columns.item;
  c.click = o.columns.click;
  c.conversion = o.columns.conversion;
  c.p_ctr = o.columns.p_ctr;
  c.p_cvr = o.columns.p_cvr;
  c.p_ctcvr = o.columns.p_ctcvr;
  c.value = o.columns.value;
  c.category = o.columns.category;
  c.slices = o.slices;
  return c;
}

Report EvaluatePredictions(Communicator& comm, const EvalOptions& options, const data::PredictionRows& rows,
                           uint64_t seed) {
  // The columns present must agree across ranks (a rank with no rows still read the header).
  std::vector<int32_t> flags = {rows.has_conversion, rows.has_value, rows.has_category};
  std::vector<int32_t> lo = flags;
  AllReduce(comm, lo, ReduceOp::kMin);
  RP_CHECK(lo == flags, "ranks disagree on the predictions file's columns");
  Evaluator e(comm, options, rows, seed);
  return e.Run();
}

}  // namespace recprism::eval
