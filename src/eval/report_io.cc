#include "eval/report_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/check.h"
#include "core/file_util.h"
#include "metrics/bootstrap.h"

namespace recprism::eval {

extern const char* const kReportTemplateHtml;  // report_template.html, embedded at build time

namespace {

using nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kSameTolerance = 1e-12;  // relative: below it two values are the same number

json Num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double NumFrom(const json& j) { return j.is_number() ? j.get<double>() : kNaN; }

json ToJson(const Report& r) {
  json j;
  j["format"] = "recprism-report";
  j["version"] = r.version;
  j["top_k"] = r.top_k;
  j["bootstrap_replicates"] = r.replicates;
  j["ci_level"] = r.ci_level;
  if (!r.comparison_title.empty()) j["comparison"] = r.comparison_title;
  j["provenance"] = r.provenance;
  j["config"] = r.config_yaml;
  j["warnings"] = r.warnings;
  json ms = json::array();
  for (const auto& m : r.metrics) {
    json x = {{"dimension", m.dimension}, {"task", m.task},     {"name", m.name},   {"model", m.model},
              {"protocol", m.protocol},   {"slice", m.slice},   {"group", m.group}, {"value", Num(m.value)},
              {"ci", {Num(m.lo), Num(m.hi)}}, {"n", Num(m.n)}, {"method", m.method}};
    json reps = json::array();
    for (double v : m.replicates) reps.push_back(Num(v));
    x["replicates"] = std::move(reps);
    if (!m.extra.empty()) {
      json e;
      for (const auto& [k, v] : m.extra) e[k] = Num(v);
      x["extra"] = std::move(e);
    }
    ms.push_back(std::move(x));
  }
  j["metrics"] = std::move(ms);
  json curves = json::array();
  for (const auto& c : r.curves) {
    json roc = json::array(), pr = json::array(), rel = json::array();
    for (const auto& p : c.roc) roc.push_back({Num(p.threshold), Num(p.x), Num(p.y)});
    for (const auto& p : c.pr) pr.push_back({Num(p.threshold), Num(p.x), Num(p.y)});
    for (const auto& b : c.reliability) {
      rel.push_back({Num(b.lower), Num(b.upper), Num(b.weight), Num(b.mean_predicted), Num(b.observed_rate)});
    }
    curves.push_back({{"task", c.task}, {"roc", roc}, {"pr", pr}, {"reliability", rel}});
  }
  j["curves"] = std::move(curves);
  json sg = json::array();
  for (const auto& g : r.slice_groups) {
    sg.push_back({{"slice", g.slice}, {"group", g.group}, {"level", g.level}, {"rows", g.rows}, {"measured", g.measured}});
  }
  j["slice_groups"] = std::move(sg);
  json fg = json::array();
  for (const auto& g : r.fairness) {
    fg.push_back({{"slice", g.slice}, {"task", g.task}, {"name", g.name}, {"max_group", g.best_group},
                  {"max", Num(g.best)}, {"min_group", g.worst_group}, {"min", Num(g.worst)}, {"gap", Num(g.gap)}});
  }
  j["fairness"] = std::move(fg);
  return j;
}

std::string Fmt(double v, int digits = 4) {
  if (!std::isfinite(v)) return "–";
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) return fmt::format("{:.{}g}", v, digits);
  return fmt::format("{:.{}f}", v, digits);
}

std::string Ci(const MetricValue& m) {
  if (!std::isfinite(m.lo) || !std::isfinite(m.hi)) return "";
  return fmt::format("[{}, {}]", Fmt(m.lo), Fmt(m.hi));
}

// Markdown table cells must not break the table.
std::string Cell(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

}  // namespace

std::string ReportToJson(const Report& r) { return ToJson(r).dump(1) + "\n"; }

Report ReportFromJson(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    RP_THROW(StatusCode::kDataError, "{}: not a JSON report: {}", path, e.what());
  }
  RP_REQUIRE(j.is_object() && j.value("format", "") == "recprism-report", StatusCode::kDataError,
             "{}: not a RecPrism report (expected \"format\": \"recprism-report\")", path);
  const int version = j.value("version", -1);
  RP_REQUIRE(version == kReportVersion, StatusCode::kDataError,
             "{}: report format version {}, expected {} (re-run `recprism evaluate` with this build)", path, version,
             kReportVersion);
  Report r;
  try {
    r.top_k = j.at("top_k").get<std::vector<int64_t>>();
    r.replicates = j.at("bootstrap_replicates").get<int>();
    r.ci_level = j.at("ci_level").get<double>();
    r.provenance = j.at("provenance").get<std::map<std::string, std::string>>();
    r.config_yaml = j.value("config", "");
    r.warnings = j.at("warnings").get<std::vector<std::string>>();
    for (const auto& x : j.at("metrics")) {
      MetricValue m;
      m.dimension = x.at("dimension").get<std::string>();
      m.task = x.at("task").get<std::string>();
      m.name = x.at("name").get<std::string>();
      m.model = x.at("model").get<std::string>();
      m.protocol = x.at("protocol").get<std::string>();
      m.slice = x.at("slice").get<std::string>();
      m.group = x.at("group").get<std::string>();
      m.value = NumFrom(x.at("value"));
      m.lo = NumFrom(x.at("ci").at(0));
      m.hi = NumFrom(x.at("ci").at(1));
      m.n = NumFrom(x.at("n"));
      m.method = x.at("method").get<std::string>();
      for (const auto& v : x.at("replicates")) m.replicates.push_back(NumFrom(v));
      r.metrics.push_back(std::move(m));
    }
  } catch (const json::exception& e) {
    RP_THROW(StatusCode::kDataError, "{}: malformed report: {}", path, e.what());
  }
  return r;
}

std::string ReportToMarkdown(const Report& r) {
  std::ostringstream o;
  o << "# RecPrism evaluation report\n\n";
  if (!r.comparison_title.empty()) o << "Comparison: **" << Cell(r.comparison_title) << "** (a − b)\n\n";
  auto prov = [&](const char* k) {
    auto it = r.provenance.find(k);
    return it == r.provenance.end() ? std::string("–") : Cell(it->second);
  };
  o << "- input: `" << prov("input") << "` (checksum " << prov("input_checksum") << ")\n";
  o << "- rows " << prov("rows") << ", users " << prov("users") << ", items " << prov("items") << "; world size "
    << prov("world_size") << " (" << prov("backend") << ")\n";
  o << "- intervals: " << static_cast<int>(r.ci_level * 100) << "% Poisson bootstrap clustered on users, "
    << r.replicates << " replicates, seed " << prov("seed") << "; config hash " << prov("config_hash") << ", commit "
    << prov("commit") << "\n";
  if (r.provenance.count("privacy")) o << "- privacy: " << prov("privacy") << "\n";
  o << "\n";
  if (!r.warnings.empty()) {
    o << "## Warnings\n\n";
    for (const auto& w : r.warnings) o << "- " << Cell(w) << "\n";
    o << "\n";
  }
  const bool compare = !r.comparison_title.empty();
  auto table = [&](const std::string& title, auto pred) {
    std::vector<const MetricValue*> rows;
    for (const auto& m : r.metrics) {
      if (pred(m)) rows.push_back(&m);
    }
    if (rows.empty()) return;
    o << "## " << title << "\n\n";
    if (compare) {
      o << "| model | task | metric | a | b | a − b | " << static_cast<int>(r.ci_level * 100) << "% CI | p (Holm) |\n";
      o << "|---|---|---|---:|---:|---:|---|---:|\n";
    } else {
      o << "| model | task | metric | value | " << static_cast<int>(r.ci_level * 100) << "% CI | n | protocol |\n";
      o << "|---|---|---|---:|---|---:|---|\n";
    }
    for (const auto* m : rows) {
      if (compare) {
        auto ex = [&](const char* k) { auto it = m->extra.find(k); return it == m->extra.end() ? kNaN : it->second; };
        o << "| " << Cell(m->model) << " | " << Cell(m->task) << " | " << Cell(m->name) << " | " << Fmt(ex("a"))
          << " | " << Fmt(ex("b")) << " | " << Fmt(m->value) << " | " << Ci(*m) << " | " << Fmt(ex("p_holm"), 3)
          << " |\n";
      } else {
        o << "| " << Cell(m->model) << " | " << Cell(m->task) << " | " << Cell(m->name) << " | " << Fmt(m->value)
          << " | " << Ci(*m) << " | " << Fmt(m->n, 0) << " | " << Cell(m->protocol) << " |\n";
      }
    }
    o << "\n";
  };
  auto headline = [](const MetricValue& m) { return m.slice == "all" && m.name.find("skipped") == std::string::npos; };
  table("Model quality", [&](const MetricValue& m) { return headline(m) && m.dimension == "quality" && m.model == "model"; });
  table("User satisfaction", [&](const MetricValue& m) { return headline(m) && m.dimension == "satisfaction"; });
  table("Business value", [&](const MetricValue& m) { return headline(m) && m.dimension == "business"; });
  table("Baselines (quality)", [&](const MetricValue& m) { return headline(m) && m.dimension == "quality" && m.model != "model"; });
  table("Explainability (permutation importance of feature groups)",
        [&](const MetricValue& m) { return m.dimension == "explainability"; });
  table("Efficiency", [&](const MetricValue& m) { return m.dimension == "efficiency"; });
  if (!compare) {
    std::set<std::string> shown = {"auc", "logloss", "calibration", "gauc"};
    if (!r.top_k.empty()) {
      shown.insert(fmt::format("ndcg@{}", r.top_k[0]));
      shown.insert(fmt::format("hit_rate@{}", r.top_k[0]));
    }
    table("Slices (selected metrics; all are in report.json)",
          [&](const MetricValue& m) { return m.slice != "all" && shown.count(m.name) > 0; });
    if (!r.fairness.empty()) {
      o << "## Fairness: largest gap between groups\n\n| slice | task | metric | max (group) | min (group) | gap |\n"
           "|---|---|---|---:|---:|---:|\n";
      for (const auto& g : r.fairness) {
        if (!shown.count(g.name)) continue;
        o << "| " << Cell(g.slice) << " | " << Cell(g.task) << " | " << Cell(g.name) << " | " << Fmt(g.best) << " ("
          << Cell(g.best_group) << ") | " << Fmt(g.worst) << " (" << Cell(g.worst_group) << ") | " << Fmt(g.gap)
          << " |\n";
      }
      o << "\n";
    }
    size_t suppressed = 0;
    for (const auto& g : r.slice_groups) suppressed += !g.measured;
    if (suppressed) o << suppressed << " slice groups were below the minimum size and are listed in report.json only.\n";
  }
  return o.str();
}

std::string ReportToHtml(const Report& r) {
  json j = ToJson(r);
  // The page never reads the replicates (report.json keeps them for `compare`): leave them out.
  for (auto& m : j["metrics"]) m.erase("replicates");
  std::string data = j.dump();
  // Inside <script type="application/json">: "<" never appears raw, so "</script>" cannot close it.
  std::string safe;
  safe.reserve(data.size());
  for (char c : data) {
    if (c == '<') safe += "\\u003c";
    else if (c == '>') safe += "\\u003e";
    else if (c == '&') safe += "\\u0026";
    else safe += c;
  }
  std::string page = kReportTemplateHtml;
  const std::string marker = "__RECPRISM_REPORT_JSON__";
  const size_t at = page.find(marker);
  RP_CHECK(at != std::string::npos, "report template lacks its data marker");
  page.replace(at, marker.size(), safe);
  return page;
}

void WriteReport(const Report& r, const std::string& dir) {
  WriteFileAtomic(dir + "/report.json", ReportToJson(r));
  WriteFileAtomic(dir + "/report.md", ReportToMarkdown(r));
  WriteFileAtomic(dir + "/report.html", ReportToHtml(r));
}

Report CompareReports(const Report& a, const Report& b, const std::string& name_a, const std::string& name_b) {
  auto prov = [](const Report& r, const char* k) {
    auto it = r.provenance.find(k);
    return it == r.provenance.end() ? std::string() : it->second;
  };
  for (const char* k : {"users_fingerprint", "seed", "bootstrap_replicates"}) {
    RP_REQUIRE(prov(a, k) == prov(b, k), StatusCode::kDataError,
               "cannot pair {} and {}: their {} differ ({} vs {}); a paired comparison needs the same users, bootstrap "
               "seed (run.seed) and replicate count (eval.bootstrap_replicates)",
               name_a, name_b, k, prov(a, k), prov(b, k));
  }
  Report out;
  out.top_k = a.top_k;
  out.replicates = a.replicates;
  out.ci_level = a.ci_level;
  out.comparison_title = name_a + " vs " + name_b;
  out.provenance = a.provenance;
  out.provenance["a"] = name_a;
  out.provenance["b"] = name_b;
  out.warnings.push_back("Differences are a − b, paired replicate by replicate (the same users carry the same "
                         "bootstrap weights in both runs); p-values are two-sided Wald tests with the bootstrap standard "
                         "error, Holm-adjusted over every metric compared.");
  std::map<std::string, const MetricValue*> bm;
  for (const auto& m : b.metrics) bm[m.Key()] = &m;
  std::vector<double> ps;
  for (const auto& m : a.metrics) {
    auto it = bm.find(m.Key());
    if (it == bm.end()) continue;
    const MetricValue& o = *it->second;
    MetricValue d = m;
    // Sums merged in another order (another world size) differ in the last bits: differences within
    // kSameTolerance of the values are rounding, not effects, and count as 0.
    const double scale = std::max({1.0, std::fabs(m.value), std::fabs(o.value)});
    auto snap = [&](double x) { return std::fabs(x) <= kSameTolerance * scale ? 0.0 : x; };
    d.value = snap(m.value - o.value);
    d.method = "paired bootstrap difference";
    std::vector<double> diffs;
    if (m.replicates.size() == o.replicates.size()) {
      for (size_t r = 0; r < m.replicates.size(); ++r) diffs.push_back(d.value + snap(m.replicates[r] - o.replicates[r]));
    }
    const auto ci = metrics::BootstrapInterval(d.value, d.value, diffs, a.ci_level);
    d.lo = ci.lo;
    d.hi = ci.hi;
    d.replicates.clear();
    for (double x : diffs) d.replicates.push_back(x - d.value);
    d.extra["a"] = m.value;
    d.extra["b"] = o.value;
    const double p = metrics::PairedBootstrapPValue(d.value, diffs);
    d.extra["p_value"] = p;
    ps.push_back(p);
    out.metrics.push_back(std::move(d));
  }
  const auto holm = metrics::HolmAdjust(ps);
  for (size_t i = 0; i < out.metrics.size(); ++i) out.metrics[i].extra["p_holm"] = holm[i];
  RP_REQUIRE(!out.metrics.empty(), StatusCode::kDataError, "{} and {} have no metric in common", name_a, name_b);
  return out;
}

}  // namespace recprism::eval
