#include "data/prepare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_map>
#include <unistd.h>
#include <unordered_set>

#include "core/check.h"
#include "core/file_util.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/version.h"
#include "data/prepared_file.h"
#include "data/presets.h"
#include "data/prepare_steps.h"
#include "data/row_spill.h"

namespace recprism::data {
namespace prepare_detail {

std::string NowIso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void AssignUserSplits(const SplitPlan& plan, const int64_t* time, const uint8_t* positive, size_t n, uint64_t user_key,
                      uint8_t* split) {
  if (plan.protocol == "leave_one_out") {
    // Boundaries at the last and second-to-last positives; rows from a boundary on follow it.
    std::vector<size_t> pos;
    for (size_t k = 0; k < n; ++k) if (positive[k]) pos.push_back(k);
    size_t test_from = n, valid_from = n;
    if (pos.size() >= 2) test_from = pos.back();
    if (pos.size() >= 3) valid_from = pos[pos.size() - 2];
    for (size_t k = 0; k < n; ++k) {
      split[k] = static_cast<uint8_t>(k >= test_from ? Split::kTest : k >= valid_from ? Split::kValid : Split::kTrain);
    }
  } else if (plan.protocol == "temporal_global") {
    for (size_t k = 0; k < n; ++k) {
      split[k] = static_cast<uint8_t>(time[k] >= plan.cut_test ? Split::kTest
                                      : time[k] >= plan.cut_valid ? Split::kValid : Split::kTrain);
    }
  } else if (plan.protocol == "temporal_user") {
    const double a = plan.ratios[0] * n, b = (plan.ratios[0] + plan.ratios[1]) * n;
    for (size_t k = 0; k < n; ++k) {
      split[k] = static_cast<uint8_t>(k + 0.5 >= b ? Split::kTest : k + 0.5 >= a ? Split::kValid : Split::kTrain);
    }
  } else if (plan.protocol == "random") {
    std::mt19937_64 rng(plan.seed * 0x9e3779b97f4a7c15ULL ^ user_key);
    std::uniform_real_distribution<double> u(0, 1);
    for (size_t k = 0; k < n; ++k) {
      double x = u(rng);
      split[k] = static_cast<uint8_t>(x < plan.ratios[0] ? Split::kTrain
                                      : x < plan.ratios[0] + plan.ratios[1] ? Split::kValid : Split::kTest);
    }
  }
}

std::string ParamsText(const DataOptions& o, const std::string& protocol, uint64_t seed) {
  std::string s;
  s += "dataset=" + o.dataset + "\n";
  s += "split=" + protocol + "\n";
  s += fmt::format("split_ratios={},{},{}\n", o.split_ratios[0], o.split_ratios[1], o.split_ratios[2]);
  s += fmt::format("negatives_per_positive={}\nnegative_sampler={}\nnegative_pool={}\n", o.negatives_per_positive,
                   o.negative_sampler, o.negative_pool);
  if (o.eval_negatives_per_positive >= 0) s += fmt::format("eval_negatives_per_positive={}\n", o.eval_negatives_per_positive);
  s += fmt::format("min_user_interactions={}\non_bad_row={}\nseed={}\n", o.min_user_interactions, o.on_bad_row, seed);
  if (o.history_order != "source") s += "history_order=" + o.history_order + "\n";
  if (o.dataset == "generic" && o.generic.exposures != "auto") s += "generic.exposures=" + o.generic.exposures + "\n";
  if (o.dataset == "synthetic") {
    s += fmt::format("synthetic.rows={}\nsynthetic.users={}\nsynthetic.items={}\nsynthetic.categories={}\n"
                     "synthetic.clusters={}\nsynthetic.zipf={}\n",
                     o.synthetic.rows, o.synthetic.users, o.synthetic.items, o.synthetic.categories,
                     o.synthetic.clusters, o.synthetic.zipf);
  }
  return s;
}

std::string ResolveProtocol(const DataOptions& o, const std::string& preset_default, bool has_source_split,
                            const std::string& time_semantics) {
  std::string p = o.split == "auto" ? preset_default : o.split;
  if (p == "source") {
    RP_REQUIRE(has_source_split, StatusCode::kInvalidConfig,
               "data.split is 'source' but dataset '{}' has no splits in its source files (only jd, ali-ccp and "
               "aliexpress do); use leave_one_out, temporal or random",
               o.dataset);
  }
  if (p == "temporal") p = time_semantics == "unix_seconds" ? "temporal_global" : "temporal_user";
  return p;
}

void LogReport(const PrepareReport& r) {
  RP_LOG_DEBUG("prepared {}: {} rows ({} positives, {} sampled negatives), {} users, {} items; split {}: "
              "train {}, valid {}, test {} rows; {} bad rows skipped; {:.1f} s",
              r.output, r.rows, r.positives, r.sampled_negatives, r.users, r.items, r.split_protocol, r.split_rows[0],
              r.split_rows[1], r.split_rows[2], r.skipped_rows, r.seconds);
}


// ------------------------------------------------------------------ synthetic
// Planted structure: users belong to interest clusters, each preferring a few categories; items
// have power-law popularity and a category and price; click and conversion probabilities rise
// with the user's affinity to the item's category and fall with price for conversions.
PrepareReport PrepareSynthetic(const DataOptions& o, const std::string& output, uint64_t seed) {
  const SyntheticOptions& s = o.synthetic;
  const int64_t rows_target = s.rows;
  const int64_t num_users = s.users > 0 ? s.users : std::max<int64_t>(1, rows_target / 50);
  const int64_t num_items = s.items > 0 ? s.items : std::max<int64_t>(1000, rows_target / 200);
  const int num_cats = s.categories, num_clusters = s.clusters;
  std::mt19937_64 rng(seed ^ 0x51a7e11cULL);

  // Items: category, popularity weight (Zipf over a random rank), price.
  std::vector<int32_t> item_cat(num_items + 1);
  std::vector<float> item_price(num_items + 1);
  std::vector<double> weight(num_items + 1, 0.0);
  std::vector<int64_t> rank(num_items);
  std::iota(rank.begin(), rank.end(), 1);
  std::shuffle(rank.begin(), rank.end(), rng);
  std::lognormal_distribution<double> price_dist(3.0, 0.8);
  for (int64_t i = 1; i <= num_items; ++i) {
    item_cat[i] = static_cast<int32_t>(std::uniform_int_distribution<int>(1, num_cats)(rng));
    weight[i] = 1.0 / std::pow(static_cast<double>(rank[i - 1]), s.zipf);
    item_price[i] = static_cast<float>(std::round(price_dist(rng) * 100) / 100);
  }
  // Per-category popularity tables (cumulative weights) and a global one.
  std::vector<std::vector<int64_t>> cat_items(num_cats + 1);
  for (int64_t i = 1; i <= num_items; ++i) cat_items[item_cat[i]].push_back(i);
  std::vector<std::vector<double>> cat_cdf(num_cats + 1);
  for (int c = 1; c <= num_cats; ++c) {
    double acc = 0;
    for (int64_t i : cat_items[c]) cat_cdf[c].push_back(acc += weight[i]);
  }
  std::vector<double> global_cdf(num_items);
  double acc = 0;
  for (int64_t i = 1; i <= num_items; ++i) global_cdf[i - 1] = acc += weight[i];
  // Clusters: three preferred categories each.
  std::vector<std::vector<int>> cluster_cats(num_clusters);
  for (int k = 0; k < num_clusters; ++k) {
    for (int j = 0; j < std::min(3, num_cats); ++j) cluster_cats[k].push_back(std::uniform_int_distribution<int>(1, num_cats)(rng));
  }

  const std::string protocol = ResolveProtocol(o, "temporal", false, "unix_seconds");
  SplitPlan plan;
  plan.protocol = protocol;
  plan.seed = seed;
  std::copy(o.split_ratios.begin(), o.split_ratios.end(), plan.ratios);
  const int64_t t0 = 1'600'000'000, span = 90LL * 24 * 3600;
  plan.cut_valid = t0 + static_cast<int64_t>(plan.ratios[0] * span);
  plan.cut_test = t0 + static_cast<int64_t>((plan.ratios[0] + plan.ratios[1]) * span);

  Metadata meta;
  meta.preset = "synthetic";
  meta.source = fmt::format("synthetic generator: {} users in {} interest clusters, {} items in {} categories, Zipf {}",
                            num_users, num_clusters, num_items, num_cats, s.zipf);
  meta.time_semantics = "unix_seconds";
  meta.created_at = NowIso();
  meta.recprism_version = std::string(Version()) + " (" + GitCommit() + ")";
  meta.params = ParamsText(o, protocol, seed);
  meta.notes.push_back("synthetic: every row is an impression; click and conversion are drawn from planted "
                       "propensities (user cluster x item category affinity, price); the user feature 'cluster' is "
                       "the planted cluster; value is the item price");
  PreparedWriter writer(output, meta);
  UserTable users;
  users.num_users = num_users;
  users.offsets.assign(1, 0);
  users.split_rows.assign(num_users * kNumSplits, 0);
  users.feature_names = {"cluster"};
  users.feature_cardinality = {num_clusters + 1};
  users.features.resize(num_users);
  users.raw_id.reserve(num_users);
  ItemTable items;
  items.num_items = num_items;
  items.num_categories = num_cats + 1;
  items.popularity.assign(num_items + 1, 0);

  Rows block;
  const size_t flush_rows = 1 << 20;
  PrepareReport report;
  report.output = output;
  report.split_protocol = protocol;
  int64_t produced = 0;
  std::normal_distribution<double> len_noise(0.0, 0.5);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  std::vector<uint8_t> user_split;
  for (int64_t u = 0; u < num_users; ++u) {
    const int cluster = static_cast<int>(u % num_clusters);
    users.features[u] = cluster + 1;
    users.raw_id.push_back("u" + std::to_string(u));
    // Log-normal lengths around the mean of what is left, so the total lands on rows_target.
    const double mean_rows = static_cast<double>(rows_target - produced) / static_cast<double>(num_users - u);
    int64_t n = std::llround(mean_rows * std::exp(len_noise(rng) - 0.125));
    if (u == num_users - 1 || produced + n > rows_target) n = rows_target - produced;
    n = std::max<int64_t>(0, n);
    const size_t first = block.size();
    // Each user's activity spreads over the whole window, so a temporal split cuts every history.
    const double mean_gap = static_cast<double>(span) / static_cast<double>(std::max<int64_t>(n, 1) + 1);
    int64_t t = t0;
    for (int64_t k = 0; k < n; ++k) {
      t += static_cast<int64_t>(std::exponential_distribution<double>(1.0 / mean_gap)(rng)) + 1;
      int64_t item;
      const bool in_interest = unif(rng) < 0.6;
      if (in_interest) {
        int c = cluster_cats[cluster][std::uniform_int_distribution<size_t>(0, cluster_cats[cluster].size() - 1)(rng)];
        if (cat_items[c].empty()) c = item_cat[1];
        const auto& cdf = cat_cdf[c];
        size_t idx = std::upper_bound(cdf.begin(), cdf.end(), unif(rng) * cdf.back()) - cdf.begin();
        item = cat_items[c][std::min(idx, cat_items[c].size() - 1)];
      } else {
        size_t idx = std::upper_bound(global_cdf.begin(), global_cdf.end(), unif(rng) * global_cdf.back()) - global_cdf.begin();
        item = static_cast<int64_t>(std::min<size_t>(idx, num_items - 1)) + 1;
      }
      const bool affine = std::find(cluster_cats[cluster].begin(), cluster_cats[cluster].end(), item_cat[item]) !=
                          cluster_cats[cluster].end();
      const double p_click = affine ? 0.30 : 0.04;
      const double p_conv = (affine ? 0.25 : 0.05) * (item_price[item] < 30.0f ? 1.5 : 0.7);
      const uint8_t click = unif(rng) < p_click ? 1 : 0;
      const uint8_t conv = click && unif(rng) < p_conv ? 1 : 0;
      block.user.push_back(u);
      block.item.push_back(item);
      block.time.push_back(t);
      block.event.push_back(static_cast<uint8_t>(conv ? Event::kPurchase : click ? Event::kClick : Event::kImpression));
      block.click.push_back(click);
      block.conversion.push_back(conv);
      block.value.push_back(item_price[item]);
      block.split.push_back(0);
    }
    AssignUserSplits(plan, block.time.data() + first, block.click.data() + first, static_cast<size_t>(n),
                     static_cast<uint64_t>(u), block.split.data() + first);
    for (size_t k = first; k < block.size(); ++k) {
      ++users.split_rows[u * kNumSplits + block.split[k]];
      report.positives += block.click[k];
      report.split_clicks[block.split[k]] += block.click[k];
      if (block.click[k] && block.split[k] == 0) ++items.popularity[block.item[k]];
    }
    produced += n;
    users.offsets.push_back(produced);
    if (block.size() >= flush_rows) {
      writer.AppendRows(block);
      block.Clear();
    }
  }
  writer.AppendRows(block);
  items.raw_id.reserve(num_items + 1);
  items.raw_id.push_back("");
  items.category_offsets.reserve(num_items + 2);
  items.category_offsets.push_back(0);
  items.category_offsets.push_back(0);
  for (int64_t i = 1; i <= num_items; ++i) {
    items.raw_id.push_back("i" + std::to_string(i));
    items.category_values.push_back(item_cat[i]);
    items.category_offsets.push_back(static_cast<int64_t>(items.category_values.size()));
  }
  writer.Finish(users, items);
  report.rows = produced;
  report.users = num_users;
  report.items = num_items;
  for (int sp = 0; sp < kNumSplits; ++sp) {
    for (int64_t u = 0; u < num_users; ++u) report.split_rows[sp] += users.split_rows[u * kNumSplits + sp];
  }
  return report;
}

}  // namespace prepare_detail

using namespace prepare_detail;  // NOLINT(google-build-using-namespace): this module's own steps

void CheckPreparedMatches(const DataOptions& o, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return;  // the caller's own open names the missing file
  PreparedReader reader(path, /*load_raw_ids=*/false);
  auto parse = [](const std::string& text) {
    std::map<std::string, std::string> kv;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
  };
  const auto file = parse(reader.metadata().params);
  if (file.empty()) return;  // written before the parameters were recorded
  auto split = file.find("split");
  auto seed = file.find("seed");
  const auto want = parse(ParamsText(o, split == file.end() ? "" : split->second,
                                     seed == file.end() ? 0 : std::strtoull(seed->second.c_str(), nullptr, 10)));
  std::string diffs;
  for (const auto& [key, value] : want) {
    if (key == "seed" || key == "split") continue;
    // Split ratios only matter to the ratio-based splits.
    if (key == "split_ratios" && split != file.end() && split->second.find("temporal") == std::string::npos &&
        split->second != "random") {
      continue;
    }
    auto it = file.find(key);
    const std::string found = it == file.end() ? "(absent)" : it->second;
    if (found != value) diffs += fmt::format("; {}: the file has {}, this config {}", key, found, value);
  }
  // Options written only when they differ from their default (history_order, eval_negatives_per_positive).
  for (const auto& [key, value] : file) {
    if (key != "seed" && key != "split" && !want.count(key)) {
      diffs += fmt::format("; {}: the file has {}, this config leaves it at its default", key, value);
    }
  }
  RP_REQUIRE(diffs.empty(), StatusCode::kDataError,
             "{} was prepared with other data options than this config{}. Re-run `recprism prepare` with this config "
             "(it overwrites the file), or give each preparation its own data.prepared path",
             path, diffs);
}

std::string PreparedPath(const DataOptions& o) {
  if (!o.prepared.empty()) return ExpandUser(o.prepared);
  return ExpandUser(o.cache_dir) + "/prepared/" + o.dataset + ".h5";
}

namespace {
// A directory for spilled rows beside the output, removed with everything in it on every exit.
class SpillDir {
 public:
  explicit SpillDir(const std::string& output) {
    path_ = output + ".spill." + std::to_string(::getpid());
    std::error_code ec;
    std::filesystem::create_directories(path_, ec);
    RP_REQUIRE(!ec, StatusCode::kIoError, "cannot create the spill directory {}: {}", path_, ec.message());
  }
  ~SpillDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  SpillDir(const SpillDir&) = delete;
  SpillDir& operator=(const SpillDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};
}  // namespace

PrepareReport Prepare(const DataOptions& o, const std::string& output, uint64_t seed) {
  RP_REQUIRE(!o.dataset.empty(), StatusCode::kInvalidConfig, "data.dataset is empty: name a preset (docs/datasets.md)");
  RP_REQUIRE(o.history_order == "source" || o.dataset == "jd" || o.dataset == "ml-1m", StatusCode::kInvalidConfig,
             "data.history_order is '{}' but dataset '{}' keeps its source's order (timestamps or a recorded "
             "sequence); only jd and ml-1m without ratings.dat, whose files list each user's items by item id, "
             "take 'shuffled'",
             o.history_order, o.dataset);
  const auto t0 = Clock::now();
  std::unique_ptr<SpillDir> spill_dir;
  if (o.dataset != "synthetic") spill_dir = std::make_unique<SpillDir>(output);
  PrepareReport report;
  if (o.dataset == "synthetic") {
    report = PrepareSynthetic(o, output, seed);
  } else {
    RawLog log = ParsePreset(o, spill_dir ? spill_dir->path() : "", seed);
    RP_LOG_DEBUG("prepare: parse {:.2f} s", std::chrono::duration<double>(Clock::now() - t0).count());
    report = PrepareFromLog(o, std::move(log), output, seed);
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // A split whose click rate is 0 or 1 teaches the click task nothing and makes its AUC undefined:
  // usually a log without non-click exposures and data.negatives_per_positive 0.
  for (int s = 0; s < kNumSplits; ++s) {
    const int64_t rows = report.split_rows[s], clicks = report.split_clicks[s];
    if (rows == 0 || (clicks > 0 && clicks < rows)) continue;
    report.warnings.push_back(fmt::format(
        "split {}: the click rate is {} ({} of {} rows are clicks): the click (CTR) task cannot be trained or "
        "evaluated on it{}",
        SplitName(static_cast<uint8_t>(s)), clicks == 0 ? 0 : 1, clicks, rows,
        clicks == rows ? "; there are no non-click exposures: sample them with data.negatives_per_positive > 0 (for "
                         "a generic log, data.generic.exposures: sampled), unless only next-item training is intended"
                       : ""));
  }
  for (const auto& w : report.warnings) RP_LOG_WARN("prepare: {}", w);
  LogReport(report);
  return report;
}

}  // namespace recprism::data
