// `recprism evaluate` and `recprism compare`.
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "comm/collectives.h"
#include "config/loader.h"
#include "core/check.h"
#include "core/log.h"
#include "core/version.h"
#include "data/predictions.h"
#include "data/prepare.h"
#include "eval/evaluator.h"
#include "eval/heldout_ranking.h"
#include "eval/importance.h"
#include "eval/model_scoring.h"
#include "eval/report_io.h"
#include "train/progress.h"

namespace recprism::cli {
namespace {

constexpr const char* kEvaluateHelp = R"(usage: recprism evaluate --predictions FILE [--output DIR] [--config FILE] [--set key=value]...
       recprism evaluate --checkpoint CKPT --split test ...

Evaluates predictions on every rank of the launch and writes one report: model quality (AUC, GAUC,
logloss, PR-AUC, calibration, ranking at K), user satisfaction (coverage, diversity, novelty,
personalization) and business value (CTR, CVR, conversions and revenue at K, lift over popularity),
each with a bootstrap confidence interval, per slice, next to popularity and random baselines.

Each rank parses its share of the input (byte blocks of a CSV, row blocks of HDF5, whole files of
a directory), then rows go to their user's rank (a hash of the user id), so `mpirun -n N` gives the
same report as one rank, faster. Launch with comm.backend=mpi under mpirun.

options:
  --predictions FILE   CSV/TSV (plain or .gz) with header user,item,click,p_ctr[,conversion,p_cvr]
                       [,p_ctcvr][,value][,category][,slice columns...], or HDF5 with those datasets
                       (docs/report-format.md); other names through eval.columns.*; or a
                       directory (or quoted glob) of such files with the same columns
  --output DIR         report directory (default <run.output_dir>/<run.name>/report): report.json,
                       report.md, report.html; written only when every row was valid
  --checkpoint CKPT    score a split of data.dataset's prepared file with a `recprism train`
                       checkpoint (model options are read from the checkpoint); each rank scores
                       its own users
  --split NAME         split to score with --checkpoint: valid or test (default test)
  --config FILE        run config (the eval.* keys are used)
  --set key=value      override a config key (repeatable), e.g. --set eval.top_k=[5,10]

protocols (--checkpoint, eval.protocol):
  rows      the split's rows and the sampled negatives the prepared file holds (default)
  full      each held-out positive ranked against the whole catalogue, the user's other
            positives excluded: hit_rate@K, ndcg@K and mrr with intervals (task "heldout")
  sampled   against eval.sampled_negatives (99) items the user never interacted with, seeded,
            or each user's line of eval.candidates_file (`user neg neg ...`, source ids);
            eval.write_candidates records the drawn ones in that layout
)";

constexpr const char* kCompareHelp = R"(usage: recprism compare RUN_A RUN_B [--output DIR]

Paired comparison of two evaluation reports of the same users (RUN_A and RUN_B are report
directories or report.json files): every metric's difference a - b with a bootstrap interval and a
two-sided p-value, Holm-adjusted over all metrics. Both runs must share the users, run.seed and
eval.bootstrap_replicates, so that each user carries the same bootstrap weight in both.

options:
  --output DIR   where compare's report.json, report.md and report.html go (default RUN_A-vs-<B's name>)
)";

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  RP_REQUIRE(in.good(), StatusCode::kIoError, "cannot read {}: {}", path, std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ReportJsonPath(const std::string& run) {
  namespace fs = std::filesystem;
  if (fs::is_directory(run)) return (fs::path(run) / "report.json").string();
  return run;
}

const char* Headline(const eval::Report& r, const char* task, const char* name, std::string* out) {
  const auto* m = r.Find("model", task, name);
  if (m == nullptr || !std::isfinite(m->value)) return nullptr;
  *out = std::isfinite(m->lo) ? fmt::format("{:.4f} [{:.4f}, {:.4f}]", m->value, m->lo, m->hi)
                              : fmt::format("{:.4f}", m->value);
  return out->c_str();
}

// The report's efficiency dimension and DP-SGD provenance: the log of the run that wrote the
// checkpoint (its train_log.jsonl next to checkpoints/) and this evaluation's throughput.
void AddEfficiency(eval::Report* report, const std::string& checkpoint, double eval_units, double eval_seconds,
                   int eval_world) {
  const auto log = train::ReadTrainLog(
      (std::filesystem::path(checkpoint).parent_path().parent_path() / "train_log.jsonl").string());
  const double train_world = log.steps > 0 && log.step_s > 0 ? eval::CheckpointWorldSize(checkpoint) : 1;
  eval::AddEfficiency(report, log, train_world, eval_units, eval_seconds, eval_world);
  double epsilon = 0;
  const std::string privacy = eval::CheckpointPrivacy(checkpoint, &epsilon);
  eval::AddPrivacyProvenance(report, privacy, epsilon, log);
}

// evaluate --checkpoint with eval.protocol full or sampled (eval/heldout_ranking.h).
int RunHeldOutRanking(Job& job, const ParsedArgs& a, const std::string& checkpoint, const std::string& out_dir,
                      std::chrono::steady_clock::time_point t0) {
  Communicator& comm = *job.comm;
  const RunOptions& opt = job.config.options;
  const std::string split = a.Has("--split") ? a.Get("--split") : "test";
  RP_REQUIRE(split == "valid" || split == "test", StatusCode::kInvalidArgument,
             "recprism evaluate --split: expected valid or test, found '{}'", split);
  const std::string prepared = data::PreparedPath(opt.data);
  data::CheckPreparedMatches(opt.data, prepared);
  eval::HeldOutStats stats;
  eval::Report report = eval::RankHeldOut(comm, prepared, checkpoint, opt.data, opt.model, opt.eval, split,
                                          static_cast<uint64_t>(opt.run.seed), &stats);
  RP_LOG_INFO("ranked {} held-out items of the {} split on this rank with {} ({}) in {:.2f} s", stats.queries, split,
              checkpoint, stats.model, stats.seconds);
  const double queries = static_cast<double>(AllReduceScalar<int64_t>(comm, stats.queries, ReduceOp::kSum));
  AddEfficiency(&report, checkpoint, queries, stats.seconds, comm.WorldSize());
  report.provenance["input"] = checkpoint;
  report.provenance["prepared"] = prepared;
  report.provenance["config_hash"] = job.config.hash;
  report.provenance["commit"] = GitCommit();
  report.provenance["recprism_version"] = Version();
  report.provenance["world_size"] = std::to_string(comm.WorldSize());
  report.provenance["seconds_total"] =
      fmt::format("{:.3f}", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  report.config_yaml = config::EmitEffectiveConfig(job.config);
  if (comm.Rank() == 0) {
    eval::WriteReport(report, out_dir);
    std::cout << "report: " << out_dir << "/report.html (also report.json, report.md)\n";
    std::cout << fmt::format("  protocol {} over {} queries\n", report.provenance["protocol"],
                             report.provenance["protocol_queries"]);
    std::string s;
    for (const int64_t k : report.top_k) {
      for (const char* name : {"hit_rate", "ndcg"}) {
        const std::string n = fmt::format("{}@{}", name, k);
        if (const char* v = Headline(report, "heldout", n.c_str(), &s)) std::cout << fmt::format("  {:<12} {}\n", n, v);
      }
    }
    if (const char* v = Headline(report, "heldout", "mrr", &s)) std::cout << fmt::format("  {:<12} {}\n", "mrr", v);
    // Full ranking: how the lists spread over the catalogue, and the popularity recommender's
    // accuracy for contrast.
    for (const int64_t k : report.top_k) {
      for (const char* name : {"coverage", "personalization"}) {
        const std::string n = fmt::format("{}@{}", name, k);
        if (const char* v = Headline(report, "heldout", n.c_str(), &s)) std::cout << fmt::format("  {:<20} {}\n", n, v);
      }
    }
    if (!report.top_k.empty()) {
      const std::string n = fmt::format("hit_rate@{}", report.top_k.back());
      if (const auto* m = report.Find("popularity", "heldout", n); m != nullptr && std::isfinite(m->value)) {
        std::cout << fmt::format("  popularity {}: {:.4f}\n", n, m->value);
      }
    }
  }
  comm.Barrier();
  return 0;
}

}  // namespace

int RunEvaluateCommand(JobContext& ctx, const std::vector<std::string>& args) {
  ParsedArgs a = ParseArgs(args, {"--predictions", "--output", "--checkpoint", "--split", "--config", "--set"}, {},
                           "recprism evaluate");
  if (a.help) {
    std::cout << kEvaluateHelp;
    return 0;
  }
  RP_REQUIRE(a.Has("--predictions") != a.Has("--checkpoint"), StatusCode::kInvalidArgument,
             "recprism evaluate: give exactly one of --predictions FILE or --checkpoint CKPT (see --help)");
  const auto t0 = std::chrono::steady_clock::now();
  Job job = StartJob(ctx, a.Get("--config"), a.GetAll("--set"), /*require_all_keys=*/false);
  Communicator& comm = *job.comm;
  const RunOptions& opt = job.config.options;
  const bool model_path = a.Has("--checkpoint");
  const std::string input = model_path ? a.Get("--checkpoint") : a.Get("--predictions");
  const std::string out_dir = a.Has("--output") ? a.Get("--output") : job.run_dir + "/report";

  if (opt.eval.protocol != Protocol::kRows) {
    RP_REQUIRE(model_path, StatusCode::kInvalidArgument,
               "eval.protocol: {} ranks held-out items with a model (--checkpoint); a predictions file is evaluated on "
               "its own rows (eval.protocol: rows)", NameOf(opt.eval.protocol));
    return RunHeldOutRanking(job, a, input, out_dir, t0);
  }
  data::PredictionRows rows;
  if (model_path) {
    const std::string split = a.Has("--split") ? a.Get("--split") : "test";
    RP_REQUIRE(split == "valid" || split == "test", StatusCode::kInvalidArgument,
               "recprism evaluate --split: expected valid or test, found '{}'", split);
    const std::string prepared = data::PreparedPath(opt.data);
    data::CheckPreparedMatches(opt.data, prepared);
    eval::ScoringStats stats;
    rows = eval::ScoreSplit(comm, prepared, input, opt.data, opt.model, split, opt.eval.batch_size,
                            static_cast<uint64_t>(opt.run.seed), &stats);
    rows.file_rows = AllReduceScalar<int64_t>(comm, static_cast<int64_t>(rows.size()), ReduceOp::kSum);
    RP_LOG_INFO("scored the {} split of {} with {} ({}): {} samples on this rank in {:.2f} s", split, prepared, input,
                stats.model, stats.samples, stats.seconds);
  } else {
    rows = data::ReadPredictions(input, eval::ColumnsFrom(opt.eval), comm);
  }
  const double read_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RP_LOG_INFO("read {}: {} rows in the file, {} on this rank ({:.2f} s)", input, rows.file_rows, rows.size(), read_s);
  eval::Report report = eval::EvaluatePredictions(comm, opt.eval, rows, static_cast<uint64_t>(opt.run.seed));
  if (model_path) {
    const double eval_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    AddEfficiency(&report, input, static_cast<double>(rows.file_rows), eval_s, comm.WorldSize());
    if (opt.eval.feature_importance) {
      eval::AddPermutationImportance(&report, comm, opt.eval, opt.data, opt.model, data::PreparedPath(opt.data), input,
                                     a.Has("--split") ? a.Get("--split") : "test", static_cast<uint64_t>(opt.run.seed));
    }
  }
  report.provenance["input"] = input;
  if (model_path) report.provenance["scored_split"] = a.Has("--split") ? a.Get("--split") : "test";
  report.provenance["input_checksum"] = rows.checksum.empty() ? "n/a (HDF5)" : rows.checksum;
  report.provenance["input_rows"] = std::to_string(rows.file_rows);
  report.provenance["config_hash"] = job.config.hash;
  report.provenance["commit"] = GitCommit();
  report.provenance["recprism_version"] = Version();
  report.provenance["seconds_read"] = fmt::format("{:.3f}", read_s);
  report.provenance["seconds_total"] =
      fmt::format("{:.3f}", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  report.config_yaml = config::EmitEffectiveConfig(job.config);
  if (comm.Rank() == 0) {
    eval::WriteReport(report, out_dir);
    std::string s;
    std::cout << "report: " << out_dir << "/report.html (also report.json, report.md)\n";
    for (const char* task : {"ctr", "cvr", "ctcvr"}) {
      for (const char* name : {"auc", "gauc", "logloss"}) {
        if (const char* v = Headline(report, task, name, &s)) std::cout << fmt::format("  {:<6} {:<8} {}\n", task, name, v);
      }
    }
    if (!report.top_k.empty()) {
      const std::string nd = fmt::format("ndcg@{}", report.top_k[0]);
      if (const char* v = Headline(report, "ctr", nd.c_str(), &s)) std::cout << fmt::format("  {:<6} {:<8} {}\n", "ctr", nd, v);
    }
  }
  comm.Barrier();
  return 0;
}

int RunCompareCommand(const std::vector<std::string>& args) {
  log::Init(0, 1, LogOptions{});
  ParsedArgs a = ParseArgs(args, {"--output"}, {}, "recprism compare");
  if (a.help || a.positional.size() != 2) {
    std::cout << kCompareHelp;
    return a.help ? 0 : 2;
  }
  const std::string pa = ReportJsonPath(a.positional[0]), pb = ReportJsonPath(a.positional[1]);
  eval::Report ra = eval::ReportFromJson(ReadWhole(pa), pa);
  eval::Report rb = eval::ReportFromJson(ReadWhole(pb), pb);
  namespace fs = std::filesystem;
  auto name = [](const std::string& p) {
    fs::path x(p);
    if (x.filename() == "report.json") x = x.parent_path();
    return x.filename().string();
  };
  eval::Report cmp = eval::CompareReports(ra, rb, a.positional[0], a.positional[1]);
  std::string out = a.Get("--output");
  if (out.empty()) {
    fs::path base(a.positional[0]);
    if (base.filename() == "report.json") base = base.parent_path();
    out = base.string() + "-vs-" + name(a.positional[1]);
  }
  eval::WriteReport(cmp, out);
  size_t significant = 0;
  for (const auto& m : cmp.metrics) {
    auto it = m.extra.find("p_holm");
    significant += it != m.extra.end() && std::isfinite(it->second) && it->second < 0.05;
  }
  std::cout << fmt::format("compared {} metrics, {} differ at Holm-adjusted p < 0.05\nreport: {}/report.html\n",
                           cmp.metrics.size(), significant, out);
  return 0;
}

}  // namespace recprism::cli
