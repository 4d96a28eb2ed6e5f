// `recprism sweep FILE` and `recprism leaderboard DIR`.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "config/sweep.h"
#include "core/check.h"
#include "core/file_util.h"
#include "core/log.h"
#include "eval/report_io.h"
#include "eval/leaderboard.h"

namespace recprism::cli {
namespace {
namespace fs = std::filesystem;

constexpr const char* kSweepHelp = R"(usage: recprism sweep FILE [--slurm] [--ranks N] [--max-parallel M] [--sbatch-args "..."] [--only KEY=VALUE]... [--dry-run]

Expands a sweep file (base config, grid and random axes, seeds, metric; docs/sweeps.md) into runs
with stable ids, validates every run's config before anything starts (one invalid key stops the
sweep, naming the run and the key), then runs each run's pipeline: train (resuming from its own
checkpoints when it has them), then evaluate --checkpoint best.pt on the valid split. A sweep file's
`pipeline` changes that: `pretrain: true` runs recprism pretrain first and trains --init-from its
encoder; `split: test` evaluates the test split; `protocols: [full, sampled]` evaluates under each
eval.protocol, into report/ (the first) and report-<protocol>/ (every one).

Runs go to <output_dir>/<name>/runs/<id>/. A run with a DONE marker is skipped, so re-running a
sweep finishes what is missing and reruns failed runs. `recprism leaderboard <output_dir>/<name>`
ranks them.

options:
  --slurm             submit one Slurm job array (launchers/slurm/sweep_array.sbatch) over the runs
                      still to do, instead of running them here one after another
  --ranks N           MPI ranks per run (default 1; under Slurm the array tasks' --ntasks)
  --max-parallel M    Slurm: at most M array tasks at once (--array=...%M; default 4)
  --sbatch-args "..." extra sbatch options, e.g. "--partition=gpu --gpus-per-node=1 --time=2:00:00"
  --only KEY=VALUE    run only the runs whose swept KEY has VALUE (repeatable: all must hold), e.g.
                      --only run.seed=1 runs the first seed of every grid point; the others stay pending
  --dry-run           expand and validate only: print the runs and exit
)";

constexpr const char* kLeaderboardHelp = R"(usage: recprism leaderboard DIR [--metric TASK/NAME] [--mode max|min] [--report NAME] [--output DIR]

Ranks every run of a sweep directory (or any directory of run directories holding report/report.json)
by the sweep's metric (or --metric, e.g. ctr/auc, ctr/ndcg@10 or heldout/ndcg@10) with its confidence
interval, the swept values beside it, and lists failed runs with their error. A sweep with seeds also
gets each configuration averaged over its seeds (mean, sd, t interval of the mean, range), ranked by
the mean. Writes leaderboard.md, leaderboard.csv (and leaderboard-seeds.csv) and a self-contained
leaderboard.html into DIR (or --output).

  --report NAME   rank by each run's NAME/report.json (default report; a pipeline with several
                  protocols also writes report-<protocol>/, e.g. --report report-sampled)
)";

std::string LaunchersDir() {
  if (const char* env = std::getenv("RECPRISM_LAUNCHERS")) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (fs::is_regular_file(p / "launchers" / "sweep_run.sh")) return (p / "launchers").string();
  }
  RP_THROW(StatusCode::kUnavailable, "cannot find launchers/sweep_run.sh above {}; set RECPRISM_LAUNCHERS", exe.string());
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::map<std::string, std::string> ReadKeyValues(const fs::path& p) {
  std::map<std::string, std::string> m;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

std::string ReadFirstLine(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

int RunShell(const std::string& command) {
  const int st = std::system(command.c_str());
  if (st == -1) return 127;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

int RunSweepCommand(const std::vector<std::string>& args) {
  log::Init(0, 1, LogOptions{});
  ParsedArgs a = ParseArgs(args, {"--ranks", "--max-parallel", "--sbatch-args", "--only"}, {"--slurm", "--dry-run"},
                           "recprism sweep");
  if (a.help || a.positional.size() != 1) {
    std::cout << kSweepHelp;
    return a.help ? 0 : 2;
  }
  const auto sweep = config::LoadSweep(a.positional[0]);
  const auto problems = config::ValidateSweep(sweep);
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems) text += "\n" + p;
    RP_THROW(StatusCode::kInvalidConfig, "sweep {}: {} of {} runs have an invalid config; nothing was started:{}",
             sweep.file, problems.size(), sweep.runs.size(), text);
  }
  const int ranks = a.Has("--ranks") ? std::stoi(a.Get("--ranks")) : 1;
  RP_REQUIRE(ranks >= 1, StatusCode::kInvalidArgument, "--ranks must be at least 1");
  const fs::path dir = sweep.Dir();
  fs::create_directories(dir / "runs");
  // The expansion, for the run script, the array tasks and the leaderboard.
  std::string tsv, meta;
  for (const auto& r : sweep.runs) {
    tsv += std::to_string(r.index) + "\t" + r.id;
    for (const auto& o : r.overrides) tsv += "\t" + o;
    tsv += "\n";
  }
  std::string keys;
  for (const auto& k : sweep.swept_keys) keys += (keys.empty() ? "" : ",") + k;
  meta = fmt::format("name={}\nfile={}\nbase={}\nmetric_task={}\nmetric_name={}\nmetric_mode={}\nswept_keys={}\nruns={}\n",
                     sweep.name, fs::absolute(sweep.file).string(), fs::absolute(sweep.base).string(), sweep.metric_task,
                     sweep.metric_name, sweep.metric_mode, keys, sweep.runs.size());
  meta += fmt::format("pretrain={}\neval_split={}\nprotocols={}\n", sweep.pretrain ? 1 : 0, sweep.eval_split,
                      fmt::join(sweep.protocols, ","));
  WriteFileAtomic((dir / "runs.tsv").string(), tsv);
  WriteFileAtomic((dir / "sweep.meta").string(), meta);
  // --only KEY=VALUE filters: a run is selected when each KEY it sweeps has VALUE.
  std::vector<std::pair<std::string, std::string>> only;
  for (const auto& f : a.GetAll("--only")) {
    const auto eq = f.find('=');
    RP_REQUIRE(eq != std::string::npos && eq > 0, StatusCode::kInvalidArgument,
               "recprism sweep --only: expected KEY=VALUE (e.g. run.seed=1), found '{}'", f);
    const std::string key = f.substr(0, eq);
    RP_REQUIRE(key == "run.seed" || std::find(sweep.swept_keys.begin(), sweep.swept_keys.end(), key) != sweep.swept_keys.end(),
               StatusCode::kInvalidArgument, "recprism sweep --only {}: {} is not swept by {} (swept: {})", f, key,
               sweep.file, sweep.swept_keys.empty() ? std::string("run.seed") : fmt::format("{}", fmt::join(sweep.swept_keys, ", ")));
    only.emplace_back(key, f.substr(eq + 1));
  }
  auto selected = [&](const auto& r) {
    for (const auto& [k, v] : only) {
      bool match = false;
      for (const auto& [rk, rv] : r.assignment) match = match || (rk == k && rv == v);
      if (!match) return false;
    }
    return true;
  };
  std::vector<int> todo;
  for (const auto& r : sweep.runs) {
    if (!fs::exists(dir / "runs" / r.id / "DONE") && selected(r)) todo.push_back(r.index);
  }
  RP_REQUIRE(only.empty() || std::any_of(sweep.runs.begin(), sweep.runs.end(), selected), StatusCode::kInvalidArgument,
             "recprism sweep --only: no run of {} matches {}", sweep.file, fmt::join(a.GetAll("--only"), " and "));
  const auto finished = std::count_if(sweep.runs.begin(), sweep.runs.end(),
                                      [&](const auto& r) { return fs::exists(dir / "runs" / r.id / "DONE"); });
  std::cout << fmt::format("sweep {}: {} runs ({} finished, {} to run) in {}\n", sweep.name, sweep.runs.size(), finished,
                           todo.size(), dir.string());
  for (const auto& r : sweep.runs) {
    std::string assign;
    for (const auto& [k, v] : r.assignment) assign += fmt::format(" {}={}", k, v);
    const bool pending = std::find(todo.begin(), todo.end(), r.index) != todo.end();
    const bool done = fs::exists(dir / "runs" / r.id / "DONE");
    std::cout << fmt::format("  {} {}{}\n", r.id, done ? "done   " : pending ? "pending" : "skipped (--only)", assign);
  }
  if (a.Has("--dry-run") || todo.empty()) return 0;
  const std::string launchers = LaunchersDir();
  if (a.Has("--slurm")) {
    std::string list;
    for (int i : todo) list += (list.empty() ? "" : ",") + std::to_string(i);
    const int parallel = a.Has("--max-parallel") ? std::stoi(a.Get("--max-parallel")) : 4;
    const std::string cmd = fmt::format(
        "sbatch --parsable --job-name={} --array={}%{} --ntasks={} --output={}/runs/slurm-%A_%a.out "
        "--export=ALL,RECPRISM_LAUNCHERS={} {} {}/slurm/sweep_array.sbatch {}",
        Quote(sweep.name), list, parallel, ranks, Quote(fs::absolute(dir).string()), Quote(launchers),
        a.Get("--sbatch-args"), Quote(launchers), Quote(fs::absolute(dir).string()));
    std::cout << "submitting: " << cmd << "\n" << std::flush;
    const int rc = RunShell(cmd);
    RP_REQUIRE(rc == 0, StatusCode::kUnavailable, "sbatch failed with exit code {} (is Slurm reachable?)", rc);
    std::cout << fmt::format("sweep {}: job array of {} runs submitted; `recprism leaderboard {}` ranks them\n", sweep.name,
                             todo.size(), dir.string());
    return 0;
  }
  int failed = 0;
  for (int i : todo) {
    const auto& r = sweep.runs[static_cast<size_t>(i)];
    std::cout << fmt::format("sweep {}: run {} ({}/{})\n", sweep.name, r.id, i + 1, sweep.runs.size()) << std::flush;
    const int rc = RunShell(fmt::format("RECPRISM_RANKS={} {}/sweep_run.sh {} {}", ranks, Quote(launchers),
                                        Quote(fs::absolute(dir).string()), i));
    if (rc != 0) {
      ++failed;
      std::cout << fmt::format("sweep {}: run {} failed (exit {}): {}\n", sweep.name, r.id, rc,
                               ReadFirstLine(dir / "runs" / r.id / "FAILED"));
    }
  }
  std::cout << fmt::format("sweep {}: {} runs finished, {} failed; `recprism leaderboard {}` ranks them\n", sweep.name,
                           todo.size() - failed, failed, dir.string());
  RP_REQUIRE(failed == 0, StatusCode::kDataError, "sweep {}: {} of {} runs failed (rerun the sweep to retry them)",
             sweep.name, failed, todo.size());
  return 0;
}

namespace {
using Row = eval::LeaderboardRun;
using eval::GroupSeeds;
using eval::SeedGroup;

std::string Html(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}
std::string Fmt(double x) { return std::isfinite(x) ? fmt::format("{:.4f}", x) : ""; }
std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
}  // namespace

int RunLeaderboardCommand(const std::vector<std::string>& args) {
  log::Init(0, 1, LogOptions{});
  ParsedArgs a = ParseArgs(args, {"--metric", "--mode", "--output", "--report"}, {}, "recprism leaderboard");
  if (a.help || a.positional.size() != 1) {
    std::cout << kLeaderboardHelp;
    return a.help ? 0 : 2;
  }
  const fs::path dir = a.positional[0];
  RP_REQUIRE(fs::is_directory(dir), StatusCode::kIoError, "leaderboard: {} is not a directory", dir.string());
  auto meta = ReadKeyValues(dir / "sweep.meta");
  std::string task = meta.count("metric_task") ? meta["metric_task"] : "ctr";
  std::string name = meta.count("metric_name") ? meta["metric_name"] : "auc";
  std::string mode = meta.count("metric_mode") ? meta["metric_mode"] : "max";
  if (a.Has("--metric")) {
    const auto m = a.Get("--metric");
    const auto slash = m.find('/');
    RP_REQUIRE(slash != std::string::npos, StatusCode::kInvalidArgument, "--metric: expected TASK/NAME (e.g. ctr/auc), found '{}'", m);
    task = m.substr(0, slash);
    name = m.substr(slash + 1);
  }
  if (a.Has("--mode")) mode = a.Get("--mode");
  // Which of a run's reports: report/ (the pipeline's first protocol) or report-<protocol>/.
  const std::string report_name = a.Has("--report") ? a.Get("--report") : "report";
  RP_REQUIRE(mode == "max" || mode == "min", StatusCode::kInvalidArgument, "--mode: expected max or min, found '{}'", mode);
  // Runs: the sweep's expansion when there is one, else every subdirectory with a report.
  std::vector<Row> rows;
  std::vector<std::string> keys;
  const fs::path runs_dir = fs::exists(dir / "runs.tsv") ? dir / "runs" : dir;
  if (fs::exists(dir / "runs.tsv")) {
    std::stringstream ks(meta["swept_keys"]);
    for (std::string k; std::getline(ks, k, ',');) keys.push_back(k);
    std::ifstream in(dir / "runs.tsv");
    std::string line;
    while (std::getline(in, line)) {
      std::stringstream ls(line);
      std::string field;
      std::vector<std::string> f;
      while (std::getline(ls, field, '\t')) f.push_back(field);
      if (f.size() < 2) continue;
      Row r;
      r.id = f[1];
      for (size_t i = 2; i < f.size(); ++i) {
        const auto eq = f[i].find('=');
        const auto k = f[i].substr(0, eq);
        if (std::find(keys.begin(), keys.end(), k) != keys.end()) r.swept[k] = f[i].substr(eq + 1);
      }
      rows.push_back(r);
    }
  } else {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_directory() && fs::exists(e.path() / report_name / "report.json")) {
        Row r;
        r.id = e.path().filename().string();
        rows.push_back(r);
      }
    }
    std::sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.id < y.id; });
  }
  for (auto& r : rows) {
    const fs::path rd = runs_dir / r.id;
    const fs::path report = rd / report_name / "report.json";
    if (fs::exists(rd / "FAILED")) {
      r.status = "failed";
      std::ifstream in(rd / "FAILED");
      std::getline(in, r.error);
    } else if (!fs::exists(report)) {
      r.status = fs::exists(rd) ? "running or interrupted" : "pending";
    }
    if (fs::exists(report) && r.status == "done") {
      std::ifstream in(report);
      std::stringstream s;
      s << in.rdbuf();
      const auto rep = eval::ReportFromJson(s.str(), report.string());
      if (const auto* m = rep.Find("model", task, name)) {
        r.value = m->value;
        r.lo = m->lo;
        r.hi = m->hi;
      } else {
        r.status = "no metric";
        r.error = fmt::format("{} has no model metric {}/{}", report.string(), task, name);
      }
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& x, const Row& y) {
    const bool fx = std::isfinite(x.value), fy = std::isfinite(y.value);
    if (fx != fy) return fx;
    if (!fx) return false;
    return mode == "max" ? x.value > y.value : x.value < y.value;
  });
  const fs::path out = a.Has("--output") ? fs::path(a.Get("--output")) : dir;
  const std::string metric = task + "/" + name;
  const std::string title = fmt::format("Leaderboard: {} ({}, {} is better)", meta.count("name") ? meta["name"] : dir.filename().string(), metric, mode == "max" ? "higher" : "lower");
  std::string md = "# " + title + "\n\n| rank | run | " + metric + " | 95% interval | status |";
  std::string csv = "rank,run,metric,value,lo,hi,status,error";
  for (const auto& k : keys) {
    md += " " + k + " |";
    csv += "," + Csv(k);
  }
  md += "\n|---|---|---|---|---|";
  for (size_t i = 0; i < keys.size(); ++i) md += "---|";
  md += "\n";
  csv += "\n";
  std::string trs;
  int rank = 0;
  for (const auto& r : rows) {
    const std::string rk = std::isfinite(r.value) ? std::to_string(++rank) : "-";
    const std::string ci = std::isfinite(r.lo) ? fmt::format("[{}, {}]", Fmt(r.lo), Fmt(r.hi)) : "";
    const std::string status = r.error.empty() ? r.status : r.status + ": " + r.error;
    md += fmt::format("| {} | {} | {} | {} | {} |", rk, r.id, Fmt(r.value), ci, status);
    csv += fmt::format("{},{},{},{},{},{},{},{}", rk, r.id, Csv(metric), Fmt(r.value), Fmt(r.lo), Fmt(r.hi), Csv(r.status),
                       Csv(r.error));
    trs += fmt::format("<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                       r.status == "done" ? "ok" : "bad", rk, Html(r.id), Fmt(r.value), ci, Html(status));
    for (const auto& k : keys) {
      const auto it = r.swept.find(k);
      const std::string v = it == r.swept.end() ? "" : it->second;
      md += " " + v + " |";
      csv += "," + Csv(v);
      trs += "<td>" + Html(v) + "</td>";
    }
    md += "\n";
    csv += "\n";
    trs += "</tr>\n";
  }
  std::string ths = "<th>rank</th><th>run</th><th>" + Html(metric) + "</th><th>95% interval</th><th>status</th>";
  for (const auto& k : keys) ths += "<th>" + Html(k) + "</th>";
  // Across seeds: each configuration's mean over its finished seeds, ranked by that mean.
  std::string seeds_csv, seeds_html;
  if (std::find(keys.begin(), keys.end(), "run.seed") != keys.end()) {
    auto groups = GroupSeeds(rows, keys);
    std::stable_sort(groups.begin(), groups.end(), [&](const SeedGroup& x, const SeedGroup& y) {
      const bool fx = std::isfinite(x.mean), fy = std::isfinite(y.mean);
      if (fx != fy) return fx;
      if (!fx) return false;
      return mode == "max" ? x.mean > y.mean : x.mean < y.mean;
    });
    std::vector<std::string> others;
    for (const auto& k : keys) {
      if (k != "run.seed") others.push_back(k);
    }
    md += fmt::format("\n## Across seeds: {} averaged over run.seed\n\nThe interval is the mean's t interval over the "
                      "finished seeds (mean ± t(n−1)·sd/√n): seed-to-seed variation, not the evaluator's.\n\n| rank |",
                      metric);
    seeds_csv = "rank";
    std::string sths = "<th>rank</th>";
    for (const auto& k : others) {
      md += " " + k + " |";
      seeds_csv += "," + Csv(k);
      sths += "<th>" + Html(k) + "</th>";
    }
    md += " seeds | mean | sd | 95% interval of the mean | min | max |\n|---|";
    for (size_t i = 0; i < others.size(); ++i) md += "---|";
    md += "---|---|---|---|---|---|\n";
    seeds_csv += ",metric,seeds_done,seeds,mean,sd,lo,hi,min,max\n";
    sths += "<th>seeds</th><th>mean</th><th>sd</th><th>95% interval of the mean</th><th>min</th><th>max</th>";
    std::string strs;
    int grank = 0;
    for (const auto& g : groups) {
      const std::string rk = std::isfinite(g.mean) ? std::to_string(++grank) : "-";
      const std::string ci = std::isfinite(g.lo) ? fmt::format("[{}, {}]", Fmt(g.lo), Fmt(g.hi)) : "";
      const std::string count = fmt::format("{} of {}", g.done.size(), g.runs);
      md += "| " + rk + " |";
      seeds_csv += rk;
      strs += "<tr><td>" + rk + "</td>";
      for (const auto& v : g.values) {
        md += " " + v + " |";
        seeds_csv += "," + Csv(v);
        strs += "<td>" + Html(v) + "</td>";
      }
      md += fmt::format(" {} | {} | {} | {} | {} | {} |\n", count, Fmt(g.mean), Fmt(g.sd), ci, Fmt(g.min), Fmt(g.max));
      seeds_csv += fmt::format(",{},{},{},{},{},{},{},{},{}\n", Csv(metric), g.done.size(), g.runs, Fmt(g.mean), Fmt(g.sd),
                               Fmt(g.lo), Fmt(g.hi), Fmt(g.min), Fmt(g.max));
      strs += fmt::format("<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", count, Fmt(g.mean),
                          Fmt(g.sd), ci, Fmt(g.min), Fmt(g.max));
    }
    seeds_html = fmt::format("<h2>Across seeds: {} averaged over run.seed</h2>\n<p>The interval is the mean's t interval "
                             "over the finished seeds: seed-to-seed variation, not the evaluator's.</p>\n"
                             "<table id=\"seeds\"><thead><tr>{}</tr></thead><tbody>\n{}</tbody></table>\n",
                             Html(metric), sths, strs);
  }
  const std::string html = fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{0}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}th{{background:#f3f3f3;cursor:pointer}}
tr.bad td{{color:#a00}}</style></head>
<body><h1>{0}</h1><p id="summary">{1} runs, {2} ranked. Click a column to sort.</p>
<table id="board"><thead><tr>{3}</tr></thead><tbody>
{4}</tbody></table>
{5}<script>
document.querySelectorAll('table').forEach(function (table) {{
 table.querySelectorAll('th').forEach(function (th, col) {{
  th.addEventListener('click', function () {{
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
    rows.sort(function (a, b) {{
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    }});
    rows.forEach(function (r) {{ body.appendChild(r); }});
  }});
 }});
}});
</script></body></html>
)", Html(title), rows.size(), rank, ths, trs, seeds_html);
  fs::create_directories(out);
  WriteFileAtomic((out / "leaderboard.md").string(), md);
  WriteFileAtomic((out / "leaderboard.csv").string(), csv);
  WriteFileAtomic((out / "leaderboard.html").string(), html);
  if (!seeds_csv.empty()) WriteFileAtomic((out / "leaderboard-seeds.csv").string(), seeds_csv);
  std::cout << md << fmt::format("\nleaderboard: {}/leaderboard.html (also .md, .csv{})\n", out.string(),
                                 seeds_csv.empty() ? "" : ", leaderboard-seeds.csv");
  return 0;
}

}  // namespace recprism::cli
