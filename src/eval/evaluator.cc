#include "eval/evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <tuple>

#include "comm/collectives.h"
#include "core/check.h"
#include "core/hash.h"
#include "core/log.h"
#include "eval/evaluator_state.h"
#include "eval/exact_scan.h"
#include "eval/fused_sum.h"
#include "eval/intervals.h"
#include "eval/report_views.h"
#include "metrics/bootstrap.h"
#include "metrics/satisfaction.h"

namespace recprism::eval {
namespace detail {
namespace {

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

// Union of every rank's strings, sorted (collective). Used for slice values: the gather holds each
// rank's distinct values once, so its size grows with a slice column's cardinality, not the rows.
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

}  // namespace

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
  // Each distinct key goes to one rank (Mix64(key) mod world) by all-to-all, which dedupes what it
  // receives; the all-gather then holds every catalogue item once (8 bytes each), whatever the rows
  // and the world size. Every rank needs the catalogue to index popularity and top-K exposure.
  const int world = comm_.WorldSize();
  std::vector<size_t> to(static_cast<size_t>(world), 0);
  for (uint64_t k : local) ++to[world > 1 ? Mix64(k) % static_cast<uint64_t>(world) : 0];
  std::vector<size_t> at(static_cast<size_t>(world), 0);
  for (int r = 1; r < world; ++r) at[r] = at[r - 1] + to[r - 1];
  std::vector<int64_t> bucketed(local.size());
  for (uint64_t k : local) {
    const size_t r = world > 1 ? Mix64(k) % static_cast<uint64_t>(world) : 0;
    std::memcpy(&bucketed[at[r]++], &k, sizeof(k));
  }
  local = {};
  std::vector<int64_t> owned = AllToAllV(comm_, bucketed, to);
  bucketed = {};
  std::sort(owned.begin(), owned.end());
  owned.erase(std::unique(owned.begin(), owned.end()), owned.end());
  std::vector<int64_t> all = AllGatherV(comm_, owned);
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


}  // namespace detail


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
  detail::Evaluator e(comm, options, rows, seed);
  return e.Run();
}

}  // namespace recprism::eval
