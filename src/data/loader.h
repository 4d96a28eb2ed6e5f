// The user-sharded streaming loader. Each rank reads only its users' rows (contiguous sharding)
// in blocks that fit data.memory_budget_mb, builds samples on the fly on a prefetch thread with a
// bounded queue, and yields batches.
//
// A sample is one target row of the requested split with:
// - history: the user's last L positive behaviours (click = 1) strictly before the target in
//   (time, row) order, restricted to splits <= the target's split (a train sample never sees a
//   valid or test row; a test sample sees train and valid). For a sampled negative, the history
//   is that of the positive it was drawn for (the positive itself excluded). Left-padded with 0.
// - target item, its first category, user features, row features, labels, value, row index.
//
// Every rank runs the same number of steps per epoch: StartEpoch all-reduces the largest local
// batch count, and a rank whose shard runs out yields empty batches (size 0) until then.
// Sample order is shuffled per epoch, seeded by (seed, epoch, rank): block order and samples
// within a block. Thread-safety: one consumer thread; the prefetch thread never calls MPI.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "comm/communicator.h"
#include "data/format.h"
#include "data/options.h"
#include "data/prepared_file.h"
#include "data/shard.h"

namespace recprism::data {

struct Batch {
  int64_t size = 0;  // samples in this batch (0 = padding step on a rank whose shard ran out)
  int seq_len = 0;         // history length (columns of the hist_* arrays)
  std::vector<int64_t> row;              // [size] global row index of the target
  std::vector<int64_t> user;             // [size]
  std::vector<int64_t> target_item;      // [size]
  std::vector<int64_t> target_category;  // [size]
  std::vector<int64_t> hist_item;        // [size x seq_len], 0 = padding (left)
  std::vector<int64_t> hist_category;    // [size x seq_len]
  std::vector<uint8_t> hist_event;       // [size x seq_len]
  std::vector<int64_t> hist_gap;         // [size x seq_len] target time - behaviour time (>= 0)
  std::vector<int64_t> hist_row;         // [size x seq_len] global row index, -1 = padding
  std::vector<int64_t> hist_len;         // [size] real (non-padding) history entries
  std::vector<int64_t> user_features;    // [size x user features]
  std::vector<int64_t> cat_features;     // [size x row categorical features]
  std::vector<float> num_features;       // [size x row numeric features]
  std::vector<uint8_t> click, conversion;  // [size] labels
  std::vector<float> value;              // [size]

  // What a column describes, for code that moves groups of columns (permutation importance).
  enum class Group { kIndex, kTarget, kHistory, kUserFeatures, kRowFeatures, kLabels };
  // The one list of the per-sample columns: fn(column, width, empty, group) for each, in
  // declaration order, where `width` is the column's values per sample (1, seq_len or a feature
  // count given as fu, fc, fd) and `empty` the value of an empty slot (0, or -1 for hist_row).
  template <typename Fn>
  void ForEachColumn(size_t fu, size_t fc, size_t fd, Fn&& fn) {
    Columns(*this, fu, fc, fd, fn);
  }
  template <typename Fn>
  void ForEachColumn(size_t fu, size_t fc, size_t fd, Fn&& fn) const {
    Columns(*this, fu, fc, fd, fn);
  }
  // The same with each column's width taken from its size (size > 0).
  template <typename Fn>
  void ForEachColumn(Fn&& fn) {
    ForEachColumn(PerSample(user_features.size()), PerSample(cat_features.size()), PerSample(num_features.size()), fn);
  }
  template <typename Fn>
  void ForEachColumn(Fn&& fn) const {
    ForEachColumn(PerSample(user_features.size()), PerSample(cat_features.size()), PerSample(num_features.size()), fn);
  }
  // n empty samples of history length seq_len and the given feature counts.
  void Resize(int64_t n, int history_len, size_t fu, size_t fc, size_t fd) {
    size = n;
    seq_len = history_len;
    ForEachColumn(fu, fc, fd, [&](auto& column, size_t width, auto empty, Group) {
      column.assign(static_cast<size_t>(n) * width, empty);
    });
  }
  // Samples [begin, end) as a batch of their own (what one rank of a split global batch sees).
  Batch Slice(int64_t begin, int64_t end) const {
    Batch o;
    o.seq_len = seq_len;
    o.size = end - begin;
    o.ForEachColumnWith(*this, [&](auto& dst, const auto& src, size_t width, Group) {
      const auto w = static_cast<int64_t>(width);
      dst.assign(src.begin() + begin * w, src.begin() + end * w);
    });
    return o;
  }
  // fn(this batch's column, the same column of `other`, other's width, group) for every column;
  // `other` has the same seq_len (this batch may be empty).
  template <typename Fn>
  void ForEachColumnWith(const Batch& other, Fn&& fn) {
    std::vector<const void*> theirs;
    other.ForEachColumn([&](const auto& column, size_t, auto, Group) { theirs.push_back(&column); });
    std::vector<size_t> widths;
    other.ForEachColumn([&](const auto&, size_t width, auto, Group) { widths.push_back(width); });
    size_t k = 0;
    ForEachColumn(0, 0, 0, [&](auto& column, size_t, auto, Group g) {
      fn(column, *static_cast<const std::decay_t<decltype(column)>*>(theirs[k]), widths[k], g);
      ++k;
    });
  }
  // Keeps the first n samples.
  void Truncate(int64_t n) {
    ForEachColumn([&](auto& column, size_t width, auto, Group) { column.resize(static_cast<size_t>(n) * width); });
    size = n;
  }

 private:
  size_t PerSample(size_t values) const { return size > 0 ? values / static_cast<size_t>(size) : 0; }
  template <typename Self, typename Fn>
  static void Columns(Self& b, size_t fu, size_t fc, size_t fd, Fn& fn) {
    const auto len = static_cast<size_t>(b.seq_len);
    fn(b.row, size_t{1}, int64_t{0}, Group::kIndex);
    fn(b.user, size_t{1}, int64_t{0}, Group::kIndex);
    fn(b.target_item, size_t{1}, int64_t{0}, Group::kTarget);
    fn(b.target_category, size_t{1}, int64_t{0}, Group::kTarget);
    fn(b.hist_item, len, int64_t{0}, Group::kHistory);
    fn(b.hist_category, len, int64_t{0}, Group::kHistory);
    fn(b.hist_event, len, uint8_t{0}, Group::kHistory);
    fn(b.hist_gap, len, int64_t{0}, Group::kHistory);
    fn(b.hist_row, len, int64_t{-1}, Group::kHistory);
    fn(b.hist_len, size_t{1}, int64_t{0}, Group::kHistory);
    fn(b.user_features, fu, int64_t{0}, Group::kUserFeatures);
    fn(b.cat_features, fc, int64_t{0}, Group::kRowFeatures);
    fn(b.num_features, fd, 0.0f, Group::kRowFeatures);
    fn(b.click, size_t{1}, uint8_t{0}, Group::kLabels);
    fn(b.conversion, size_t{1}, uint8_t{0}, Group::kLabels);
    fn(b.value, size_t{1}, 0.0f, Group::kLabels);
  }
};

struct LoaderOptions {
  Split split = Split::kTrain;
  int max_seq_len = 50;
  int batch_size = 256;
  bool shuffle = true;
  uint64_t seed = 42;
  int64_t memory_budget_bytes = int64_t{1} << 30;
  int prefetch_batches = 4;
  std::string shard = "contiguous";
  // Only each user's last positive row of the split (click = 1, not a sampled negative): one
  // sample per user whose history is the user's sequence before it (sequence objectives).
  bool last_positive_per_user = false;
  // Only positive rows of the split (click = 1, not a sampled negative): held-out ranking's
  // queries. The step count stays the split's rows per batch (an upper bound; ranks pad with
  // empty batches), so use it where steps cost nothing without data.
  bool positives_only = false;
};

// Loader options from the config's data section (max_seq_len, shard, memory_budget_mb,
// prefetch_batches) plus what the caller decides: split, batch size, seed, shuffling.
LoaderOptions MakeLoaderOptions(const DataOptions& data, Split split, int batch_size, uint64_t seed, bool shuffle);

class ShardLoader {
 public:
  // Opens the prepared file and plans this rank's shard. Collective-free.
  ShardLoader(const std::string& path, Communicator& comm, const LoaderOptions& options);
  ~ShardLoader();
  ShardLoader(const ShardLoader&) = delete;
  ShardLoader& operator=(const ShardLoader&) = delete;

  // Collective: agrees the number of steps of this epoch and starts prefetching. Returns it.
  // The first call also checks that every rank opened the same prepared file (a fingerprint of its
  // creation stamp, source checksums and row count) and throws Error(kDataError) on every rank
  // when they differ.
  int64_t StartEpoch(int epoch);
  // Next batch of the epoch (possibly empty); false once the epoch's steps are done.
  bool Next(Batch* batch);

  int64_t local_samples() const { return local_samples_; }
  int64_t local_rows() const { return local_rows_; }
  const ShardPlan& plan() const { return plan_; }
  const PreparedReader& reader() const { return *reader_; }
  // Rows held at once by this rank's largest block (what the memory budget bounds).
  int64_t max_block_rows() const { return max_block_rows_; }

 private:
  struct Prefetcher;
  void StopPrefetch();

  Communicator& comm_;
  LoaderOptions options_;
  std::unique_ptr<PreparedReader> reader_;
  ShardPlan plan_;
  std::vector<std::pair<int64_t, int64_t>> blocks_;  // user ranges [begin, end) read at once
  int64_t local_samples_ = 0, local_rows_ = 0, max_block_rows_ = 0;
  int64_t steps_ = 0, step_ = 0;
  bool fingerprint_checked_ = false;
  std::unique_ptr<Prefetcher> prefetch_;
};

}  // namespace recprism::data
