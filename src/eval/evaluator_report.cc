// The evaluator's second half: the merged states finalized into one Report (evaluator_state.h).
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

namespace recprism::eval::detail {

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


}  // namespace recprism::eval::detail
