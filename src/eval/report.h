// The report model: every number the evaluator produces, before any writer formats it
// (docs/report-format.md). Writers (JSON, Markdown, HTML) read this and nothing else.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "metrics/binary.h"

namespace recprism::eval {

constexpr int kReportVersion = 1;

struct MetricValue {
  std::string dimension;          // quality | satisfaction | business | efficiency | explainability
  std::string task;               // ctr | cvr | ctcvr | heldout | train | evaluate, or "" (user-level)
  std::string name;               // auc, gauc, logloss, ndcg@10, coverage@10, ...
  std::string model = "model";    // model | popularity | random
  std::string protocol;           // impressions | clicked_impressions | candidates | full_ranking | sampled_<n>
                                  // | candidates_file (+ _per_user) | measured (docs/report-format.md)
  std::string slice = "all";      // slice column ("all" for the whole population)
  std::string group = "all";      // slice value
  double value = 0;               // NaN when undefined (e.g. AUC with one class)
  double lo = 0, hi = 0;          // confidence interval (NaN when none)
  double n = 0;                   // rows or users the value is computed over
  std::string method;             // exact | histogram (AUC error <= x) | ...
  std::vector<double> replicates; // bootstrap replicate values minus the center (for `compare`)
  std::map<std::string, double> extra;  // compare: a, b, p_value, p_holm
  std::string Key() const;        // model/dimension/task/name/protocol/slice/group
};

// The one constructor of a report metric: its identity, value, sample size and method, on the whole
// population (slice and group "all"), with no interval (NaN) until SetInterval (eval/intervals.h)
// gives one.
MetricValue MakeMetric(std::string dimension, std::string task, std::string name, std::string protocol, double value,
                       double n, std::string method, std::string model = "model");

struct TaskCurves {
  std::string task;
  std::vector<metrics::CurvePoint> roc, pr;
  std::vector<metrics::ReliabilityBin> reliability;
};

struct SliceGroupInfo {
  std::string slice, group, level;  // level: user | row
  double rows = 0;
  bool measured = true;             // false: below eval.min_slice_size
};

struct FairnessGap {
  std::string slice, task, name, best_group, worst_group;
  double best = 0, worst = 0, gap = 0;
};

struct Report {
  int version = kReportVersion;
  std::vector<MetricValue> metrics;
  std::vector<TaskCurves> curves;
  std::vector<SliceGroupInfo> slice_groups;
  std::vector<FairnessGap> fairness;
  std::vector<std::string> warnings;
  std::map<std::string, std::string> provenance;  // config hash, commit, inputs, seeds, world size, timings
  std::string config_yaml;                         // the effective config
  std::vector<int64_t> top_k;
  int replicates = 0;
  double ci_level = 0.95;
  std::string comparison_title;  // set by `compare`: "A vs B"

  const MetricValue* Find(const std::string& model, const std::string& task, const std::string& name,
                          const std::string& slice = "all", const std::string& group = "all") const;
};

}  // namespace recprism::eval
