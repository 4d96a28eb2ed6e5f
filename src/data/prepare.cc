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
#include "data/row_spill.h"

namespace recprism::data {
namespace {

using Clock = std::chrono::steady_clock;

std::string NowIso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Split protocol for one user's rows (in time order). `positive[k]` marks behaviour rows.
struct SplitPlan {
  std::string protocol;           // leave_one_out, temporal_global, temporal_user, random, source
  int64_t cut_valid = 0, cut_test = 0;  // temporal_global: time thresholds
  double ratios[3] = {0.7, 0.15, 0.15};
  uint64_t seed = 0;
};

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

// Draws the negatives of one positive: distinct items from a pool (sorted dense ids), never an item
// the user touched, uniformly or in proportion to (smoothed) train popularity.
class NegativeSampler {
 public:
  NegativeSampler(std::vector<int64_t> pool, const std::vector<int64_t>& popularity, bool by_popularity)
      : pool_(std::move(pool)), by_popularity_(by_popularity) {
    if (by_popularity_) {
      cdf_.reserve(pool_.size());
      double acc = 0;
      for (int64_t item : pool_) cdf_.push_back(acc += popularity[item] + 1.0);  // +1: unseen items stay possible
    }
  }
  size_t pool_size() const { return pool_.size(); }
  // Appends up to k distinct items not in `seen`; fewer only when the user has touched nearly the
  // whole pool (the attempts are bounded).
  int Sample(std::mt19937_64& rng, const std::unordered_set<int64_t>& seen, int k, std::vector<int64_t>* out) const {
    const size_t first = out->size();
    std::unordered_set<int64_t> drawn;  // only for large k; small groups are checked linearly
    int got = 0;
    for (int attempt = 0; got < k && !pool_.empty() && attempt < 100 * k + 100; ++attempt) {
      size_t idx;
      if (by_popularity_) {
        const double x = std::uniform_real_distribution<double>(0, cdf_.back())(rng);
        idx = std::min<size_t>(std::upper_bound(cdf_.begin(), cdf_.end(), x) - cdf_.begin(), pool_.size() - 1);
      } else {
        idx = std::uniform_int_distribution<size_t>(0, pool_.size() - 1)(rng);
      }
      const int64_t item = pool_[idx];
      if (seen.count(item)) continue;
      if (k <= 32) {
        if (std::find(out->begin() + static_cast<std::ptrdiff_t>(first), out->end(), item) != out->end()) continue;
      } else if (!drawn.insert(item).second) {
        continue;
      }
      out->push_back(item);
      ++got;
    }
    return got;
  }

 private:
  std::vector<int64_t> pool_;
  bool by_popularity_;
  std::vector<double> cdf_;
};

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

// ------------------------------------------------------------------ from a parsed log
// Source ids in prepared order: numeric ids numerically, then the others lexicographically.
std::vector<int64_t> SortedKeys(const Interner& keys, const std::vector<int64_t>& subset) {
  struct Key {
    bool numeric;
    int64_t number;
    int64_t index;
  };
  std::vector<Key> k;
  k.reserve(subset.size());
  for (int64_t i : subset) {
    const std::string_view s = keys.key(i);
    bool numeric = !s.empty() && s.size() < 19;
    int64_t number = 0;
    for (char c : s) {
      if (c < '0' || c > '9') { numeric = false; break; }
      number = number * 10 + (c - '0');
    }
    k.push_back({numeric, numeric ? number : 0, i});
  }
  std::sort(k.begin(), k.end(), [&](const Key& a, const Key& b) {
    if (a.numeric != b.numeric) return a.numeric;
    if (a.numeric) return a.number != b.number ? a.number < b.number : keys.key(a.index) < keys.key(b.index);
    return keys.key(a.index) < keys.key(b.index);
  });
  std::vector<int64_t> out(k.size());
  for (size_t j = 0; j < k.size(); ++j) out[j] = k[j].index;
  return out;
}

// The k-th smallest (0-based) of the values a scan yields, exactly, holding at most `cap` values:
// each round counts the values of the remaining range in 65,536 buckets and keeps the bucket that
// holds the k-th, until the range fits.
template <typename Scan>
int64_t SelectKth(int64_t k, int64_t lo, int64_t hi, size_t cap, Scan&& scan) {
  constexpr uint64_t kBuckets = 1 << 16;
  for (;;) {
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    const uint64_t width = span / kBuckets + 1;
    std::vector<int64_t> hist(kBuckets, 0);
    int64_t in_range = 0;
    scan([&](int64_t v) {
      if (v < lo || v > hi) return;
      ++hist[(static_cast<uint64_t>(v) - static_cast<uint64_t>(lo)) / width];
      ++in_range;
    });
    if (static_cast<size_t>(in_range) <= cap || width == 1) {
      if (width == 1) {  // every bucket is one value
        for (uint64_t b = 0; b < kBuckets; ++b) {
          if (k < hist[b]) return lo + static_cast<int64_t>(b);
          k -= hist[b];
        }
      }
      std::vector<int64_t> values;
      values.reserve(in_range);
      scan([&](int64_t v) { if (v >= lo && v <= hi) values.push_back(v); });
      std::nth_element(values.begin(), values.begin() + k, values.end());
      return values[k];
    }
    uint64_t b = 0;
    while (k >= hist[b]) k -= hist[b++];
    lo = static_cast<int64_t>(static_cast<uint64_t>(lo) + b * width);
    hi = static_cast<int64_t>(std::min<uint64_t>(static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo), width - 1) +
                              static_cast<uint64_t>(lo));
  }
}

// Preparation of a parsed log, in user-range partitions that fit data.memory_budget_mb:
//  1. per source user, rows and positives (the filter and the partition plan);
//  2. dense ids: users by source id among those kept, every catalogue item;
//  3. a spilled log is scattered into partition files by user (source order kept within each);
//  4. per partition: a counting sort by user, a stable sort by time within each user, the splits,
//     then train popularity and the negative pool over all partitions;
//  5. per partition: the rows and sampled negatives go to the writer in blocks.
// A log that was not spilled is one partition held in memory. Both paths give the same file.
PrepareReport PrepareFromLog(const DataOptions& o, RawLog log, const std::string& output, uint64_t seed) {
  auto phase_start = Clock::now();
  auto phase = [&](const char* name) {
    const auto now = Clock::now();
    RP_LOG_DEBUG("prepare: {} {:.2f} s", name, std::chrono::duration<double>(now - phase_start).count());
    phase_start = now;
  };
  PrepareReport report;
  report.output = output;
  report.skipped_rows = log.skipped_rows;
  const bool spilled = log.spill && log.spill->rows() > 0;
  if (spilled) {
    log.spill->Take(log, /*force=*/true);
    log.spill->file().FinishWriting();
  }
  const int64_t total_rows = log.total_rows();
  RP_REQUIRE(total_rows > 0, StatusCode::kDataError, "dataset '{}': no interactions were read from {}{}", o.dataset,
             log.sources.empty() ? "its sources" : log.sources.front().path,
             log.skipped_rows > 0 ? fmt::format(" ({} malformed rows were skipped)", log.skipped_rows) : "");
  const int fc = static_cast<int>(log.cat_feature_names.size());
  const int fd = static_cast<int>(log.num_feature_names.size());
  const int64_t num_src_users = log.users.size();

  // 1. Rows and positives per source user.
  std::vector<int64_t> user_rows(num_src_users, 0), positives(num_src_users, 0);
  if (spilled) {
    std::copy(log.spill->user_rows.begin(), log.spill->user_rows.end(), user_rows.begin());
    std::copy(log.spill->user_positives.begin(), log.spill->user_positives.end(), positives.begin());
  } else {
    for (size_t r = 0; r < log.size(); ++r) {
      ++user_rows[log.user[r]];
      positives[log.user[r]] += log.click[r];
    }
  }
  std::vector<int64_t> candidates;
  for (int64_t u = 0; u < num_src_users; ++u) {
    if (user_rows[u] == 0) continue;
    if (o.min_user_interactions > 0 && positives[u] < o.min_user_interactions) {
      ++report.dropped_users;
      continue;
    }
    candidates.push_back(u);
  }
  if (o.min_user_interactions > 0) {
    RP_REQUIRE(!candidates.empty(), StatusCode::kDataError,
               "dataset '{}': no interactions left after filtering: data.min_user_interactions = {} removes all {} "
               "users (the most active has {} positive interactions)",
               o.dataset, o.min_user_interactions, num_src_users, *std::max_element(positives.begin(), positives.end()));
  }

  // 2. Dense ids.
  const std::vector<int64_t> users_present = SortedKeys(log.users, candidates);
  std::vector<int64_t> user_dense(num_src_users, -1);
  for (size_t k = 0; k < users_present.size(); ++k) user_dense[users_present[k]] = static_cast<int64_t>(k);
  std::vector<int64_t> all_items(log.items.size());
  std::iota(all_items.begin(), all_items.end(), 0);
  const std::vector<int64_t> items_sorted = SortedKeys(log.items, all_items);
  std::vector<int64_t> item_dense(log.items.size());
  for (size_t k = 0; k < items_sorted.size(); ++k) item_dense[items_sorted[k]] = static_cast<int64_t>(k) + 1;
  const int64_t num_users = static_cast<int64_t>(users_present.size());
  const int64_t num_items = static_cast<int64_t>(items_sorted.size());
  std::vector<int64_t> dense_rows(num_users);
  int64_t kept_rows = 0;
  for (int64_t u = 0; u < num_users; ++u) kept_rows += dense_rows[u] = user_rows[users_present[u]];
  std::vector<int64_t>().swap(user_rows);
  std::vector<int64_t>().swap(positives);

  const std::string protocol = ResolveProtocol(o, log.default_split, log.has_source_split, log.time_semantics);
  report.split_protocol = protocol;
  SplitPlan plan;
  plan.protocol = protocol;
  plan.seed = seed;
  std::copy(o.split_ratios.begin(), o.split_ratios.end(), plan.ratios);
  const int64_t k_valid = std::min(kept_rows - 1, static_cast<int64_t>(plan.ratios[0] * kept_rows));
  const int64_t k_test = std::min(kept_rows - 1, static_cast<int64_t>((plan.ratios[0] + plan.ratios[1]) * kept_rows));

  // 3. Partitions: consecutive dense-user ranges.
  const size_t mem_row_bytes = RecordBytes(fc, fd) + 24;  // a loaded row, its sort index and scratch
  const int64_t part_rows =
      spilled ? std::max<int64_t>(1, o.memory_budget_mb * (int64_t{1} << 20) / 2 / static_cast<int64_t>(mem_row_bytes))
              : std::numeric_limits<int64_t>::max();
  std::vector<int64_t> part_begin = {0};  // first dense user of each partition, then num_users
  for (int64_t u = 0, acc = 0; u < num_users; ++u) {
    if (acc > 0 && acc + dense_rows[u] > part_rows) {
      part_begin.push_back(u);
      acc = 0;
    }
    acc += dense_rows[u];
  }
  part_begin.push_back(num_users);
  const size_t num_parts = part_begin.size() - 1;
  std::vector<std::unique_ptr<RecordFile>> part_files;
  RowRecords mem;  // the one in-memory partition when nothing was spilled
  if (spilled) {
    std::vector<int32_t> part_of(num_users);
    for (size_t p = 0; p < num_parts; ++p) {
      std::fill(part_of.begin() + part_begin[p], part_of.begin() + part_begin[p + 1], static_cast<int32_t>(p));
    }
    const std::string dir = std::filesystem::path(log.spill->file().path()).parent_path().string();
    for (size_t p = 0; p < num_parts; ++p) {
      part_files.push_back(std::make_unique<RecordFile>(fmt::format("{}/part-{:05d}.rows", dir, p), fc, fd));
    }
    log.spill->file().ForEachBlock(1 << 16, [&](RowRecords& b) {
      for (size_t i = 0; i < b.size(); ++i) {
        const int64_t u = user_dense[b.user[i]];
        if (u < 0) continue;
        b.user[i] = u;
        b.item[i] = item_dense[b.item[i]];
        part_files[part_of[u]]->Append(b, i, b.seq[i]);
      }
    });
    for (auto& f : part_files) f->FinishWriting();
    log.spill.reset();  // removes the source spill
  } else {
    // Map ids in place, drop filtered users' rows, number rows in source order.
    mem.fc = fc;
    mem.fd = fd;
    size_t w = 0;
    for (size_t r = 0; r < log.size(); ++r) {
      const int64_t u = user_dense[log.user[r]];
      if (u < 0) continue;
      log.user[w] = u;
      log.item[w] = item_dense[log.item[r]];
      log.time[w] = log.time[r];
      log.event[w] = log.event[r];
      log.click[w] = log.click[r];
      log.conversion[w] = log.conversion[r];
      log.value[w] = log.value[r];
      log.split[w] = log.split[r];
      std::copy_n(log.cat_features.begin() + r * fc, fc, log.cat_features.begin() + w * fc);
      std::copy_n(log.num_features.begin() + r * fd, fd, log.num_features.begin() + w * fd);
      mem.seq.push_back(static_cast<int64_t>(r));
      ++w;
    }
    log.user.resize(w); log.item.resize(w); log.time.resize(w); log.event.resize(w); log.click.resize(w);
    log.conversion.resize(w); log.value.resize(w); log.split.resize(w);
    log.cat_features.resize(w * fc);
    log.num_features.resize(w * fd);
    mem.user.swap(log.user); mem.item.swap(log.item); mem.time.swap(log.time); mem.event.swap(log.event);
    mem.click.swap(log.click); mem.conversion.swap(log.conversion); mem.value.swap(log.value);
    mem.split.swap(log.split); mem.cat_features.swap(log.cat_features); mem.num_features.swap(log.num_features);
  }

  phase("ids and partitions");
  // Global temporal cuts: exact quantiles of the kept rows' times.
  if (protocol == "temporal_global") {
    if (!spilled) {
      std::vector<int64_t> times = mem.time;
      std::nth_element(times.begin(), times.begin() + k_valid, times.end());
      plan.cut_valid = times[k_valid];
      std::nth_element(times.begin(), times.begin() + k_test, times.end());
      plan.cut_test = times[k_test];
    } else {
      auto scan = [&](auto&& on_time) {
        for (auto& f : part_files) {
          f->ForEachBlock(1 << 16, [&](RowRecords& b) { for (int64_t t : b.time) on_time(t); });
        }
      };
      int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
      scan([&](int64_t t) { lo = std::min(lo, t); hi = std::max(hi, t); });
      const size_t cap = static_cast<size_t>(part_rows);
      plan.cut_valid = SelectKth(k_valid, lo, hi, cap, scan);
      plan.cut_test = SelectKth(k_test, lo, hi, cap, scan);
    }
  }

  // 4. Sort each partition by (user, time, source order) and assign the splits.
  ItemTable items;
  items.num_items = num_items;
  items.popularity.assign(num_items + 1, 0);
  std::vector<char> in_train(num_items + 1, 0);
  auto sort_and_split = [&](RowRecords& rec, int64_t ub, int64_t ue) {
    // Counting sort by user: stable, and rows arrive in source order.
    std::vector<int64_t> start(ue - ub + 1, 0);
    for (int64_t u : rec.user) ++start[u - ub + 1];
    for (size_t j = 1; j < start.size(); ++j) start[j] += start[j - 1];
    std::vector<int64_t> order(rec.size());
    {
      std::vector<int64_t> next(start.begin(), start.end() - 1);
      for (size_t r = 0; r < rec.size(); ++r) order[next[rec.user[r] - ub]++] = static_cast<int64_t>(r);
    }
    for (int64_t u = ub; u < ue; ++u) {
      auto b = order.begin() + start[u - ub], e = order.begin() + start[u - ub + 1];
      auto by_time = [&](int64_t x, int64_t y) { return rec.time[x] < rec.time[y]; };
      if (!std::is_sorted(b, e, by_time)) std::stable_sort(b, e, by_time);
    }
    rec.Permute(order);
    for (int64_t u = ub; u < ue; ++u) {
      const int64_t b = start[u - ub], e = start[u - ub + 1];
      auto* split = reinterpret_cast<uint8_t*>(rec.split.data()) + b;
      if (protocol == "source") {
        for (int64_t r = b; r < e; ++r) rec.split[r] = std::max<int8_t>(0, rec.split[r]);
      } else {
        AssignUserSplits(plan, rec.time.data() + b, rec.click.data() + b, static_cast<size_t>(e - b),
                         Fnv1a64(log.users.key(users_present[u])), split);
      }
      for (int64_t r = b; r < e; ++r) {
        if (rec.split[r] != static_cast<int8_t>(Split::kTrain)) continue;
        in_train[rec.item[r]] = 1;
        items.popularity[rec.item[r]] += rec.click[r];
      }
    }
  };
  if (spilled) {
    RowRecords rec;
    for (size_t p = 0; p < num_parts; ++p) {
      part_files[p]->ReadAll(&rec);
      sort_and_split(rec, part_begin[p], part_begin[p + 1]);
      part_files[p]->Rewrite();
      part_files[p]->AppendAll(rec);
      part_files[p]->FinishWriting();
    }
  } else {
    sort_and_split(mem, 0, num_users);
  }

  phase("sort and split");
  // Item table.
  items.raw_id.reserve(num_items + 1);
  items.raw_id.assign(1, "");
  items.category_offsets.assign(1, 0);
  items.category_offsets.push_back(0);  // item 0 (padding) has none
  for (int64_t k = 0; k < num_items; ++k) {
    const int64_t src = items_sorted[k];
    items.raw_id.emplace_back(log.items.key(src));
    auto it = log.item_categories.find(src);
    if (it != log.item_categories.end()) {
      items.category_values.insert(items.category_values.end(), it->second.begin(), it->second.end());
    }
    items.category_offsets.push_back(static_cast<int64_t>(items.category_values.size()));
  }
  items.num_categories = log.categories.size() + 1;

  // 5. Rows, with sampled negatives placed right after the positive they were drawn for.
  const int train_negatives = o.negatives_per_positive;
  const int eval_negatives = o.eval_negatives_per_positive < 0 ? train_negatives : o.eval_negatives_per_positive;
  const bool sample = log.implicit && (train_negatives > 0 || eval_negatives > 0);
  std::vector<int64_t> pool;
  if (o.negative_pool == "train") {
    for (int64_t i = 1; i <= num_items; ++i) if (in_train[i]) pool.push_back(i);
  }
  if (pool.empty()) {  // catalogue, or no train rows at all
    pool.resize(num_items);
    std::iota(pool.begin(), pool.end(), 1);
  }
  NegativeSampler sampler(std::move(pool), items.popularity, o.negative_sampler == "popularity");
  // Items each user touched outside the rows (dense ids), excluded like the rows' own items.
  std::unordered_map<int64_t, std::vector<int64_t>> touched_only;
  for (const auto& [src_user, src_item] : log.touched_only) {
    if (user_dense[src_user] >= 0) touched_only[user_dense[src_user]].push_back(item_dense[src_item]);
  }
  int64_t short_groups = 0;

  Metadata meta;
  meta.preset = o.dataset;
  meta.source = log.source;
  meta.time_semantics = log.time_semantics;
  meta.created_at = NowIso();
  meta.recprism_version = std::string(Version()) + " (" + GitCommit() + ")";
  meta.params = ParamsText(o, protocol, seed);
  meta.sources = log.sources;
  meta.notes = log.notes;
  meta.cat_feature_names = log.cat_feature_names;
  for (const auto& v : log.cat_feature_vocab) meta.cat_feature_cardinality.push_back(v.size() + 1);
  meta.num_feature_names = log.num_feature_names;
  PreparedWriter writer(output, meta);

  UserTable users;
  users.num_users = num_users;
  users.offsets.reserve(num_users + 1);
  users.offsets.assign(1, 0);
  users.split_rows.assign(num_users * kNumSplits, 0);
  users.raw_id.reserve(num_users);
  Rows out;
  out.num_cat_features = fc;
  out.num_num_features = fd;
  const size_t flush_rows = 1 << 20;
  int64_t written = 0;
  std::vector<int64_t> negs;
  std::unordered_set<int64_t> seen;
  // A user's rows are all in `out`: record its offset and id, and flush a full block.
  auto end_user = [&](std::string_view raw) {
    users.offsets.push_back(written + static_cast<int64_t>(out.size()));
    users.raw_id.emplace_back(raw);
    if (out.size() >= flush_rows) {
      writer.AppendRows(out);
      written += static_cast<int64_t>(out.size());
      out.Clear();
    }
  };
  auto emit = [&](const RowRecords& rec, int64_t ub, int64_t ue) {
    size_t b = 0;
    for (int64_t u = ub; u < ue; ++u) {
      const size_t e = b + static_cast<size_t>(dense_rows[u]);
      const int64_t src_user = users_present[u];
      const std::string_view raw = log.users.key(src_user);
      if (!sample) {  // the rows as they are, column by column
        auto range = [&](auto& dst, const auto& src, size_t width) {
          dst.insert(dst.end(), src.begin() + b * width, src.begin() + e * width);
        };
        out.user.insert(out.user.end(), e - b, u);
        range(out.item, rec.item, 1);
        range(out.time, rec.time, 1);
        range(out.event, rec.event, 1);
        range(out.click, rec.click, 1);
        range(out.conversion, rec.conversion, 1);
        range(out.value, rec.value, 1);
        out.split.insert(out.split.end(), reinterpret_cast<const uint8_t*>(rec.split.data()) + b,
                         reinterpret_cast<const uint8_t*>(rec.split.data()) + e);
        range(out.cat_features, rec.cat_features, static_cast<size_t>(fc));
        range(out.num_features, rec.num_features, static_cast<size_t>(fd));
        for (size_t k = b; k < e; ++k) {
          ++users.split_rows[u * kNumSplits + rec.split[k]];
          report.positives += rec.click[k];
          report.split_clicks[rec.split[k]] += rec.click[k];
        }
        end_user(raw);
        b = e;
        continue;
      }
      seen.clear();
      for (size_t k = b; k < e; ++k) seen.insert(rec.item[k]);
      if (auto it = touched_only.find(u); it != touched_only.end()) seen.insert(it->second.begin(), it->second.end());
      std::mt19937_64 rng(seed * 0x2545f4914f6cdd1dULL ^ Fnv1a64(raw));
      for (size_t k = b; k < e; ++k) {
        const uint8_t split = static_cast<uint8_t>(rec.split[k]);
        out.user.push_back(u);
        out.item.push_back(rec.item[k]);
        out.time.push_back(rec.time[k]);
        out.event.push_back(rec.event[k]);
        out.click.push_back(rec.click[k]);
        out.conversion.push_back(rec.conversion[k]);
        out.value.push_back(rec.value[k]);
        out.split.push_back(split);
        out.cat_features.insert(out.cat_features.end(), rec.cat_features.begin() + k * fc,
                                rec.cat_features.begin() + (k + 1) * fc);
        out.num_features.insert(out.num_features.end(), rec.num_features.begin() + k * fd,
                                rec.num_features.begin() + (k + 1) * fd);
        ++users.split_rows[u * kNumSplits + split];
        report.positives += rec.click[k];
        report.split_clicks[split] += rec.click[k];
        const int want = split == static_cast<uint8_t>(Split::kTrain) ? train_negatives : eval_negatives;
        if (sample && rec.click[k] && want > 0) {
          negs.clear();
          short_groups += sampler.Sample(rng, seen, want, &negs) < want;
          for (int64_t item : negs) {
            out.user.push_back(u);
            out.item.push_back(item);
            out.time.push_back(rec.time[k]);
            out.event.push_back(static_cast<uint8_t>(Event::kSampledNegative));
            out.click.push_back(0);
            out.conversion.push_back(0);
            out.value.push_back(0.0f);
            out.split.push_back(split);
            out.cat_features.insert(out.cat_features.end(), fc, 0);
            out.num_features.insert(out.num_features.end(), fd, 0.0f);
            ++users.split_rows[u * kNumSplits + split];
          }
          report.sampled_negatives += static_cast<int64_t>(negs.size());
        }
      }
      end_user(raw);
      b = e;
    }
  };
  if (spilled) {
    RowRecords rec;
    for (size_t p = 0; p < num_parts; ++p) {
      part_files[p]->ReadAll(&rec);
      emit(rec, part_begin[p], part_begin[p + 1]);
      part_files[p].reset();
    }
  } else {
    emit(mem, 0, num_users);
    mem = RowRecords();
  }
  writer.AppendRows(out);
  written += static_cast<int64_t>(out.size());
  phase("rows and negatives written");

  // User features.
  if (!log.user_feature_names.empty()) {
    users.feature_names = log.user_feature_names;
    for (const auto& vocab : log.user_feature_vocab) users.feature_cardinality.push_back(vocab.size() + 1);
    const size_t w = users.feature_names.size();
    users.features.assign(num_users * w, 0);
    for (int64_t src : users_present) {
      auto it = log.user_features.find(src);
      if (it == log.user_features.end()) continue;
      std::copy(it->second.begin(), it->second.end(), users.features.begin() + user_dense[src] * w);
    }
  }

  // Notes known only now.
  std::vector<std::string> notes;
  if (report.skipped_rows > 0) notes.push_back(fmt::format("{} malformed source rows were skipped", report.skipped_rows));
  if (report.dropped_users > 0) {
    notes.push_back(fmt::format("{} users with fewer than {} positive interactions were dropped", report.dropped_users,
                                o.min_user_interactions));
  }
  if (sample) {
    notes.push_back(fmt::format(
        "sampled negatives: {}, {} over {} items ({}), distinct within a positive's group and never an "
        "item the user touched in any behaviour or split; event = sampled_negative, click = conversion = 0, time and "
        "split of the positive{}",
        train_negatives == eval_negatives
            ? fmt::format("{} per positive", train_negatives)
            : fmt::format("{} per train positive and {} per valid or test positive", train_negatives, eval_negatives),
        o.negative_sampler == "popularity" ? "in proportion to train popularity + 1" : "uniform",
        sampler.pool_size(),
        sampler.pool_size() == static_cast<size_t>(num_items)
            ? "the whole catalogue"
            : fmt::format("those with a train interaction; {} catalogue items without one are never drawn",
                          num_items - static_cast<int64_t>(sampler.pool_size())),
        short_groups > 0 ? fmt::format("; {} positives got fewer (their user touched nearly every item)", short_groups)
                         : ""));
  }
  if (spilled) {
    notes.push_back(fmt::format("prepared out of core: {} source rows spilled to disk and sorted in {} partitions "
                                "(data.memory_budget_mb = {})",
                                total_rows, num_parts, o.memory_budget_mb));
  }
  writer.AddNotes(notes);
  writer.Finish(users, items);
  phase("side tables");
  report.rows = written;
  report.users = num_users;
  report.items = num_items;
  for (int s = 0; s < kNumSplits; ++s) {
    for (int64_t u = 0; u < num_users; ++u) report.split_rows[s] += users.split_rows[u * kNumSplits + s];
  }
  return report;
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

}  // namespace

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
