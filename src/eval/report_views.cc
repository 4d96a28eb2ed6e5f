#include "eval/report_views.h"

#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "eval/intervals.h"

namespace recprism::eval {
namespace {
double Div(double a, double b) { return b != 0 ? a / b : std::numeric_limits<double>::quiet_NaN(); }
}  // namespace

void AddLiftsVsPopularity(Report* report, double ci_level) {
  std::vector<MetricValue> lifts;
  for (const auto& m : report->metrics) {
    if (m.model != "model" || m.slice != "all") continue;
    const bool business_at_k = m.dimension == "business" && m.name.find("per_1000@") != std::string::npos &&
                               m.name.rfind("expected_", 0) != 0;
    const bool ranking = m.protocol == "candidates" && m.dimension == "quality" &&
                         (m.name.rfind("hit_rate@", 0) == 0 || m.name.rfind("ndcg@", 0) == 0);
    if (!business_at_k && !ranking) continue;
    const MetricValue* b = report->Find("popularity", m.task, m.name);
    if (b == nullptr) continue;
    MetricValue mv = m;
    mv.dimension = "business";
    mv.name = "lift_vs_popularity:" + m.name;
    mv.value = Div(m.value, b->value) - 1;
    mv.method = "model / popularity - 1, paired bootstrap";
    std::vector<double> rv;
    for (size_t r = 0; r < m.replicates.size() && r < b->replicates.size(); ++r) {
      rv.push_back(Div(m.value + m.replicates[r], b->value + b->replicates[r]) - 1);
    }
    SetInterval(&mv, mv.value, rv, ci_level);
    lifts.push_back(std::move(mv));
  }
  report->metrics.insert(report->metrics.end(), lifts.begin(), lifts.end());
}

void AddFairnessGaps(Report* report) {
  std::map<std::tuple<std::string, std::string, std::string>, FairnessGap> gaps;
  for (const auto& m : report->metrics) {
    if (m.slice == "all" || m.model != "model" || !std::isfinite(m.value) || m.method == "count") continue;
    auto key = std::make_tuple(m.slice, m.task, m.name);
    auto it = gaps.find(key);
    if (it == gaps.end()) {
      gaps[key] = FairnessGap{m.slice, m.task, m.name, m.group, m.group, m.value, m.value, 0};
      continue;
    }
    auto& g = it->second;
    if (m.value > g.best) g.best = m.value, g.best_group = m.group;
    if (m.value < g.worst) g.worst = m.value, g.worst_group = m.group;
    g.gap = g.best - g.worst;
  }
  for (auto& [k, g] : gaps) {
    if (g.best_group != g.worst_group) report->fairness.push_back(g);
  }
}

}  // namespace recprism::eval
