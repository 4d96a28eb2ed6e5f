// Prepare's pipeline for a parsed log (presets and generic logs), phase by phase (LogPreparer).
#include <algorithm>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "core/check.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/version.h"
#include "data/prepare_steps.h"
#include "data/prepared_file.h"
#include "data/row_spill.h"

namespace recprism::data::prepare_detail {
namespace {

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
// Prepares a parsed log into a prepared file, phase by phase (each phase's cost is logged at
// debug level): users and their dense ids, partitions of consecutive users (files on disk when the
// log spilled), the global temporal cuts, sort and split per partition, the item table, the rows
// with their sampled negatives, then the side tables and notes.
class LogPreparer {
 public:
  LogPreparer(const DataOptions& o, RawLog log, std::string output, uint64_t seed)
      : o_(o), log_(std::move(log)), output_(std::move(output)), seed_(seed) {}
  PrepareReport Run();

 private:
  std::vector<int64_t> SelectUsers(std::vector<int64_t>* user_rows);
  void AssignDenseIds(const std::vector<int64_t>& candidates, const std::vector<int64_t>& user_rows);
  void Partition();
  void TemporalCuts();
  void SortAndSplitPartition(RowRecords& rec, int64_t ub, int64_t ue);
  void SortAndSplit();
  void BuildItemTable();
  void SetUpNegatives();
  void OpenWriter();
  void EndUser(std::string_view raw);
  void EmitUsers(const RowRecords& rec, int64_t ub, int64_t ue);
  void WriteRows();
  void Finish();
  void Phase(const char* name);

  const DataOptions& o_;
  RawLog log_;
  std::string output_;
  uint64_t seed_;
  Clock::time_point phase_start_ = Clock::now();
  PrepareReport report_;
  bool spilled_ = false;
  int64_t total_rows_ = 0;
  int fc_ = 0, fd_ = 0;  // categorical and numeric row features
  // Source ids in prepared order and source -> dense ids (users from 0, items from 1).
  std::vector<int64_t> users_present_, user_dense_, items_sorted_, item_dense_;
  std::vector<int64_t> dense_rows_;  // rows per dense user
  int64_t num_users_ = 0, num_items_ = 0;
  std::string protocol_;
  SplitPlan plan_;
  int64_t k_valid_ = 0, k_test_ = 0;  // global temporal cuts: ranks of the kept rows' times
  // Partitions: consecutive dense-user ranges, on disk when spilled, else the one in memory.
  int64_t part_rows_ = 0;
  std::vector<int64_t> part_begin_;  // first dense user of each partition, then num_users
  size_t num_parts_ = 0;
  std::vector<std::unique_ptr<RecordFile>> part_files_;
  RowRecords mem_;
  ItemTable items_;
  std::vector<char> in_train_;
  int train_negatives_ = 0, eval_negatives_ = 0;
  bool sample_ = false;
  std::unique_ptr<NegativeSampler> sampler_;
  std::unordered_map<int64_t, std::vector<int64_t>> touched_only_;  // per dense user
  int64_t short_groups_ = 0;
  std::unique_ptr<PreparedWriter> writer_;
  UserTable users_;
  Rows out_;
  int64_t written_ = 0;
  static constexpr size_t kFlushRows = size_t{1} << 20;
};

void LogPreparer::Phase(const char* name) {
  const auto now = Clock::now();
  RP_LOG_DEBUG("prepare: {} {:.2f} s", name, std::chrono::duration<double>(now - phase_start_).count());
  phase_start_ = now;
}

// Rows and positives per source user; the users kept (data.min_user_interactions).
std::vector<int64_t> LogPreparer::SelectUsers(std::vector<int64_t>* user_rows) {
  const int64_t num_src_users = log_.users.size();
  std::vector<int64_t> positives(num_src_users, 0);
  user_rows->assign(num_src_users, 0);
  if (spilled_) {
    std::copy(log_.spill->user_rows.begin(), log_.spill->user_rows.end(), user_rows->begin());
    std::copy(log_.spill->user_positives.begin(), log_.spill->user_positives.end(), positives.begin());
  } else {
    for (size_t r = 0; r < log_.size(); ++r) {
      ++(*user_rows)[log_.user[r]];
      positives[log_.user[r]] += log_.click[r];
    }
  }
  std::vector<int64_t> candidates;
  for (int64_t u = 0; u < num_src_users; ++u) {
    if ((*user_rows)[u] == 0) continue;
    if (o_.min_user_interactions > 0 && positives[u] < o_.min_user_interactions) {
      ++report_.dropped_users;
      continue;
    }
    candidates.push_back(u);
  }
  if (o_.min_user_interactions > 0) {
    RP_REQUIRE(!candidates.empty(), StatusCode::kDataError,
               "dataset '{}': no interactions left after filtering: data.min_user_interactions = {} removes all {} "
               "users (the most active has {} positive interactions)",
               o_.dataset, o_.min_user_interactions, num_src_users, *std::max_element(positives.begin(), positives.end()));
  }
  return candidates;
}

// Dense ids in prepared order, the split protocol and its plan.
void LogPreparer::AssignDenseIds(const std::vector<int64_t>& candidates, const std::vector<int64_t>& user_rows) {
  users_present_ = SortedKeys(log_.users, candidates);
  user_dense_.assign(log_.users.size(), -1);
  for (size_t k = 0; k < users_present_.size(); ++k) user_dense_[users_present_[k]] = static_cast<int64_t>(k);
  std::vector<int64_t> all_items(log_.items.size());
  std::iota(all_items.begin(), all_items.end(), 0);
  items_sorted_ = SortedKeys(log_.items, all_items);
  item_dense_.assign(log_.items.size(), 0);
  for (size_t k = 0; k < items_sorted_.size(); ++k) item_dense_[items_sorted_[k]] = static_cast<int64_t>(k) + 1;
  num_users_ = static_cast<int64_t>(users_present_.size());
  num_items_ = static_cast<int64_t>(items_sorted_.size());
  dense_rows_.assign(num_users_, 0);
  int64_t kept_rows = 0;
  for (int64_t u = 0; u < num_users_; ++u) kept_rows += dense_rows_[u] = user_rows[users_present_[u]];

  protocol_ = ResolveProtocol(o_, log_.default_split, log_.has_source_split, log_.time_semantics);
  report_.split_protocol = protocol_;
  plan_.protocol = protocol_;
  plan_.seed = seed_;
  std::copy(o_.split_ratios.begin(), o_.split_ratios.end(), plan_.ratios);
  k_valid_ = std::min(kept_rows - 1, static_cast<int64_t>(plan_.ratios[0] * kept_rows));
  k_test_ = std::min(kept_rows - 1, static_cast<int64_t>((plan_.ratios[0] + plan_.ratios[1]) * kept_rows));
}

// Partitions of consecutive dense users: spilled rows scattered into partition files, or the
// in-memory rows renumbered in place (filtered users dropped, source order kept).
void LogPreparer::Partition() {
  const size_t mem_row_bytes = RecordBytes(fc_, fd_) + 24;  // a loaded row, its sort index and scratch
  part_rows_ =
      spilled_ ? std::max<int64_t>(1, o_.memory_budget_mb * (int64_t{1} << 20) / 2 / static_cast<int64_t>(mem_row_bytes))
              : std::numeric_limits<int64_t>::max();
  part_begin_ = {0};
  for (int64_t u = 0, acc = 0; u < num_users_; ++u) {
    if (acc > 0 && acc + dense_rows_[u] > part_rows_) {
      part_begin_.push_back(u);
      acc = 0;
    }
    acc += dense_rows_[u];
  }
  part_begin_.push_back(num_users_);
  num_parts_ = part_begin_.size() - 1;
  if (spilled_) {
    std::vector<int32_t> part_of(num_users_);
    for (size_t p = 0; p < num_parts_; ++p) {
      std::fill(part_of.begin() + part_begin_[p], part_of.begin() + part_begin_[p + 1], static_cast<int32_t>(p));
    }
    const std::string dir = std::filesystem::path(log_.spill->file().path()).parent_path().string();
    for (size_t p = 0; p < num_parts_; ++p) {
      part_files_.push_back(std::make_unique<RecordFile>(fmt::format("{}/part-{:05d}.rows", dir, p), fc_, fd_));
    }
    log_.spill->file().ForEachBlock(1 << 16, [&](RowRecords& b) {
      for (size_t i = 0; i < b.size(); ++i) {
        const int64_t u = user_dense_[b.user[i]];
        if (u < 0) continue;
        b.user[i] = u;
        b.item[i] = item_dense_[b.item[i]];
        part_files_[part_of[u]]->Append(b, i, b.seq[i]);
      }
    });
    for (auto& f : part_files_) f->FinishWriting();
    log_.spill.reset();  // removes the source spill
  } else {
    // Map ids in place, drop filtered users_' rows, number rows in source order.
    mem_.fc = fc_;
    mem_.fd = fd_;
    size_t w = 0;
    for (size_t r = 0; r < log_.size(); ++r) {
      const int64_t u = user_dense_[log_.user[r]];
      if (u < 0) continue;
      log_.user[w] = u;
      log_.item[w] = item_dense_[log_.item[r]];
      log_.time[w] = log_.time[r];
      log_.event[w] = log_.event[r];
      log_.click[w] = log_.click[r];
      log_.conversion[w] = log_.conversion[r];
      log_.value[w] = log_.value[r];
      log_.split[w] = log_.split[r];
      std::copy_n(log_.cat_features.begin() + r * fc_, fc_, log_.cat_features.begin() + w * fc_);
      std::copy_n(log_.num_features.begin() + r * fd_, fd_, log_.num_features.begin() + w * fd_);
      mem_.seq.push_back(static_cast<int64_t>(r));
      ++w;
    }
    log_.user.resize(w); log_.item.resize(w); log_.time.resize(w); log_.event.resize(w); log_.click.resize(w);
    log_.conversion.resize(w); log_.value.resize(w); log_.split.resize(w);
    log_.cat_features.resize(w * fc_);
    log_.num_features.resize(w * fd_);
    mem_.user.swap(log_.user); mem_.item.swap(log_.item); mem_.time.swap(log_.time); mem_.event.swap(log_.event);
    mem_.click.swap(log_.click); mem_.conversion.swap(log_.conversion); mem_.value.swap(log_.value);
    mem_.split.swap(log_.split); mem_.cat_features.swap(log_.cat_features); mem_.num_features.swap(log_.num_features);
  }
}

// Global temporal cuts: exact quantiles of the kept rows' times.
void LogPreparer::TemporalCuts() {
  if (protocol_ != "temporal_global") return;
  {
    if (!spilled_) {
      std::vector<int64_t> times = mem_.time;
      std::nth_element(times.begin(), times.begin() + k_valid_, times.end());
      plan_.cut_valid = times[k_valid_];
      std::nth_element(times.begin(), times.begin() + k_test_, times.end());
      plan_.cut_test = times[k_test_];
    } else {
      auto scan = [&](auto&& on_time) {
        for (auto& f : part_files_) {
          f->ForEachBlock(1 << 16, [&](RowRecords& b) { for (int64_t t : b.time) on_time(t); });
        }
      };
      int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
      scan([&](int64_t t) { lo = std::min(lo, t); hi = std::max(hi, t); });
      const size_t cap = static_cast<size_t>(part_rows_);
      plan_.cut_valid = SelectKth(k_valid_, lo, hi, cap, scan);
      plan_.cut_test = SelectKth(k_test_, lo, hi, cap, scan);
    }
  }
}

// Sorts a partition by (user, time, source order) and assigns its splits; counts train popularity.
void LogPreparer::SortAndSplitPartition(RowRecords& rec, int64_t ub, int64_t ue) {
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
    if (protocol_ == "source") {
      for (int64_t r = b; r < e; ++r) rec.split[r] = std::max<int8_t>(0, rec.split[r]);
    } else {
      AssignUserSplits(plan_, rec.time.data() + b, rec.click.data() + b, static_cast<size_t>(e - b),
                       Fnv1a64(log_.users.key(users_present_[u])), split);
    }
    for (int64_t r = b; r < e; ++r) {
      if (rec.split[r] != static_cast<int8_t>(Split::kTrain)) continue;
      in_train_[rec.item[r]] = 1;
      items_.popularity[rec.item[r]] += rec.click[r];
    }
  }
}

void LogPreparer::SortAndSplit() {
  items_.num_items = num_items_;
  items_.popularity.assign(num_items_ + 1, 0);
  in_train_.assign(num_items_ + 1, 0);
  if (spilled_) {
    RowRecords rec;
    for (size_t p = 0; p < num_parts_; ++p) {
      part_files_[p]->ReadAll(&rec);
      SortAndSplitPartition(rec, part_begin_[p], part_begin_[p + 1]);
      part_files_[p]->Rewrite();
      part_files_[p]->AppendAll(rec);
      part_files_[p]->FinishWriting();
    }
  } else {
    SortAndSplitPartition(mem_, 0, num_users_);
  }
}

void LogPreparer::BuildItemTable() {
  items_.raw_id.reserve(num_items_ + 1);
  items_.raw_id.assign(1, "");
  items_.category_offsets.assign(1, 0);
  items_.category_offsets.push_back(0);  // item 0 (padding) has none
  for (int64_t k = 0; k < num_items_; ++k) {
    const int64_t src = items_sorted_[k];
    items_.raw_id.emplace_back(log_.items.key(src));
    auto it = log_.item_categories.find(src);
    if (it != log_.item_categories.end()) {
      items_.category_values.insert(items_.category_values.end(), it->second.begin(), it->second.end());
    }
    items_.category_offsets.push_back(static_cast<int64_t>(items_.category_values.size()));
  }
  items_.num_categories = log_.categories.size() + 1;
}

// Negative sampling (implicit logs): the pool, the sampler, the items each user touched outside
// the rows (excluded like the rows' own items).
void LogPreparer::SetUpNegatives() {
  train_negatives_ = o_.negatives_per_positive;
  eval_negatives_ = o_.eval_negatives_per_positive < 0 ? train_negatives_ : o_.eval_negatives_per_positive;
  sample_ = log_.implicit && (train_negatives_ > 0 || eval_negatives_ > 0);
  std::vector<int64_t> pool;
  if (o_.negative_pool == "train") {
    for (int64_t i = 1; i <= num_items_; ++i) if (in_train_[i]) pool.push_back(i);
  }
  if (pool.empty()) {  // catalogue, or no train rows at all
    pool.resize(num_items_);
    std::iota(pool.begin(), pool.end(), 1);
  }
  sampler_ = std::make_unique<NegativeSampler>(std::move(pool), items_.popularity, o_.negative_sampler == "popularity");
  // Items each user touched outside the rows (dense ids), excluded like the rows' own items_.
  for (const auto& [src_user, src_item] : log_.touched_only) {
    if (user_dense_[src_user] >= 0) touched_only_[user_dense_[src_user]].push_back(item_dense_[src_item]);
  }
}

void LogPreparer::OpenWriter() {
  Metadata meta;
  meta.preset = o_.dataset;
  meta.source = log_.source;
  meta.time_semantics = log_.time_semantics;
  meta.created_at = NowIso();
  meta.recprism_version = std::string(Version()) + " (" + GitCommit() + ")";
  meta.params = ParamsText(o_, protocol_, seed_);
  meta.sources = log_.sources;
  meta.notes = log_.notes;
  meta.cat_feature_names = log_.cat_feature_names;
  for (const auto& v : log_.cat_feature_vocab) meta.cat_feature_cardinality.push_back(v.size() + 1);
  meta.num_feature_names = log_.num_feature_names;
  writer_ = std::make_unique<PreparedWriter>(output_, meta);

  users_.num_users = num_users_;
  users_.offsets.reserve(num_users_ + 1);
  users_.offsets.assign(1, 0);
  users_.split_rows.assign(num_users_ * kNumSplits, 0);
  users_.raw_id.reserve(num_users_);
  out_.num_cat_features = fc_;
  out_.num_num_features = fd_;
}

// A user's rows are all in `out`: records its offset and id, and flushes a full block.
void LogPreparer::EndUser(std::string_view raw) {
  users_.offsets.push_back(written_ + static_cast<int64_t>(out_.size()));
  users_.raw_id.emplace_back(raw);
  if (out_.size() >= kFlushRows) {
    writer_->AppendRows(out_);
    written_ += static_cast<int64_t>(out_.size());
    out_.Clear();
  }
}

// The rows of dense users [ub, ue), with sampled negatives placed right after the positive
// they were drawn for.
void LogPreparer::EmitUsers(const RowRecords& rec, int64_t ub, int64_t ue) {
  std::vector<int64_t> negs;
  std::unordered_set<int64_t> seen;
  size_t b = 0;
  for (int64_t u = ub; u < ue; ++u) {
    const size_t e = b + static_cast<size_t>(dense_rows_[u]);
    const int64_t src_user = users_present_[u];
    const std::string_view raw = log_.users.key(src_user);
    if (!sample_) {  // the rows as they are, column by column
      auto range = [&](auto& dst, const auto& src, size_t width) {
        dst.insert(dst.end(), src.begin() + b * width, src.begin() + e * width);
      };
      out_.user.insert(out_.user.end(), e - b, u);
      range(out_.item, rec.item, 1);
      range(out_.time, rec.time, 1);
      range(out_.event, rec.event, 1);
      range(out_.click, rec.click, 1);
      range(out_.conversion, rec.conversion, 1);
      range(out_.value, rec.value, 1);
      out_.split.insert(out_.split.end(), reinterpret_cast<const uint8_t*>(rec.split.data()) + b,
                       reinterpret_cast<const uint8_t*>(rec.split.data()) + e);
      range(out_.cat_features, rec.cat_features, static_cast<size_t>(fc_));
      range(out_.num_features, rec.num_features, static_cast<size_t>(fd_));
      for (size_t k = b; k < e; ++k) {
        ++users_.split_rows[u * kNumSplits + rec.split[k]];
        report_.positives += rec.click[k];
        report_.split_clicks[rec.split[k]] += rec.click[k];
      }
      EndUser(raw);
      b = e;
      continue;
    }
    seen.clear();
    for (size_t k = b; k < e; ++k) seen.insert(rec.item[k]);
    if (auto it = touched_only_.find(u); it != touched_only_.end()) seen.insert(it->second.begin(), it->second.end());
    std::mt19937_64 rng(seed_ * 0x2545f4914f6cdd1dULL ^ Fnv1a64(raw));
    for (size_t k = b; k < e; ++k) {
      const uint8_t split = static_cast<uint8_t>(rec.split[k]);
      out_.user.push_back(u);
      out_.item.push_back(rec.item[k]);
      out_.time.push_back(rec.time[k]);
      out_.event.push_back(rec.event[k]);
      out_.click.push_back(rec.click[k]);
      out_.conversion.push_back(rec.conversion[k]);
      out_.value.push_back(rec.value[k]);
      out_.split.push_back(split);
      out_.cat_features.insert(out_.cat_features.end(), rec.cat_features.begin() + k * fc_,
                              rec.cat_features.begin() + (k + 1) * fc_);
      out_.num_features.insert(out_.num_features.end(), rec.num_features.begin() + k * fd_,
                              rec.num_features.begin() + (k + 1) * fd_);
      ++users_.split_rows[u * kNumSplits + split];
      report_.positives += rec.click[k];
      report_.split_clicks[split] += rec.click[k];
      const int want = split == static_cast<uint8_t>(Split::kTrain) ? train_negatives_ : eval_negatives_;
      if (sample_ && rec.click[k] && want > 0) {
        negs.clear();
        short_groups_ += sampler_->Sample(rng, seen, want, &negs) < want;
        for (int64_t item : negs) {
          out_.user.push_back(u);
          out_.item.push_back(item);
          out_.time.push_back(rec.time[k]);
          out_.event.push_back(static_cast<uint8_t>(Event::kSampledNegative));
          out_.click.push_back(0);
          out_.conversion.push_back(0);
          out_.value.push_back(0.0f);
          out_.split.push_back(split);
          out_.cat_features.insert(out_.cat_features.end(), fc_, 0);
          out_.num_features.insert(out_.num_features.end(), fd_, 0.0f);
          ++users_.split_rows[u * kNumSplits + split];
        }
        report_.sampled_negatives += static_cast<int64_t>(negs.size());
      }
    }
    EndUser(raw);
    b = e;
  }
}

void LogPreparer::WriteRows() {
  if (spilled_) {
    RowRecords rec;
    for (size_t p = 0; p < num_parts_; ++p) {
      part_files_[p]->ReadAll(&rec);
      EmitUsers(rec, part_begin_[p], part_begin_[p + 1]);
      part_files_[p].reset();
    }
  } else {
    EmitUsers(mem_, 0, num_users_);
    mem_ = RowRecords();
  }
  writer_->AppendRows(out_);
  written_ += static_cast<int64_t>(out_.size());
  Phase("rows and negatives written");
}

// User features, the notes known only now, the side tables; the report's counts.
void LogPreparer::Finish() {
  // User features.
  if (!log_.user_feature_names.empty()) {
    users_.feature_names = log_.user_feature_names;
    for (const auto& vocab : log_.user_feature_vocab) users_.feature_cardinality.push_back(vocab.size() + 1);
    const size_t w = users_.feature_names.size();
    users_.features.assign(num_users_ * w, 0);
    for (int64_t src : users_present_) {
      auto it = log_.user_features.find(src);
      if (it == log_.user_features.end()) continue;
      std::copy(it->second.begin(), it->second.end(), users_.features.begin() + user_dense_[src] * w);
    }
  }

  // Notes known only now.
  std::vector<std::string> notes;
  if (report_.skipped_rows > 0) notes.push_back(fmt::format("{} malformed source rows were skipped", report_.skipped_rows));
  if (report_.dropped_users > 0) {
    notes.push_back(fmt::format("{} users with fewer than {} positive interactions were dropped", report_.dropped_users,
                                o_.min_user_interactions));
  }
  if (sample_) {
    notes.push_back(fmt::format(
        "sampled negatives: {}, {} over {} items ({}), distinct within a positive's group and never an "
        "item the user touched in any behaviour or split; event = sampled_negative, click = conversion = 0, time and "
        "split of the positive{}",
        train_negatives_ == eval_negatives_
            ? fmt::format("{} per positive", train_negatives_)
            : fmt::format("{} per train positive and {} per valid or test positive", train_negatives_, eval_negatives_),
        o_.negative_sampler == "popularity" ? "in proportion to train popularity + 1" : "uniform",
        sampler_->pool_size(),
        sampler_->pool_size() == static_cast<size_t>(num_items_)
            ? "the whole catalogue"
            : fmt::format("those with a train interaction; {} catalogue items without one are never drawn",
                          num_items_ - static_cast<int64_t>(sampler_->pool_size())),
        short_groups_ > 0 ? fmt::format("; {} positives got fewer (their user touched nearly every item)", short_groups_)
                         : ""));
  }
  if (spilled_) {
    notes.push_back(fmt::format("prepared out of core: {} source rows spilled to disk and sorted in {} partitions "
                                "(data.memory_budget_mb = {})",
                                total_rows_, num_parts_, o_.memory_budget_mb));
  }
  writer_->AddNotes(notes);
  writer_->Finish(users_, items_);
  Phase("side tables");
  report_.rows = written_;
  report_.users = num_users_;
  report_.items = num_items_;
  for (int s = 0; s < kNumSplits; ++s) {
    for (int64_t u = 0; u < num_users_; ++u) report_.split_rows[s] += users_.split_rows[u * kNumSplits + s];
  }
}

PrepareReport LogPreparer::Run() {
  report_.output = output_;
  report_.skipped_rows = log_.skipped_rows;
  spilled_ = log_.spill && log_.spill->rows() > 0;
  if (spilled_) {
    log_.spill->Take(log_, /*force=*/true);
    log_.spill->file().FinishWriting();
  }
  total_rows_ = log_.total_rows();
  RP_REQUIRE(total_rows_ > 0, StatusCode::kDataError, "dataset '{}': no interactions were read from {}{}", o_.dataset,
             log_.sources.empty() ? "its sources" : log_.sources.front().path,
             log_.skipped_rows > 0 ? fmt::format(" ({} malformed rows were skipped)", log_.skipped_rows) : "");
  fc_ = static_cast<int>(log_.cat_feature_names.size());
  fd_ = static_cast<int>(log_.num_feature_names.size());

  {
    std::vector<int64_t> user_rows;
    const std::vector<int64_t> candidates = SelectUsers(&user_rows);
    AssignDenseIds(candidates, user_rows);
  }
  Partition();
  Phase("ids and partitions");
  TemporalCuts();
  SortAndSplit();
  Phase("sort and split");
  BuildItemTable();
  SetUpNegatives();
  OpenWriter();
  WriteRows();
  Finish();
  return report_;
}

}  // namespace

PrepareReport PrepareFromLog(const DataOptions& o, RawLog log, const std::string& output, uint64_t seed) {
  return LogPreparer(o, std::move(log), output, seed).Run();
}

}  // namespace recprism::data::prepare_detail
