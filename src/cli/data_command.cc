// `recprism prepare` and `recprism data inspect`.
#include <chrono>
#include <iostream>

#include "cli/args.h"
#include "cli/commands.h"
#include "comm/factory.h"
#include "config/loader.h"
#include "core/check.h"
#include "core/log.h"
#include "data/prepare.h"
#include "data/prepared_file.h"
#include "data/shard.h"

namespace recprism::cli {
namespace {

constexpr const char* kPrepareHelp = R"(usage: recprism prepare [--config FILE] [--set key=value]... [options]

Converts a dataset into one prepared HDF5 file (docs/data-format.md): dense ids, rows sorted by
(user, time), train/valid/test splits without leakage, sampled negatives for implicit feedback,
item and user tables, metadata with source checksums. Sources resolve through the mirror
(data.data_dir or $RECPRISM_DATA_DIR), then data.cache_dir, then the official download.
The output is written under a temporary name and renamed, so a failed run never replaces a
good file.

options:
  --config FILE             run config (the data.* keys are used)
  --set key=value           override a config key (repeatable)
  --dataset NAME            shorthand for --set data.dataset=NAME
  --rows N                  synthetic: rows to generate (data.synthetic.rows)
  --output PATH             output file (default: data.prepared, else <cache_dir>/prepared/<dataset>.h5)
  --on-bad-row fail|skip    malformed source rows: fail naming file and line (default), or skip and count
)";

constexpr const char* kDataHelp = R"(usage: recprism data inspect FILE [--world-size N] [--shard contiguous|hash]

Prints a prepared file's schema (datasets, types, shapes, chunking), counts, label rates per split,
metadata (source, checksums, parameters, notes) and the per-rank balance of user sharding for the
given world size.
)";

}  // namespace

int RunPrepareCommand(const std::vector<std::string>& args) {
  ParsedArgs a = ParseArgs(args, {"--config", "--set", "--dataset", "--rows", "--output", "--on-bad-row"}, {},
                           "recprism prepare");
  if (a.help) {
    std::cout << kPrepareHelp;
    return 0;
  }
  RP_REQUIRE(LauncherWorldSize() == 1, StatusCode::kInvalidArgument,
             "recprism prepare runs on one process, but the launcher started {}: every process would write the same "
             "output; run it without mpirun/srun (the loader shards the prepared file across ranks)",
             LauncherWorldSize());
  std::vector<std::string> overrides = a.GetAll("--set");
  if (a.Has("--dataset")) overrides.push_back("data.dataset=" + a.Get("--dataset"));
  if (a.Has("--rows")) overrides.push_back("data.synthetic.rows=" + a.Get("--rows"));
  if (a.Has("--on-bad-row")) overrides.push_back("data.on_bad_row=" + a.Get("--on-bad-row"));
  config::LoadedConfig cfg = config::LoadConfig(a.Get("--config"), overrides);
  log::Init(0, 1, cfg.options.log);
  const DataOptions& d = cfg.options.data;
  const std::string output = a.Has("--output") ? a.Get("--output") : data::PreparedPath(d);
  data::PrepareReport r = data::Prepare(d, output, static_cast<uint64_t>(cfg.options.run.seed));
  std::cout << fmt::format("prepared {} -> {}\n  rows {} (positives {}, sampled negatives {}), users {}, items {}\n"
                           "  split {}: train {}, valid {}, test {} rows\n  skipped bad rows {}, dropped users {}\n"
                           "  {:.2f} s, {:.0f} rows/s\n",
                           d.dataset, r.output, r.rows, r.positives, r.sampled_negatives, r.users, r.items,
                           r.split_protocol, r.split_rows[0], r.split_rows[1], r.split_rows[2], r.skipped_rows,
                           r.dropped_users, r.seconds, r.seconds > 0 ? r.rows / r.seconds : 0.0);
  return 0;
}

int RunDataCommand(const std::vector<std::string>& args) {
  log::Init(0, 1, LogOptions{});  // a single-process command
  ParsedArgs a = ParseArgs(args, {"--world-size", "--shard"}, {}, "recprism data");
  if (a.help || a.positional.empty()) {
    std::cout << kDataHelp;
    return a.help ? 0 : 2;
  }
  RP_REQUIRE(a.positional[0] == "inspect" && a.positional.size() == 2, StatusCode::kInvalidArgument,
             "recprism data: expected 'inspect FILE'");
  const int world = static_cast<int>(a.GetInt("--world-size", 1));
  RP_REQUIRE(world >= 1, StatusCode::kInvalidArgument, "--world-size must be >= 1");
  const std::string method = a.Get("--shard", "contiguous");
  RP_REQUIRE(method == "contiguous" || method == "hash", StatusCode::kInvalidArgument,
             "--shard must be contiguous or hash, found '{}'", method);
  data::PreparedReader rd(a.positional[1]);
  const auto& m = rd.metadata();
  const auto& users = rd.users();
  const auto& items = rd.items();
  std::cout << "file: " << rd.path() << "\n";
  std::cout << fmt::format("format: {} version {}\npreset: {}\nsource: {}\ntime: {}\ncreated: {} by RecPrism {}\n",
                           data::kFormatName, m.format_version, m.preset, m.source, m.time_semantics, m.created_at,
                           m.recprism_version);
  for (const auto& s : m.sources) std::cout << fmt::format("source file: {} (md5 {}, {} lines)\n", s.path, s.md5, s.lines);
  std::cout << "parameters:\n";
  std::string line;
  for (char c : m.params) {
    if (c == '\n') {
      std::cout << "  " << line << "\n";
      line.clear();
    } else {
      line += c;
    }
  }
  for (const auto& n : m.notes) std::cout << "note: " << n << "\n";
  std::cout << "schema:\n";
  for (const auto& s : rd.DescribeSchema()) std::cout << "  " << s << "\n";
  std::cout << fmt::format("counts: {} rows, {} users, {} items, {} categories\n", rd.num_rows(), users.num_users,
                           items.num_items, items.num_categories);
  if (!users.feature_names.empty()) {
    std::cout << "user features:";
    for (size_t k = 0; k < users.feature_names.size(); ++k) {
      std::cout << " " << users.feature_names[k] << "(" << users.feature_cardinality[k] << ")";
    }
    std::cout << "\n";
  }
  if (!m.cat_feature_names.empty() || !m.num_feature_names.empty()) {
    std::cout << fmt::format("row features: {} categorical, {} numeric\n", m.cat_feature_names.size(),
                             m.num_feature_names.size());
  }
  // Label rates per split, streamed in blocks.
  int64_t n[3] = {0, 0, 0}, clicks[3] = {0, 0, 0}, convs[3] = {0, 0, 0}, sampled[3] = {0, 0, 0};
  const int64_t step = 1 << 22;
  for (int64_t b = 0; b < rd.num_rows(); b += step) {
    const int64_t e = std::min(rd.num_rows(), b + step);
    auto split = rd.ReadU8Column("split", b, e);
    auto click = rd.ReadU8Column("click", b, e);
    auto conv = rd.ReadU8Column("conversion", b, e);
    auto event = rd.ReadU8Column("event", b, e);
    for (size_t i = 0; i < split.size(); ++i) {
      const int s = split[i] < 3 ? split[i] : 0;
      ++n[s];
      clicks[s] += click[i];
      convs[s] += conv[i];
      sampled[s] += event[i] == static_cast<uint8_t>(data::Event::kSampledNegative);
    }
  }
  std::cout << "splits:\n";
  for (int s = 0; s < 3; ++s) {
    std::cout << fmt::format("  {:<5} rows {:>10}  sampled negatives {:>10}  CTR {:.4f}  CVR (on clicks) {:.4f}  CTCVR {:.4f}\n",
                             data::SplitName(static_cast<uint8_t>(s)), n[s], sampled[s],
                             n[s] ? static_cast<double>(clicks[s]) / n[s] : 0.0,
                             clicks[s] ? static_cast<double>(convs[s]) / clicks[s] : 0.0,
                             n[s] ? static_cast<double>(convs[s]) / n[s] : 0.0);
  }
  // The loader plans each split's shards on that split's samples (the rows a rank iterates).
  std::cout << fmt::format("shards ({} ranks, {}; each split is balanced on its own samples):\n", world, method);
  for (int s = 0; s < 3; ++s) {
    data::ShardPlan plan = data::MakeShardPlan(users, world, method, s);
    auto rows = data::RowsPerRank(plan, users, s);
    std::string per_rank;
    for (int r = 0; r < world; ++r) {
      per_rank += fmt::format("{}{}", r ? ", " : "", rows[r]);
      if (method == "contiguous" && world <= 8) per_rank += fmt::format(" [users {}-{})", plan.user_begin[r], plan.user_begin[r + 1]);
    }
    std::cout << fmt::format("  {:<5} samples per rank: {}; imbalance (max/mean - 1) {:.2f}%\n",
                             data::SplitName(static_cast<uint8_t>(s)), per_rank, 100.0 * data::Imbalance(rows));
  }
  return 0;
}

}  // namespace recprism::cli
